import { AbortedError, ProcessorError, systemClock, type Clock } from '@shardline/core';
import { MAX_PROCESSOR_STATE_BYTES, shardRef } from '@shardline/leases';
import { type Checkpointer, type ProcessorContext, type RecordProcessor, type StreamRecord } from '../processor.js';
import { tableNameFromStreamArn } from '../options.js';
import { ReportedFailure } from '../reported-failure.js';
import { interpretBatchResponse } from './batch-response.js';
import {
  invokeHandler,
  LambdaFunctionError,
  resolveLambdaFunction,
  type LambdaFunctionOptions,
  type LambdaHandler,
  type ResolvedLambdaFunction,
} from './context.js';
import { LAMBDA_PAYLOAD_LIMIT_BYTES, toLambdaRecord, type LambdaDynamoDBStreamEvent } from './event.js';
import { InvocationLedger } from './failure-record.js';
import { compileFilterCriteria, type FilterCriteria, type RecordFilter } from './filter.js';
import type { LambdaMappingOptions } from './mapping.js';
import {
  eventFor,
  nextUnit as nextUnitOf,
  sequenceNumbersOf,
  type Candidate,
  type LambdaDynamoDBTimeWindowEvent,
  type ShardLambdaState,
  type Unit,
} from './invocation-unit.js';
import { runLanes, type LaneRunnerDeps } from './lane-runner.js';
import { checkParallelizationFactor, lanesWithWindowRefusal } from './parallelization.js';
import { MAX_WINDOW_STATE_BYTES, TumblingWindowMachine, type WindowSnapshot } from './tumbling-window.js';

export type { LambdaDynamoDBTimeWindowEvent } from './invocation-unit.js';

/**
 * `lambdaProcessor(handler, options)`: a DynamoDB Streams Lambda handler as a shardline
 * RecordProcessor, for what fits the processor contract today:
 *
 * - each batch becomes Lambda's event (event.ts) after `FilterCriteria` (filter.ts); records
 *   filtered out count as processed and are checkpointed past with the rest;
 * - one invocation per ≤ 6 MB of records, with a fresh context (context.ts);
 * - a thrown error, a rejection, `callback(error)`, a timeout, or (with ReportBatchItemFailures)
 *   an invalid response fails the invocation; a partial batch response checkpoints before the
 *   lowest reported record (batch-response.ts). Either way processRecords throws, and the
 *   worker's failure policy retries: the retry invokes the function from the failed record on,
 *   as Lambda does, because records already done are remembered and left out;
 * - tumbling windows (tumbling-window.ts), with the window closed by a record of a later window,
 *   by the shard's end, or by the clock passing its end while the shard is idle (`idle`). The
 *   open window is checkpointed with every position (the lease item's processorState), so the
 *   next owner after a hand-off or a crash resumes it with the state matching the checkpoint.
 *   A lease item holds less than Lambda's 1 MB of state: a state whose snapshot would not fit
 *   (WINDOW_STATE_STORABLE_BYTES) ends the window early, as Lambda does above 1 MB.
 *
 * What needs the runtime (second wave): see README.md in this folder.
 */

export interface LambdaProcessorOptions {
  /** How the function appears in its context. */
  function?: LambdaFunctionOptions;
  /** `FunctionResponseTypes: ["ReportBatchItemFailures"]`. @defaultValue false */
  reportBatchItemFailures?: boolean;
  /** Validated when the processor is created. @defaultValue no filter */
  filterCriteria?: FilterCriteria | undefined;
  /**
   * `ParallelizationFactor`: lanes by item-key hash within a shard, invoked at once, order kept
   * per key (parallelization.ts). Not with a tumbling window (not built). @defaultValue 1
   */
  parallelizationFactor?: number;
  /** `TumblingWindowInSeconds` in ms. @defaultValue 0 (no window) */
  tumblingWindowMs?: number;
  /** @defaultValue LAMBDA_PAYLOAD_LIMIT_BYTES (6 MB) */
  payloadLimitBytes?: number;
  /** @defaultValue systemClock */
  clock?: Clock;
  /** @defaultValue crypto.randomUUID */
  requestId?: () => string;
  /** Shared with a LambdaFailureDestination so the on-failure record names the last invocation. */
  ledger?: InvocationLedger;
}

