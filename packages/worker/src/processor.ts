import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import type { Logger } from '@shardline/core';

/**
 * The record-processor contract. A processor is a plain object (`defineProcessor({...})`) shared
 * by every shard of the worker, or a factory that returns one processor per shard (KCL's
 * `ShardRecordProcessorFactory`), for processors that keep per-shard state.
 */

/**
 * A stream record as GetRecords returns it, with its keys and images unmarshalled. The worker
 * delivers a `DeliveredRecord` (stream-record.ts): `keys`, `newItem` and `oldItem` are getters on
 * its prototype that unmarshall on first access, so a processor pays only for the images it
 * reads. `JSON.stringify` and pino see every field; `{ ...record }`, `Object.keys`,
 * `structuredClone` and `toEqual` see the GetRecords fields and `sequenceNumber` only.
 */
export type StreamRecord<T = Record<string, unknown>> = _Record & {
  /** `dynamodb.NewImage` unmarshalled; absent for REMOVE and for KEYS_ONLY / OLD_IMAGE streams. */
  newItem?: T | undefined;
  /** `dynamodb.OldImage` unmarshalled; absent for INSERT and for KEYS_ONLY / NEW_IMAGE streams. */
  oldItem?: T | undefined;
  /** `dynamodb.Keys` unmarshalled. */
  keys: Record<string, unknown>;
  /** `dynamodb.SequenceNumber`, hoisted: always present on records delivered by shardline. */
  sequenceNumber: string;
};

export interface ProcessorBatch<T = Record<string, unknown>> {
  shardId: string;
  /** In sequence order. Never empty. */
  records: StreamRecord<T>[];
  millisBehindLatest: number;
}

export interface Checkpointer {
  /**
   * Records that every record up to `sequenceNumber` is done with. Default, and upper bound (a
   * position past it is refused with a RangeError): in `processRecords`, the last record of that
   * call (a bisected half, a key group); elsewhere, the last record completed. Monotonic: an
   * earlier or equal position is a no-op. A malformed one is refused with a TypeError.
   * While the lease table cannot be written the promise stays pending (retried with backoff, no
   * attempt budget) and resolves once written; it rejects with LeaseLostError when this worker no
   * longer owns the shard (it fenced itself after `leaseDurationMs` without a heartbeat, or
   * another worker took the lease), with AbortedError when the worker's shutdown ran out of time.
   */
  checkpoint(sequenceNumber?: string, options?: CheckpointOptions): Promise<void>;
  /** The last checkpoint written (a sequence number or a sentinel). */
  readonly lastCheckpoint: string;
}

export interface CheckpointOptions {
  /**
   * The processor's state as of this checkpoint, stored with it in the lease item (at most
   * 380 KB of UTF-8, a DynamoDB item's 400 KB less the lease's own attributes) and given to the
   * next owner's `initialize` as `processorState`. A checkpoint written without it removes the
   * stored state, so a state never stands beside a later checkpoint. With a state, a checkpoint
   * at the current position is written too (the state changed, the position did not); with
   * nothing delivered yet it goes at the checkpoint the shard started from. Not with
   * `keyConcurrency` above 1 (the runtime may hold the position back, the state would not match).
   */
  state?: string;
}

export interface ProcessorContext {
  shardId: string;
  /** The stream this batch is from (an application may consume several). */
  streamArn: string;
  /** The table of that stream. */
  tableName: string;
  /** A pino child scoped by `{ component: 'processor', workerId, shardId }`. */
  logger: Logger;
  /** Aborted when the lease is lost, the worker's shutdown runs out of time, or this attempt timed out (`processorTimeoutMs`): stop long work early. */
  signal: AbortSignal;
  millisBehindLatest: number;
  checkpointer: Checkpointer;
}

