import type { GetRecordsCommandOutput, _Record } from '@aws-sdk/client-dynamodb-streams';
import {
  AbortedError,
  IteratorExpiredError,
  RetriesExceededError,
  SafeEmitter,
  ThrottledError,
  TrimmedDataError,
  compareSequenceNumbers,
  fullJitterDelay,
  isSequenceNumber,
  toError,
  type Logger,
} from '@shardline/core';
import { getRecordsCall, getShardIteratorCall } from './client.js';
import { callStreams } from './call.js';
import type { StreamsErrorContext } from './errors.js';
import { IdleBackoff } from './idle-backoff.js';
import { formatStartPosition, shardIteratorInput, type StartPosition } from './position.js';
import {
  resolveShardReaderOptions,
  type ResolvedShardReaderOptions,
  type ShardReaderOptions,
} from './reader-options.js';

/** One GetRecords answer, as the consumer sees it. */
export interface RecordBatch {
  shardId: string;
  /** In sequence order; empty when a poll found nothing new (then `millisBehindLatest` is 0). */
  records: _Record[];
  /** True on the last batch of a closed shard: nothing follows, the children may start. */
  shardEnd: boolean;
  /**
   * Age of the last record (now − its ApproximateCreationDateTime, which is coarse: seconds on
   * AWS, minutes on DynamoDB Local); 0 when the poll found the reader at the tip of the shard.
   */
  millisBehindLatest: number;
  /** Sequence number of this batch's last record; absent when the batch is empty. */
  lastSequenceNumber?: string;
}

export type ShardReaderEvents = {
  /** A new iterator replaced the current one: proactively (`age`) or after ExpiredIteratorException. */
  'iterator:refresh': { shardId: string; reason: 'age' | 'expired' };
  /** Records at the reader's position were trimmed; `requestedSequenceNumber` is where the gap starts. */
  'records:trimmed': { shardId: string; requestedSequenceNumber?: string | undefined; error: TrimmedDataError };
  /** A call was throttled and will be retried after `delayMs`. */
  throttled: { shardId: string; operation: string; attempt: number; delayMs: number };
  /** A call failed transiently (5xx, reset, timeout) and will be retried after `delayMs`. */
  retry: { shardId: string; operation: string; attempt: number; delayMs: number; error: Error };
};

/** Counters since the reader was created. */
export interface ShardReaderStats {
  getRecordsCalls: number;
  getShardIteratorCalls: number;
  records: number;
  batches: number;
  emptyPolls: number;
  /** Proactive refreshes (reason `age`). */
  iteratorRefreshes: number;
  /** ExpiredIteratorException seen and recovered. */
  iteratorExpirations: number;
  throttles: number;
  retries: number;
  trims: number;
}

type Waiter = { resolve: (result: IteratorResult<RecordBatch, undefined>) => void; reject: (err: unknown) => void };

/**
 * Reads one shard as an async iterator of batches, and never loses its place:
 *
 * - GetRecords in a loop; an empty answer from an open shard waits `idleIntervalMs` before the
 *   next poll, doubling (with jitter) on each further empty answer up to `maxIdleIntervalMs`,
 *   and back to `idleIntervalMs` after a batch with records (`IdleBackoff`); a null
 *   `NextShardIterator` ends the shard with a `shardEnd: true` batch.
 * - The iterator is replaced before it is `iteratorRefreshMs` old (each GetRecords hands out a
 *   fresh one, so this matters when a slow consumer holds the loop back), from
 *   AFTER_SEQUENCE_NUMBER of the last record received; ExpiredIteratorException is recovered the
 *   same way. KCL only reacts to expiry.
 * - TrimmedDataAccessException emits `records:trimmed`, logs the gap, then follows `onTrimmed`.
 * - Throttling and transient failures are retried by `callStreams` with this reader's backoff
 *   (full jitter, `maxAttempts` at most, then `RetriesExceededError`), each retry an event.
 * - At most `prefetch` batches with records wait for the consumer; a consumer that stops pulling
 *   stops the polling. Empty batches are coalesced (only the newest is kept), so an idle shard
 *   keeps its iterator fresh without growing the queue.
 * - Aborting (the `signal` option, `close()`, or leaving a `for await` loop) cancels the
 *   in-flight request and any wait at once and ends the iteration.
 *
 * One consumer per reader; iterate it once.
 */