/** Room in the lease item's processorState for the window's state (its snapshot's envelope aside). */
export const WINDOW_STATE_STORABLE_BYTES = Math.min(MAX_WINDOW_STATE_BYTES, MAX_PROCESSOR_STATE_BYTES - 4096);

/** The processorState this processor writes with its checkpoints. */
interface StoredLambdaState {
  tumblingWindow: WindowSnapshot;
}

/** The parts of a parsed event source mapping this processor honours itself. */
export function lambdaProcessorOptionsFromMapping(
  mapping: LambdaMappingOptions,
): Pick<
  LambdaProcessorOptions,
  'reportBatchItemFailures' | 'filterCriteria' | 'tumblingWindowMs' | 'parallelizationFactor'
> {
  return {
    parallelizationFactor: mapping.parallelizationFactor,
    reportBatchItemFailures: mapping.reportBatchItemFailures,
    filterCriteria: mapping.filterCriteria,
    tumblingWindowMs: mapping.tumblingWindowMs,
  };
}

/** The invocation (or its response) failed: the worker's failure policy retries the batch. */
export class LambdaInvocationFailedError extends ProcessorError {
  /** The first record the retry must invoke the function with. */
  readonly retryFrom: string;
  constructor(shardId: string, retryFrom: string, message: string, options: { cause?: unknown } = {}) {
    super(shardId, message, { ...options, retryable: true });
    this.retryFrom = retryFrom;
  }
}