export interface InitializeInput {
  shardId: string;
  streamArn: string;
  /** Where reading starts: a sequence number (exclusive) or TRIM_HORIZON / LATEST. */
  checkpoint: string;
  /** The state a previous owner wrote with `checkpoint` (CheckpointOptions.state), if any. */
  processorState?: string | undefined;
  logger: Logger;
}

/** The shard is caught up: a read returned no records (a chance to act on time, not on records). */
export interface IdleInput {
  shardId: string;
  streamArn: string;
  logger: Logger;
  /** Aborted when the lease is lost or the worker stops. */
  signal: AbortSignal;
  /** Bounded by the last record delivered, as everywhere. */
  checkpointer: Checkpointer;
}

export interface ShardEndedInput {
  shardId: string;
  streamArn: string;
  logger: Logger;
}

export interface LeaseLostInput {
  shardId: string;
  streamArn: string;
  logger: Logger;
  reason: string;
}

export interface ShutdownRequestedInput {
  shardId: string;
  streamArn: string;
  logger: Logger;
  /** Still usable: checkpoint what is done (in auto mode the runtime has already done so). */
  checkpointer: Checkpointer;
}

export interface RecordProcessor<T = Record<string, unknown>> {
  /** Once per shard, before the first batch. A throw stops the shard (and is retried on re-acquire). */
  initialize?(input: InitializeInput): Promise<void> | void;
  /** Handles one batch. Throwing triggers the failure policy; resolving completes the batch. */
  processRecords(batch: ProcessorBatch<T>, ctx: ProcessorContext): Promise<void> | void;
  /**
   * A read of this shard returned no records and every record delivered was processed (called
   * after each empty read, between batches, never during one). A throw stops the shard, which
   * is restarted from its checkpoint.
   */
  idle?(input: IdleInput): Promise<void> | void;
  /**
   * The shard is closed and every record of it was processed. The runtime writes the
   * SHARD_END checkpoint after this resolves: it cannot be forgotten.
   */
  shardEnded?(input: ShardEndedInput): Promise<void> | void;
  /** The lease was taken by another worker: checkpoints would fail now. Clean up only. */
  leaseLost?(input: LeaseLostInput): Promise<void> | void;
  /** The worker is shutting down or handing the shard off; a last chance to checkpoint. */
  shutdownRequested?(input: ShutdownRequestedInput): Promise<void> | void;
}

export type ProcessorFactory<T = Record<string, unknown>> = (shard: {
  shardId: string;
  streamArn: string;
  /** The stream's table. */
  tableName: string;
}) => RecordProcessor<T> | Promise<RecordProcessor<T>>;

/** Identity with types: `export default defineProcessor<Order>({ async processRecords(batch) {…} })`. */
export function defineProcessor<T = Record<string, unknown>>(processor: RecordProcessor<T>): RecordProcessor<T> {
  if (!isRecordProcessor(processor))
    throw new TypeError('defineProcessor needs an object with a processRecords function');
  return processor;
}

export function isRecordProcessor(value: unknown): value is RecordProcessor<never> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { processRecords?: unknown }).processRecords === 'function'
  );
}

/** Turns a processor or a factory into a factory, checking what the factory returns. */
export function toProcessorFactory<T>(source: RecordProcessor<T> | ProcessorFactory<T>): ProcessorFactory<T> {
  if (isRecordProcessor(source)) return () => source;
  if (typeof source === 'function') {
    return async (shard) => {
      const made: unknown = await source(shard);
      if (!isRecordProcessor(made))
        throw new TypeError(
          `the processor factory returned ${typeof made} for ${shard.shardId}, not an object with processRecords`,
        );
      return made;
    };
  }
  throw new TypeError('processor must be an object with a processRecords function, or a factory returning one');
}

/** A stable string for a record's item key (for per-key ordering). */
export function recordKey(record: _Record): string {
  const keys = record.dynamodb?.Keys ?? {};
  return JSON.stringify(
    Object.keys(keys)
      .sort()
      .map((name) => [name, keys[name]]),
  );
}
