import { AbortedError, ProcessorError, fullJitterDelay, toError, type Clock, type Logger } from '@shardline/core';
import type { FailedRecord, FailureDestination } from './destinations.js';
import type { StreamRecord } from './processor.js';

/**
 * What happens when `processRecords` throws or hangs (Lambda's event-source mapping settings,
 * in one place): retry with backoff, optionally bisect the batch to isolate the bad record,
 * then either send the records to a destination and move on, or stop the shard and alert.
 * Nothing is ever skipped silently: a record leaves the shard either processed, stored in the
 * destination, or not at all (the shard stops before it).
 */
export interface ResolvedFailurePolicy {
  maxRetries: number;
  retryBaseMs: number;
  retryCapMs: number;
  bisectOnError: boolean;
  onFailure: 'destination' | 'stop';
  destination: FailureDestination | undefined;
  maxRecordAgeMs: number | undefined;
  processorTimeoutMs: number;
}

export type BatchOutcome =
  | { status: 'processed'; sentToDestination: number }
  /** The shard must stop; records up to `processedThrough` (if any) are done. */
  | { status: 'stopped'; error: Error; processedThrough: string | undefined };

export interface ProcessorErrorInfo {
  error: Error;
  attempt: number;
  willRetry: boolean;
  firstSequenceNumber: string;
  lastSequenceNumber: string;
  records: number;
}

export interface BatchExecutorOptions {
  shardId: string;
  streamArn: string;
  workerId: string;
  policy: ResolvedFailurePolicy;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  onProcessorError?: (info: ProcessorErrorInfo) => void;
  onRecordsFailed?: (info: { records: FailedRecord[]; destination: string }) => void;
  onShardFailed?: (info: { error: Error; sequenceNumber: string }) => void;
}

/** `signal`: the attempt's (the shard's signal, also aborted when this attempt timed out). */
type Call<T> = (records: StreamRecord<T>[], signal: AbortSignal) => Promise<void>;

/** Runs a batch (or a sub-batch of one key) through the processor under the failure policy. */
export class BatchExecutor<T> {
  readonly #o: BatchExecutorOptions;

  constructor(options: BatchExecutorOptions) {
    this.#o = options;
  }

