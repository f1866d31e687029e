import { AbortedError, ProcessorError, fullJitterDelay, toError, type Clock, type Logger } from '@shardline/core';
import type { FailedRecord, FailureDestination } from './destinations.js';
import type { StreamRecord } from './processor.js';
import { ReportedFailure } from './reported-failure.js';
import { rawRecord } from './stream-record.js';

/**
 * What happens when `processRecords` throws or hangs (Lambda's event-source mapping settings,
 * in one place): retry with backoff, optionally bisect the batch to isolate the bad record,
 * then either send the records to a destination and move on, or stop the shard and alert.
 * Nothing is ever skipped silently: a record leaves the shard either processed, stored in the
 * destination, or not at all (the shard stops before it).
 */
/** How long DynamoDB Streams keep a record: what "retry until the records expire" waits for. */
export const STREAM_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface ResolvedFailurePolicy {
  /** `Infinity`: until the records expire (Lambda's MaximumRetryAttempts -1). */
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
    let before: string | undefined;
    const cut = this.#expiredPrefix(rest, false);
    if (cut > 0) {
      const outcome = await this.#giveUp(rest.slice(0, cut), this.#ageError(), 0, 'max-record-age', undefined);
      if (outcome.status === 'stopped') return outcome;
      sent += outcome.sentToDestination;
      before = rest[cut - 1]!.sequenceNumber;
      rest = rest.slice(cut);
    }
    if (rest.length === 0) return { status: 'processed', sentToDestination: sent };
    const outcome = await this.#run(rest, call, signal, before);
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
    const { maxRetries, retryBaseMs, retryCapMs, bisectOnError } = this.#o.policy;
    let rest = records;
    let done = before;
    let sent = 0;
    const withSent = (outcome: BatchOutcome): BatchOutcome =>
      outcome.status === 'processed' ? { ...outcome, sentToDestination: sent + outcome.sentToDestination } : outcome;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw new AbortedError(`processing of ${this.#o.shardId} aborted`, { cause: signal.reason });
      let error: Error;
      try {
        await this.#withTimeout(rest, call, signal);
        return { status: 'processed', sentToDestination: sent };
      } catch (thrown) {
        if (signal.aborted)
          throw thrown instanceof AbortedError
            ? thrown
            : new AbortedError(`processing of ${this.#o.shardId} aborted`, { cause: thrown });
        error = toError(thrown);
      }
      const attempted = rest;
      // A partial success (e.g. a Lambda partial batch response): the records before `retryFrom`
      // are done, so they are neither retried, nor bisected, nor sent to the destination.
      const from = retryIndex(rest, error);
      if (from > 0) {
        done = rest[from - 1]!.sequenceNumber;
        rest = rest.slice(from);
      }
      const willRetry = attempt < maxRetries;
      this.#o.onProcessorError?.({
        error,
        attempt,
        willRetry,
        firstSequenceNumber: attempted[0]!.sequenceNumber,
        lastSequenceNumber: attempted.at(-1)!.sequenceNumber,
        records: attempted.length,
      });
      // No shardId: the shard's logger carries it.
      const attemptFields = {
        attempt,
        willRetry,
        records: attempted.length,
        firstSequenceNumber: attempted[0]!.sequenceNumber,
        lastSequenceNumber: attempted.at(-1)!.sequenceNumber,
      };
      if (error instanceof ReportedFailure)
        // An answer of a working processor, not a bug: one line, no stack.
        this.#o.logger.info(
          { ...attemptFields, reportedRecords: error.reportedRecords, retryFrom: error.retryFrom },
          'the processor reported failed records',
        );
      else
        this.#o.logger.warn(
          { ...attemptFields, err: error, ...(from > 0 ? { retryFrom: rest[0]!.sequenceNumber } : {}) },
          'processRecords failed',
        );
      if (!willRetry) {
        // A partial success is itself the split (Lambda bisects at the returned record): the
        // rest is tried again on its own, with the full retries.
        if (bisectOnError && from > 0) return withSent(await this.#run(rest, call, signal, done));
        if (bisectOnError && rest.length > 1) {
          // Each half gets the full retries: splitting uses none up (Lambda's rule too).
          const middle = Math.ceil(rest.length / 2);
          this.#o.logger.warn({ records: rest.length }, 'batch keeps failing; bisecting it to isolate the bad record');
          const left = await this.#run(rest.slice(0, middle), call, signal, done);
          if (left.status === 'stopped') return left;
          sent += left.sentToDestination;
          return withSent(await this.#run(rest.slice(middle), call, signal, rest[middle - 1]!.sequenceNumber));
        }
        return withSent(await this.#giveUp(rest, error, attempt + 1, 'retries-exhausted', done));
      }
      // Records that aged out while retried are not retried again (Lambda's MaximumRecordAgeInSeconds).
      const cut = this.#expiredPrefix(rest, true);
      if (cut > 0) {
        const outcome = await this.#giveUp(rest.slice(0, cut), this.#ageError(), attempt + 1, 'max-record-age', done);
        if (outcome.status === 'stopped') return outcome;
        sent += outcome.sentToDestination;
        done = rest[cut - 1]!.sequenceNumber;
        rest = rest.slice(cut);
        if (rest.length === 0) return { status: 'processed', sentToDestination: sent };
      }
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

  /**
   * How many records at the front are too old to process: older than maxRecordAgeMs or, while
   * retrying without a retry limit, than the stream's retention (Lambda's "until the record
   * expires"). Records are in creation order, so the expired ones form a prefix.
   */
  #expiredPrefix(records: StreamRecord<T>[], retrying: boolean): number {
    const { maxRecordAgeMs, maxRetries } = this.#o.policy;
    const limit = maxRecordAgeMs ?? (retrying && maxRetries === Infinity ? STREAM_RETENTION_MS : undefined);
    if (limit === undefined) return 0;
    const now = this.#o.clock.now();
    const tooOld = (r: StreamRecord<T>) => {
      const created = r.dynamodb?.ApproximateCreationDateTime;
      return created !== undefined && now - new Date(created).getTime() > limit;
    };
    let cut = 0;
    while (cut < records.length && tooOld(records[cut]!)) cut++;
    return cut;
  }

  #ageError(): ProcessorError {
    const { maxRecordAgeMs } = this.#o.policy;
    return new ProcessorError(
      this.#o.shardId,
      maxRecordAgeMs === undefined
        ? `record expired while retried (older than the stream's ${STREAM_RETENTION_MS / 3_600_000} h retention)`
        : `record older than maxRecordAgeMs (${maxRecordAgeMs} ms)`,
      { retryable: false },
    );
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
        { ...errorFields(error), shardId, sequenceNumber: first, records: records.length, reason },
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
      keys: reportedKeys(r),
      reason,
      error: { name: error.name, message: error.message, stack: error.stack },
      attempts,
      failedAt,
      workerId,
      record: rawRecord(r),
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
      {
        ...errorFields(error),
        shardId,
        sequenceNumber: first,
        records: records.length,
        destination: destination.name,
        reason,
      },
      'records sent to the failure destination; moving on',
    );
    this.#o.onRecordsFailed?.({ records: failed, destination: destination.name });
    return { status: 'processed', sentToDestination: records.length };
  }
}

/** How a log line names the failure: a reported one by its message (it has no stack worth reading). */
function errorFields(error: Error): { err: Error } | { reported: string } {
  return error instanceof ReportedFailure ? { reported: error.message } : { err: error };
}

/** Where a retry starts: the record named by the error's `retryFrom`, when it is one of `records` after the first. */
function retryIndex<T>(records: StreamRecord<T>[], error: Error): number {
  const from = (error as { retryFrom?: unknown }).retryFrom;
  if (typeof from !== 'string') return 0;
  return Math.max(
    0,
    records.findIndex((r) => r.sequenceNumber === from),
  );
}

/**
 * The record's keys for its failure report. A record without Keys (a custom reader's) reports
 * none rather than an empty key; so does one whose keys `unmarshall` refuses (a number neither a
 * Number nor a BigInt can hold, such as 1E+30): that may be why it failed, and the raw record,
 * stored beside, still has them as DynamoDB JSON.
 */
function reportedKeys(record: StreamRecord<unknown>): Record<string, unknown> | undefined {
  if (!record.dynamodb?.Keys) return undefined;
  try {
    return record.keys;
  } catch {
    return undefined;
  }
}