export function lambdaProcessor<E extends LambdaDynamoDBStreamEvent = LambdaDynamoDBStreamEvent>(
  // The handler's event parameter may be typed narrower (DynamoDBStreamEvent, a window event).
  handler: LambdaHandler<E>,
  options: LambdaProcessorOptions = {},
): RecordProcessor<unknown> {
  const filter: RecordFilter = compileFilterCriteria(options.filterCriteria);
  // Checked now, so a bad timeout fails at start-up; the ARN-derived defaults come per stream.
  resolveLambdaFunction(options.function ?? {}, '');
  const clock = options.clock ?? systemClock;
  const reportFailures = options.reportBatchItemFailures ?? false;
  const limit = options.payloadLimitBytes ?? LAMBDA_PAYLOAD_LIMIT_BYTES;
  const windowMs = options.tumblingWindowMs ?? 0;
  const factor = checkParallelizationFactor(options.parallelizationFactor ?? 1);
  if (factor > 1 && windowMs > 0) throw new RangeError(lanesWithWindowRefusal(factor));
  const ledger = options.ledger ?? new InvocationLedger();
  // By stream and shard: an application may consume several streams, whose shard ids can repeat.
  const shards = new Map<string, ShardLambdaState>();
  const fns = new Map<string, ResolvedLambdaFunction>();
  const call = handler as unknown as LambdaHandler<LambdaDynamoDBStreamEvent | LambdaDynamoDBTimeWindowEvent>;

  const stateOf = (streamArn: string, shardId: string): ShardLambdaState => {
    let state = shards.get(shardRef(streamArn, shardId));
    if (!state) {
      state = {
        done: new Set(),
        window:
          windowMs > 0
            ? new TumblingWindowMachine<Candidate>({
                sizeMs: windowMs,
                createdAt: (c) => createdAtMs(c.record),
                maxStateBytes: WINDOW_STATE_STORABLE_BYTES,
              })
            : undefined,
      };
      shards.set(shardRef(streamArn, shardId), state);
    }
    return state;
  };
  const fnFor = (streamArn: string): ResolvedLambdaFunction => {
    let fn = fns.get(streamArn);
    if (!fn) fns.set(streamArn, (fn = resolveLambdaFunction(options.function ?? {}, streamArn)));
    return fn;
  };

  /** Invokes once; returns the response, or throws LambdaFunctionError / AbortedError. */
  const invoke = async (event: LambdaDynamoDBStreamEvent, ctx: ProcessorContext): Promise<unknown> => {
    try {
      const { requestId, response } = await invokeHandler(call, event, {
        fn: fnFor(ctx.streamArn),
        clock,
        shardId: ctx.shardId,
        signal: ctx.signal,
        requestId: options.requestId,
      });
      ledger.record(ctx, requestId, undefined);
      return response;
    } catch (err) {
      if (err instanceof LambdaFunctionError) ledger.record(ctx, err.requestId, err.functionError);
      throw err;
    }
  };

  /** A checkpoint at `sequenceNumber` (default: the call's last record), with the open window. */
  const checkpoint = (shard: ShardLambdaState, checkpointer: Checkpointer, sequenceNumber?: string) =>
    checkpointer.checkpoint(
      sequenceNumber,
      shard.window
        ? { state: JSON.stringify({ tumblingWindow: shard.window.snapshot() } satisfies StoredLambdaState) }
        : {},
    );

  /** Everything before `candidate` in the call's records is done: remember it and checkpoint it. */
  const doneBefore = async (
    records: StreamRecord<unknown>[],
    index: number,
    shard: ShardLambdaState,
    ctx: ProcessorContext,
  ): Promise<void> => {
    for (let i = 0; i < index; i++) shard.done.add(records[i]!.sequenceNumber);
    const previous = records[index - 1];
    if (previous) await checkpoint(shard, ctx.checkpointer, previous.sequenceNumber);
  };

  const nextUnit = (shard: ShardLambdaState, pending: Candidate[], shardEnded: boolean): Unit | undefined =>
    nextUnitOf(shard, pending, shardEnded, { limitBytes: limit, clock });

  /** Runs every invocation `pending` needs; `records` are the whole call's, in order. */
  const run = async (
    records: StreamRecord<unknown>[],
    pending: Candidate[],
    shard: ShardLambdaState,
    ctx: ProcessorContext,
    shardEnded: boolean,
  ): Promise<void> => {
    let rest = pending;
    for (let unit = nextUnit(shard, rest, shardEnded); unit; unit = nextUnit(shard, rest, shardEnded)) {
      const first = unit.candidates[0];
      let response: unknown;
      try {
        response = await invoke(eventFor(unit, ctx), ctx);
      } catch (err) {
        // A stopping shard writes no more checkpoints from here; the runtime's own final one stands.
        if (!first || err instanceof AbortedError) throw err;
        await doneBefore(records, first.index, shard, ctx);
        // Earlier invocations of this call succeeded: the failure policy retries (and gives up) from here on.
        if (first.index > 0)
          throw new LambdaInvocationFailedError(ctx.shardId, first.record.sequenceNumber, (err as Error).message, {
            cause: err,
          });
        throw err;
      }
      const outcome = interpretBatchResponse(sequenceNumbersOf(unit), response, reportFailures);
      if (outcome.kind === 'failed') {
        if (first) await doneBefore(records, first.index, shard, ctx);
        throw new LambdaInvocationFailedError(ctx.shardId, first?.record.sequenceNumber ?? '', outcome.reason);
      }
      if (unit.window) {
        const applied = shard.window!.complete(unit.window, response);
        if (!applied.ok) {
          if (first) await doneBefore(records, first.index, shard, ctx);
          throw new LambdaInvocationFailedError(ctx.shardId, first?.record.sequenceNumber ?? '', applied.reason);
        }
      }
      if (outcome.kind === 'partial') {
        const failed = unit.candidates[outcome.retryIndex]!;
        await doneBefore(records, failed.index, shard, ctx);
        throw new ReportedFailure(ctx.shardId, failed.record.sequenceNumber, outcome.reported);
      }
      rest = rest.slice(unit.candidates.length);
      const last = unit.candidates.at(-1);
      if (last) for (let i = 0; i <= last.index; i++) shard.done.add(records[i]!.sequenceNumber);
    }
  };

  const lanes: LaneRunnerDeps = {
    factor,
    reportBatchItemFailures: reportFailures,
    nextUnit: (shard, pending) => nextUnit(shard, pending, false),
    invoke: (unit, ctx) => invoke(eventFor(unit, ctx), ctx),
    doneBefore,
    failedFrom: (ctx, retryFrom, message, cause) =>
      new LambdaInvocationFailedError(ctx.shardId, retryFrom, message, { cause }),
  };

  return {
    initialize({ shardId, streamArn, processorState, logger }) {
      shards.delete(shardRef(streamArn, shardId));
      const shard = stateOf(streamArn, shardId);
      if (!shard.window || processorState === undefined) return;
      let stored: Partial<StoredLambdaState> | undefined;
      try {
        stored = JSON.parse(processorState) as Partial<StoredLambdaState>;
      } catch (err) {
        stored = undefined;
        logger.warn({ err, shardId }, 'stored processor state is not JSON; the window starts afresh');
      }
      // A state written by another processor (or none) leaves the window fresh, as Lambda's would be.
      if (stored?.tumblingWindow) shard.window.restore(stored.tumblingWindow);
    },

    async processRecords(batch, ctx) {
      const shard = stateOf(ctx.streamArn, ctx.shardId);
      const records = batch.records;
      const pending: Candidate[] = [];
      records.forEach((record, index) => {
        if (shard.done.has(record.sequenceNumber)) return;
        const lambda = toLambdaRecord(record, ctx.streamArn);
        if (filter.matches(lambda)) pending.push({ index, record, lambda });
      });
      if (factor > 1) await runLanes(records, pending, shard, ctx, lanes);
      else await run(records, pending, shard, ctx, false);
      for (const record of records) shard.done.delete(record.sequenceNumber);
      // The runtime's own checkpoint at this position carries no state: write the window's first.
      if (shard.window) await checkpoint(shard, ctx.checkpointer);
    },

    async idle({ shardId, streamArn, logger, signal, checkpointer }) {
      const shard = shards.get(shardRef(streamArn, shardId));
      if (!shard?.window?.isOpen) return;
      const tableName = tableNameFromStreamArn(streamArn) ?? streamArn;
      const ctx: ProcessorContext = {
        shardId,
        streamArn,
        tableName,
        logger,
        signal,
        millisBehindLatest: 0,
        checkpointer,
      };
      const before = JSON.stringify(shard.window.snapshot());
      try {
        // Closes the window when the clock passed its end (a final invocation), else does nothing.
        await run([], [], shard, ctx, false);
      } catch (err) {
        if (err instanceof AbortedError) throw err;
        // Lambda suspends the shard until the final invocation succeeds: the next read tries again.
        logger.warn({ err, shardId }, 'final invocation of the tumbling window failed; retried on the next read');
        return;
      }
      if (JSON.stringify(shard.window.snapshot()) !== before) await checkpoint(shard, checkpointer);
    },

    async shardEnded({ shardId, streamArn, logger }) {
      const shard = shards.get(shardRef(streamArn, shardId));
      if (shard?.window?.isOpen) {
        // The closed shard ends its window: the final invocation must succeed before SHARD_END.
        const ctx: ProcessorContext = {
          shardId,
          streamArn,
          tableName: tableNameFromStreamArn(streamArn) ?? streamArn,
          logger,
          signal: new AbortController().signal,
          millisBehindLatest: 0,
          checkpointer: { checkpoint: () => Promise.resolve(), lastCheckpoint: '' },
        };
        await run([], [], shard, ctx, true);
      }
      shards.delete(shardRef(streamArn, shardId));
    },

    leaseLost({ shardId, streamArn }) {
      shards.delete(shardRef(streamArn, shardId));
    },

    shutdownRequested({ shardId, streamArn }) {
      shards.delete(shardRef(streamArn, shardId));
    },
  };
}

function createdAtMs(record: StreamRecord<unknown>): number {
  const created = record.dynamodb?.ApproximateCreationDateTime;
  return created === undefined ? 0 : new Date(created).getTime();
}