  /**
   * `signal` is the shard's: once aborted, no new attempt starts and AbortedError is thrown
   * (the batch is then not complete and must not be checkpointed).
   */
  async execute(records: StreamRecord<T>[], call: Call<T>, signal: AbortSignal): Promise<BatchOutcome> {
    let sent = 0;
    let rest = records;
    const { maxRecordAgeMs } = this.#o.policy;
    if (maxRecordAgeMs !== undefined) {
      const now = this.#o.clock.now();
      const tooOld = (r: StreamRecord<T>) => {
        const created = r.dynamodb?.ApproximateCreationDateTime;
        return created !== undefined && now - new Date(created).getTime() > maxRecordAgeMs;
      };
      // Records are in creation order, so the expired ones form a prefix.
      let cut = 0;
      while (cut < rest.length && tooOld(rest[cut]!)) cut++;
      if (cut > 0) {
        const error = new ProcessorError(this.#o.shardId, `record older than maxRecordAgeMs (${maxRecordAgeMs} ms)`, {
          retryable: false,
        });
        const outcome = await this.#giveUp(rest.slice(0, cut), error, 0, 'max-record-age', undefined);
        if (outcome.status === 'stopped') return outcome;
        sent += outcome.sentToDestination;
        rest = rest.slice(cut);
      }
    }
    if (rest.length === 0) return { status: 'processed', sentToDestination: sent };
    const outcome = await this.#run(rest, call, signal, undefined);
    if (outcome.status === 'processed')
      return { status: 'processed', sentToDestination: sent + outcome.sentToDestination };
    return outcome;
  }

  async #run(
    records: StreamRecord<T>[],
    call: Call<T>,
    signal: AbortSignal,
    before: string | undefined,
  ): Promise<BatchOutcome> {
    const result = await this.#attempts(records, call, signal);
    if (result.ok) return { status: 'processed', sentToDestination: 0 };
    if (this.#o.policy.bisectOnError && records.length > 1) {
      const middle = Math.ceil(records.length / 2);
      this.#o.logger.warn(
        { shardId: this.#o.shardId, records: records.length },
        'batch keeps failing; bisecting it to isolate the bad record',
      );
      const left = await this.#run(records.slice(0, middle), call, signal, before);
      if (left.status === 'stopped') return left;
      const right = await this.#run(records.slice(middle), call, signal, records[middle - 1]!.sequenceNumber);
      if (right.status === 'stopped') return right;
      return { status: 'processed', sentToDestination: left.sentToDestination + right.sentToDestination };
    }
    return this.#giveUp(records, result.error, result.attempts, 'retries-exhausted', before);
  }

  async #attempts(
    records: StreamRecord<T>[],
    call: Call<T>,
    signal: AbortSignal,
  ): Promise<{ ok: true } | { ok: false; error: Error; attempts: number }> {
    const { maxRetries, retryBaseMs, retryCapMs } = this.#o.policy;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw new AbortedError(`processing of ${this.#o.shardId} aborted`, { cause: signal.reason });
      try {
        await this.#withTimeout(records, call, signal);
        return { ok: true };
      } catch (thrown) {
        if (signal.aborted)
          throw thrown instanceof AbortedError
            ? thrown
            : new AbortedError(`processing of ${this.#o.shardId} aborted`, { cause: thrown });
        const error = toError(thrown);
        const willRetry = attempt < maxRetries;
        this.#o.onProcessorError?.({
          error,
          attempt,
          willRetry,
          firstSequenceNumber: records[0]!.sequenceNumber,
          lastSequenceNumber: records.at(-1)!.sequenceNumber,
          records: records.length,
        });
        this.#o.logger.warn(
          {
            err: error,
            shardId: this.#o.shardId,
            attempt,
            willRetry,
            records: records.length,
            firstSequenceNumber: records[0]!.sequenceNumber,
          },
          'processRecords failed',
        );
        if (!willRetry) return { ok: false, error, attempts: attempt + 1 };
        await this.#o.clock
          .sleep(
            Math.max(1, fullJitterDelay(attempt, { baseMs: retryBaseMs, capMs: retryCapMs }, this.#o.random)),
            signal,
          )
          .catch((err: unknown) => {
            throw new AbortedError(`processing of ${this.#o.shardId} aborted`, { cause: err });
          });
      }
    }
  }

  /**
   * Settles when the processor does, when the timeout fires (the attempt's signal is aborted so
   * the abandoned call can stop before the retry runs), or at once when the shard's signal is
   * aborted: a processor that ignores its signal cannot hang the shard's shutdown.
   */
  async #withTimeout(records: StreamRecord<T>[], call: Call<T>, signal: AbortSignal): Promise<void> {
    const timeoutMs = this.#o.policy.processorTimeoutMs;
    const attempt = new AbortController();
    const timer = new AbortController();
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(new AbortedError(`processing of ${this.#o.shardId} aborted`, { cause: signal.reason }));
    });
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([
        call(records, AbortSignal.any([signal, attempt.signal])),
        aborted,
        this.#o.clock.sleep(timeoutMs, timer.signal).then(
          () => {
            const error = new ProcessorError(
              this.#o.shardId,
              `processRecords did not settle within processorTimeoutMs (${timeoutMs} ms)`,
            );
            attempt.abort(error);
            throw error;
          },
          () => new Promise<never>(() => undefined),
        ),
      ]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      timer.abort();
    }
  }

  async #giveUp(
    records: StreamRecord<T>[],
    error: Error,
    attempts: number,
    reason: FailedRecord['reason'],
    before: string | undefined,
  ): Promise<BatchOutcome> {
    const { policy, shardId, streamArn, workerId, logger } = this.#o;
    const first = records[0]!.sequenceNumber;
    if (policy.onFailure === 'stop' || !policy.destination) {
      logger.error(
        { err: error, shardId, sequenceNumber: first, records: records.length, reason },
        'giving up on records: stopping the shard (onFailure: stop); it stays stalled until fixed',
      );
      this.#o.onShardFailed?.({ error, sequenceNumber: first });
      return { status: 'stopped', error, processedThrough: before };
    }
    const destination = policy.destination;
    const failedAt = new Date(this.#o.clock.now()).toISOString();
    const failed: FailedRecord[] = records.map((r) => ({
      shardId,
      streamArn,
      sequenceNumber: r.sequenceNumber,
      eventName: r.eventName,
      keys: r.keys,
      reason,
      error: { name: error.name, message: error.message, stack: error.stack },
      attempts,
      failedAt,
      workerId,
      record: stripExtras(r),
    }));
    try {
      // One call: a destination retries its own writes (the built-in ones through core `retry`).
      await destination.send(failed);
    } catch (err) {
      const sendError = toError(err);
      logger.error(
        { err: sendError, shardId, sequenceNumber: first, destination: destination.name },
        'could not store failed records in the destination: stopping the shard',
      );
      this.#o.onShardFailed?.({ error: sendError, sequenceNumber: first });
      return { status: 'stopped', error: sendError, processedThrough: before };
    }
    logger.error(
      { err: error, shardId, sequenceNumber: first, records: records.length, destination: destination.name, reason },
      'records sent to the failure destination; moving on',
    );
    this.#o.onRecordsFailed?.({ records: failed, destination: destination.name });
    return { status: 'processed', sentToDestination: records.length };
  }
}

function stripExtras<T>(record: StreamRecord<T>): FailedRecord['record'] {
  const { newItem: _n, oldItem: _o, keys: _k, sequenceNumber: _s, ...raw } = record;
  return raw;
}