export class ShardReader implements AsyncIterableIterator<RecordBatch, undefined> {
  readonly shardId: string;
  readonly streamArn: string;
  readonly events: SafeEmitter<ShardReaderEvents>;
  readonly #o: ResolvedShardReaderOptions;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #stats: ShardReaderStats = {
    getRecordsCalls: 0,
    getShardIteratorCalls: 0,
    records: 0,
    batches: 0,
    emptyPolls: 0,
    iteratorRefreshes: 0,
    iteratorExpirations: 0,
    throttles: 0,
    retries: 0,
    trims: 0,
  };

  /**
   * Where a new iterator starts: the original start until a record arrives, then just after it.
   * A LATEST start with nothing received yet is re-issued as LATEST, as KCL does; records written
   * in between could only be skipped if the loop had not polled for `iteratorRefreshMs`, which an
   * idle reader never does (empty polls are coalesced, not held back by the prefetch bound).
   */
  #position: StartPosition;
  #lastSequenceNumber: string | undefined;
  #iteratorIssuedAt = 0;
  #consecutiveTrims = 0;
  #consecutiveExpirations = 0;
  readonly #idle: IdleBackoff;

  readonly #queue: RecordBatch[] = [];
  readonly #waiters: Waiter[] = [];
  #wakeProducer: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #finished = false;
  #failure: Error | undefined;
  readonly #unlinkSignal: () => void;

  constructor(options: ShardReaderOptions) {
    this.#o = resolveShardReaderOptions(options);
    this.shardId = this.#o.shardId;
    this.streamArn = this.#o.streamArn;
    this.#position = this.#o.start;
    this.#idle = new IdleBackoff(this.#o.idleIntervalMs, this.#o.maxIdleIntervalMs, this.#o.random);
    this.#log = this.#o.logger.child({ component: 'shard-reader', shardId: this.shardId });
    this.events = new SafeEmitter<ShardReaderEvents>(() => this.#log);
    const external = this.#o.signal;
    const onAbort = () => this.#abort.abort(external?.reason);
    if (external?.aborted) onAbort();
    else external?.addEventListener('abort', onAbort, { once: true });
    this.#unlinkSignal = () => external?.removeEventListener('abort', onAbort);
    this.#abort.signal.addEventListener('abort', () => this.#onAbort(), { once: true });
  }

  /** Sequence number of the last record received from the service (delivered or queued). */
  get lastSequenceNumber(): string | undefined {
    return this.#lastSequenceNumber;
  }

  stats(): ShardReaderStats {
    return { ...this.#stats };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<RecordBatch, undefined>> {
    if (this.#abort.signal.aborted) return { value: undefined, done: true };
    const batch = this.#queue.shift();
    if (batch) {
      this.#wake();
      return { value: batch, done: false };
    }
    if (this.#failure) {
      const failure = this.#failure;
      this.#failure = undefined;
      throw failure;
    }
    if (this.#finished) return { value: undefined, done: true };
    const result = new Promise<IteratorResult<RecordBatch, undefined>>((resolve, reject) =>
      this.#waiters.push({ resolve, reject }),
    );
    this.#loop ??= this.#run();
    this.#wake();
    return result;
  }

  /** Called when a `for await` loop is left early: stops the reader. */
  async return(): Promise<IteratorResult<RecordBatch, undefined>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Stops polling, cancels the request in flight and waits for the loop to end. Idempotent. */
  async close(): Promise<void> {
    if (!this.#abort.signal.aborted) this.#abort.abort(new AbortedError(`shard reader ${this.shardId} closed`));
    await this.#loop;
  }

  async #run(): Promise<void> {
    try {
      await this.#readShard();
    } catch (err) {
      if (!this.#abort.signal.aborted) {
        this.#log.error(
          { err, shardId: this.shardId, sequenceNumber: this.#lastSequenceNumber },
          'shard reader stopped on an error',
        );
        this.#fail(toError(err));
      }
    } finally {
      this.#finished = true;
      this.#unlinkSignal();
      this.#settleWaiters();
    }
  }

  async #readShard(): Promise<void> {
    let iterator = await this.#openIterator();
    while (iterator !== undefined) {
      // Checked before awaiting: an idle shard always has room, and an await costs a promise per poll.
      if (!this.#hasRoom()) await this.#waitForRoom();
      this.#throwIfAborted();
      if (this.#o.clock.now() - this.#iteratorIssuedAt >= this.#o.iteratorRefreshMs) {
        this.#stats.iteratorRefreshes++;
        this.#log.debug(
          { shardId: this.shardId, position: formatStartPosition(this.#position) },
          'refreshing an aging shard iterator',
        );
        this.events.emit('iterator:refresh', { shardId: this.shardId, reason: 'age' });
        iterator = await this.#openIterator();
        continue;
      }
      let read: { next: string | undefined; empty: boolean };
      try {
        read = await this.#readOnce(iterator);
      } catch (err) {
        if (err instanceof IteratorExpiredError) {
          await this.#afterExpiry(err);
          iterator = await this.#openIterator();
          continue;
        }
        if (err instanceof TrimmedDataError) {
          iterator = await this.#afterTrim(err);
          continue;
        }
        throw err;
      }
      iterator = read.next;
      if (!read.empty) this.#idle.afterRecords();
      else if (iterator !== undefined)
        await this.#o.clock.sleep(this.#idle.afterEmpty(this.#o.clock.now()), this.#abort.signal);
    }
  }

  /**
   * One GetRecords, delivered. Its own frame, so that nothing keeps the response once the loop
   * sleeps: a heap sample of 1,000 idle shards found responses alive across the idle wait, which
   * outlasts young-generation collections (they were promoted, then left for a full GC).
   */
  async #readOnce(iterator: string): Promise<{ next: string | undefined; empty: boolean }> {
    const out = await this.#getRecords(iterator);
    this.#consecutiveTrims = 0;
    this.#consecutiveExpirations = 0;
    const next = out.NextShardIterator ?? undefined;
    this.#iteratorIssuedAt = this.#o.clock.now();
    const records = out.Records ?? [];
    this.#deliver(records, next === undefined);
    return { next, empty: records.length === 0 };
  }

  /** A new iterator at the current position; `undefined` when the shard has nothing more (closed). */
  async #openIterator(): Promise<string | undefined> {
    const position = this.#position;
    try {
      const out = await this.#call('GetShardIterator', this.#context('GetShardIterator'), (signal) => {
        this.#stats.getShardIteratorCalls++;
        return getShardIteratorCall(this.#o.client, shardIteratorInput(this.streamArn, this.shardId, position), signal);
      });
      this.#iteratorIssuedAt = this.#o.clock.now();
      if (!out.ShardIterator) {
        // Only a closed shard read past its end has no iterator to give.
        this.#deliver([], true);
        return undefined;
      }
      return out.ShardIterator;
    } catch (err) {
      if (err instanceof TrimmedDataError) return this.#afterTrim(err, position.type === 'TRIM_HORIZON');
      throw err;
    }
  }

  /**
   * One expiry is recovered at once. Fresh iterators that keep expiring (a clock or service
   * fault) are fetched with backoff and, past `maxAttempts`, end in RetriesExceededError.
   */
  async #afterExpiry(err: IteratorExpiredError): Promise<void> {
    this.#stats.iteratorExpirations++;
    const repeats = this.#consecutiveExpirations++;
    this.#log.warn(
      { err, shardId: this.shardId, position: formatStartPosition(this.#position), repeats },
      'shard iterator expired; getting a new one',
    );
    this.events.emit('iterator:refresh', { shardId: this.shardId, reason: 'expired' });
    if (repeats === 0) return;
    if (repeats + 1 >= this.#o.maxAttempts)
      throw new RetriesExceededError(`GetRecords on shard ${this.shardId} (its iterators keep expiring)`, repeats + 1, {
        cause: err,
      });
    const delayMs = fullJitterDelay(
      repeats - 1,
      { baseMs: this.#o.backoffBaseMs, capMs: this.#o.backoffCapMs },
      this.#o.random,
    );
    await this.#o.clock.sleep(delayMs, this.#abort.signal);
  }

  /**
   * `horizonTrimmed`: even TRIM_HORIZON is refused, so the shard holds nothing readable any more
   * (DynamoDB Local does this for a closed shard past retention; AWS drops such a shard).
   */
  async #afterTrim(error: TrimmedDataError, horizonTrimmed = false): Promise<string | undefined> {
    this.#stats.trims++;
    this.#consecutiveTrims++;
    const requestedSequenceNumber = error.requestedSequenceNumber;
    // Trimmed again with nothing read in between: the policy cannot help.
    const stop = this.#o.onTrimmed === 'stop' || horizonTrimmed || this.#consecutiveTrims > 2;
    this.#log.error(
      { err: error, shardId: this.shardId, sequenceNumber: requestedSequenceNumber, policy: this.#o.onTrimmed },
      `records were trimmed from the stream before they were read; ${stop ? 'stopping the shard' : 'continuing at TRIM_HORIZON, the records in between are lost'}`,
    );
    this.events.emit('records:trimmed', { shardId: this.shardId, requestedSequenceNumber, error });
    if (stop) throw error;
    this.#position = { type: 'TRIM_HORIZON' };
    return this.#openIterator();
  }

  async #getRecords(iterator: string): Promise<GetRecordsCommandOutput> {
    return this.#call('GetRecords', this.#context('GetRecords'), (signal) => {
      this.#stats.getRecordsCalls++;
      return getRecordsCall(this.#o.client, { ShardIterator: iterator, Limit: this.#o.limit }, signal);
    });
  }

  /** One call through `callStreams` (the retry owner), with this reader's backoff, counters and events. */
  async #call<T>(operation: string, context: StreamsErrorContext, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = this.#abort.signal;
    return callStreams(context, undefined, () => fn(signal), {
      signal,
      clock: this.#o.clock,
      random: this.#o.random,
      maxAttempts: this.#o.maxAttempts,
      backoffBaseMs: this.#o.backoffBaseMs,
      backoffCapMs: this.#o.backoffCapMs,
      onRetry: ({ error, attempt, delayMs }) => {
        if (error instanceof ThrottledError) {
          this.#stats.throttles++;
          this.#log.info({ err: error, shardId: this.shardId, operation, attempt, delayMs }, 'throttled; backing off');
          this.events.emit('throttled', { shardId: this.shardId, operation, attempt, delayMs });
        } else {
          this.#stats.retries++;
          this.#log.warn(
            { err: error, shardId: this.shardId, operation, attempt, delayMs },
            'transient failure; retrying',
          );
          this.events.emit('retry', { shardId: this.shardId, operation, attempt, delayMs, error });
        }
      },
    });
  }

  #context(operation: string): StreamsErrorContext {
    const position = this.#position;
    return {
      operation,
      streamArn: this.streamArn,
      shardId: this.shardId,
      sequenceNumber: 'sequenceNumber' in position ? position.sequenceNumber : undefined,
    };
  }

  #deliver(received: _Record[], shardEnd: boolean): void {
    // A response that raced an abort is dropped: the consumer asked to stop.
    if (this.#abort.signal.aborted) return;
    const records = this.#dropRepeats(received);
    this.#stats.batches++;
    const last = records.at(-1);
    const lastSequenceNumber = last?.dynamodb?.SequenceNumber;
    if (lastSequenceNumber) {
      this.#lastSequenceNumber = lastSequenceNumber;
      this.#position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: lastSequenceNumber };
    }
    this.#stats.records += records.length;
    if (records.length === 0) this.#stats.emptyPolls++;
    const batch: RecordBatch = {
      shardId: this.shardId,
      records,
      shardEnd,
      millisBehindLatest: last ? this.#millisBehind(last) : 0,
      ...(lastSequenceNumber ? { lastSequenceNumber } : {}),
    };
    const waiter = this.#waiters.shift();
    if (waiter) return waiter.resolve({ value: batch, done: false });
    // An empty batch only says "at the tip now": a newer batch makes it stale news.
    const tail = this.#queue.at(-1);
    if (tail && tail.records.length === 0 && !tail.shardEnd) this.#queue.pop();
    this.#queue.push(batch);
  }

  /**
   * Records at or before the last one received were delivered already: a shard's sequence
   * numbers only grow, so a service that repeats itself must not make the consumer go back.
   */
  #dropRepeats(records: _Record[]): _Record[] {
    const last = this.#lastSequenceNumber;
    const first = records[0]?.dynamodb?.SequenceNumber;
    if (!last || !isSequenceNumber(first) || !isSequenceNumber(last) || compareSequenceNumbers(first, last) > 0)
      return records;
    const fresh = records.filter((r) => {
      const seq = r.dynamodb?.SequenceNumber;
      return !isSequenceNumber(seq) || compareSequenceNumbers(seq, last) > 0;
    });
    this.#log.warn(
      { shardId: this.shardId, sequenceNumber: last, dropped: records.length - fresh.length },
      'the service returned records already received; dropped them',
    );
    return fresh;
  }

  #millisBehind(record: _Record): number {
    const created = record.dynamodb?.ApproximateCreationDateTime as Date | number | string | undefined;
    if (created === undefined) return 0;
    const ms =
      created instanceof Date ? created.getTime() : typeof created === 'number' ? created * 1000 : Date.parse(created);
    return Number.isFinite(ms) ? Math.max(0, this.#o.clock.now() - ms) : 0;
  }

  /** Fewer than `prefetch` batches with records are queued, or somebody is waiting for one. */
  #hasRoom(): boolean {
    let full = 0;
    for (const b of this.#queue) if (b.records.length > 0 || b.shardEnd) full++;
    return full < Math.max(this.#o.prefetch, this.#waiters.length > 0 ? 1 : 0);
  }

  /** Waits until there is room (or the reader is aborted). */
  async #waitForRoom(): Promise<void> {
    while (!this.#abort.signal.aborted && !this.#hasRoom())
      await new Promise<void>((resolve) => (this.#wakeProducer = resolve));
  }

  #wake(): void {
    const wake = this.#wakeProducer;
    this.#wakeProducer = undefined;
    wake?.();
  }

  #throwIfAborted(): void {
    if (this.#abort.signal.aborted) throw new AbortedError(`shard reader ${this.shardId} aborted`);
  }

  #fail(err: Error): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.reject(err);
    else this.#failure = err;
  }

  #onAbort(): void {
    this.#queue.length = 0;
    this.#wake();
    this.#settleWaiters();
  }

  #settleWaiters(): void {
    for (const waiter of this.#waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
  }
}
