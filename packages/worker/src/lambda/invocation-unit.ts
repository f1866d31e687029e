import type { Clock } from '@shardline/core';
import type { ProcessorContext, StreamRecord } from '../processor.js';
import { splitByPayload, type LambdaDynamoDBRecord, type LambdaDynamoDBStreamEvent } from './event.js';
import { windowField, type TumblingWindowMachine, type WindowInvocation, type WindowState } from './tumbling-window.js';

/**
 * What one invocation of the function is made of, shared by the sequential runner
 * (lambda-processor.ts) and the lane runner (lane-runner.ts): the records that passed the
 * filter, the next ≤ 6 MB (and, with a tumbling window, one window's) slice of them, and the
 * event that slice becomes.
 */

/** The event of a tumbling-window invocation: Lambda's event plus the window fields. */
export interface LambdaDynamoDBTimeWindowEvent extends LambdaDynamoDBStreamEvent {
  window: { start: string; end: string };
  state: WindowState;
  shardId: string;
  eventSourceARN: string;
  isFinalInvokeForWindow: boolean;
  isWindowTerminatedEarly: boolean;
}

/** A record that passed the filter, with its Lambda form and its place in the call's records. */
export interface Candidate {
  index: number;
  record: StreamRecord<unknown>;
  lambda: LambdaDynamoDBRecord;
}

export interface Unit {
  candidates: Candidate[];
  window?: WindowInvocation<Candidate> | undefined;
}

export interface ShardLambdaState {
  /** Records done in a batch that failed later on: left out when that batch is retried. */
  done: Set<string>;
  window: TumblingWindowMachine<Candidate> | undefined;
}

/** The next invocation `pending` needs (its leading ≤ `limitBytes` slice), or none. */
export function nextUnit(
  shard: ShardLambdaState,
  pending: Candidate[],
  shardEnded: boolean,
  { limitBytes, clock }: { limitBytes: number; clock: Clock },
): Unit | undefined {
  const fitting =
    pending.length > 0
      ? splitByPayload(
          pending.map((c) => c.lambda),
          limitBytes,
        )[0]!.length
      : 0;
  if (!shard.window) return fitting > 0 ? { candidates: pending.slice(0, fitting) } : undefined;
  const next = shard.window.next(pending.slice(0, fitting), clock.now(), shardEnded);
  if (!next) return undefined;
  return { candidates: next.invocation.records, window: next.invocation };
}

export function eventFor(
  unit: Unit,
  ctx: Pick<ProcessorContext, 'shardId' | 'streamArn'>,
): LambdaDynamoDBStreamEvent | LambdaDynamoDBTimeWindowEvent {
  const Records = unit.candidates.map((c) => c.lambda);
  if (!unit.window) return { Records };
  return {
    Records,
    window: windowField(unit.window.window),
    state: unit.window.state,
    shardId: ctx.shardId,
    eventSourceARN: ctx.streamArn,
    isFinalInvokeForWindow: unit.window.isFinalInvokeForWindow,
    isWindowTerminatedEarly: unit.window.isWindowTerminatedEarly,
  };
}

/** The sequence numbers `interpretBatchResponse` checks a partial batch response against. */
export function sequenceNumbersOf(unit: Unit): string[] {
  return unit.candidates.map((c) => c.lambda.dynamodb?.SequenceNumber ?? '');
}
