import { AbortedError } from '@shardline/core';
import { recordKey, type ProcessorContext, type StreamRecord } from '../processor.js';
import { ReportedFailure } from '../reported-failure.js';
import { interpretBatchResponse } from './batch-response.js';
import { sequenceNumbersOf, type Candidate, type ShardLambdaState, type Unit } from './invocation-unit.js';
import { finishedPrefix, splitIntoLanes } from './parallelization.js';

/**
 * ParallelizationFactor > 1 (parallelization.ts has the rules): the records of one call in lanes
 * by item key, run at once. Each finished invocation moves the checkpoint to the end of the
 * finished prefix of `records`; a failed lane stops at its first unfinished record, the others
 * run on, and the retry starts at the earliest unfinished record (those finished after it are
 * remembered in `shard.done` and left out).
 */

export interface LaneRunnerDeps {
  factor: number;
  reportBatchItemFailures: boolean;
  /** The next invocation of a lane's remaining records (nextUnit with the processor's limits). */
  nextUnit(shard: ShardLambdaState, pending: Candidate[]): Unit | undefined;
  /** One invocation; throws LambdaFunctionError or AbortedError. */
  invoke(unit: Unit, ctx: ProcessorContext): Promise<unknown>;
  /** Marks `records` before `index` done and checkpoints before it. */
  doneBefore(
    records: StreamRecord<unknown>[],
    index: number,
    shard: ShardLambdaState,
    ctx: ProcessorContext,
  ): Promise<void>;
  /** The error a failure after some records of the call were done throws (retry from `retryFrom`). */
  failedFrom(ctx: ProcessorContext, retryFrom: string, message: string, cause: unknown): Error;
}

interface LaneFailure {
  index: number;
  error: unknown;
  /** The function itself threw (not a response Lambda's rules refuse). */
  raw: boolean;
}

export async function runLanes(
  records: StreamRecord<unknown>[],
  pending: Candidate[],
  shard: ShardLambdaState,
  ctx: ProcessorContext,
  deps: LaneRunnerDeps,
): Promise<void> {
  const unfinished = new Set(pending.map((c) => c.index));
  const failures: LaneFailure[] = [];
  let checkpointed = 0;
  const advance = async () => {
    const prefix = finishedPrefix(records.length, (i) => !unfinished.has(i));
    // A stopping shard writes no more checkpoints from here; the runtime's own final one stands.
    if (prefix <= checkpointed || ctx.signal.aborted) return;
    checkpointed = prefix;
    await ctx.checkpointer.checkpoint(records[prefix - 1]!.sequenceNumber);
  };
  const lane = async (candidates: Candidate[]) => {
    let rest = candidates;
    for (let unit = deps.nextUnit(shard, rest); unit; unit = deps.nextUnit(shard, rest)) {
      const first = unit.candidates[0]!;
      let response: unknown;
      try {
        response = await deps.invoke(unit, ctx);
      } catch (error) {
        failures.push({ index: first.index, error, raw: true });
        return;
      }
      const outcome = interpretBatchResponse(sequenceNumbersOf(unit), response, deps.reportBatchItemFailures);
      if (outcome.kind === 'failed') {
        failures.push({ index: first.index, error: new Error(outcome.reason), raw: false });
        return;
      }
      const done = outcome.kind === 'partial' ? outcome.retryIndex : unit.candidates.length;
      for (const c of unit.candidates.slice(0, done)) {
        unfinished.delete(c.index);
        shard.done.add(c.record.sequenceNumber);
      }
      if (outcome.kind === 'partial') {
        const failed = unit.candidates[done]!;
        const error = new ReportedFailure(ctx.shardId, failed.record.sequenceNumber, outcome.reported);
        failures.push({ index: failed.index, error, raw: false });
        return;
      }
      rest = rest.slice(unit.candidates.length);
      await advance();
    }
  };
  await Promise.all(splitIntoLanes(pending, (c) => recordKey(c.record), deps.factor).map(lane));
  const aborted = failures.find((f) => f.error instanceof AbortedError);
  if (aborted) throw aborted.error;
  const earliest = failures.sort((a, b) => a.index - b.index)[0];
  if (!earliest) return;
  // Every record before the earliest failure is finished (each lane stopped at its own first).
  await deps.doneBefore(records, earliest.index, shard, ctx);
  if (earliest.index === 0 && earliest.raw) throw earliest.error;
  if (earliest.error instanceof ReportedFailure) {
    // Every lane's report in one: the retry starts at the earliest reported record.
    const reported = failures.reduce(
      (n, f) => n + (f.error instanceof ReportedFailure ? f.error.reportedRecords : 0),
      0,
    );
    throw new ReportedFailure(ctx.shardId, earliest.error.retryFrom, reported);
  }
  const retryFrom = records[earliest.index]!.sequenceNumber;
  throw deps.failedFrom(ctx, retryFrom, (earliest.error as Error).message, earliest.error);
}
