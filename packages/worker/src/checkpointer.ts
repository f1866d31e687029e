import {
  AbortedError,
  LeaseLostError,
  assertSequenceNumber,
  compareCheckpoints,
  compareSequenceNumbers,
  isSequenceNumber,
  retry,
  toError,
  type Clock,
  type Logger,
} from '@shardline/core';
import { CheckpointBacklog } from './checkpoint-backlog.js';
import type { CheckpointOptions, Checkpointer } from './processor.js';

/** Where checkpoints go: the lease coordinator in production, a plain object in tests. */
export interface CheckpointStore {
  /**
   * One conditional write, not retried inside (the checkpointer is the one that retries):
   * rejects with LeaseLostError when this worker no longer owns the lease, with a retryable
   * error (ThrottledError, TransientError) when the write may pass if tried again.
   */
  checkpoint(shardId: string, checkpoint: string, processorState?: string): Promise<void>;
}

/**
 * The only retry of a checkpoint write (the coordinator makes one attempt, the SDK none): what
 * `isRetryable` accepts (throttling, transient faults), never a lost lease. No write has an
 * attempt budget, awaited (`checkpoint()`, `shardEnd()`) or background (`checkpointSoon`): it is
 * retried with this backoff until it is written, the lease is lost or the consumer stops. Fencing,
 * not a retry count, decides when the lease is gone: the coordinator refuses a checkpoint
 * (LeaseLostError) once this worker has fenced itself (no heartbeat through for a lease duration),
 * so a lease-table outage shorter than that costs neither a restart nor a redelivery.
 */
export const CHECKPOINT_RETRY = { baseMs: 100, capMs: 5_000 } as const;

export interface ShardCheckpointerOptions {
  shardId: string;
  store: CheckpointStore;
  /** The lease's checkpoint when the shard was taken. */
  initial: string;
  clock: Clock;
  logger: Logger;
  onCheckpoint?: (checkpoint: string) => void;
  onFailure?: (err: unknown) => void;
  /** A background (checkpointSoon) write failed for good: the consumer must stop. */
  onBackgroundFailure?: (err: unknown) => void;
  /** checkpointSoon writes at most once per this many ms (0: after every batch). @defaultValue 0 */
  intervalMs?: number;
  /** Records processed past the written checkpoint before `whenBacklogAllows` waits. @defaultValue MAX_CHECKPOINT_BACKLOG (checkpoint-backlog.ts) */
  maxBacklog?: number;
  /**
   * Aborted when the consumer is forced to stop (reason AbortedError) or loses its lease (reason
   * LeaseLostError): a pending write, awaited or background, stops retrying and an awaited one
   * rejects with that reason (the final checkpoint of a graceful stop still waits until then).
   */
  signal?: AbortSignal;
}

/**
 * The per-shard checkpointer behind `ctx.checkpointer`. It guards the two rules that keep
 * records from being lost: a checkpoint only moves forward, and never past the last record
 * delivered to the processor (nor, with per-key concurrency, past the oldest record still in
 * work: `limit` is that bound). Writes are serialized so an older write cannot land last.
 */
export class ShardCheckpointer implements Checkpointer {
  readonly #options: ShardCheckpointerOptions;
  #last: string;
  #delivered: string | undefined;
  #limit: (() => string | undefined) | undefined;
  /** A checkpoint asked for past the limit: written as the limit catches up (`flushPending`). */
  #pending: string | undefined;
  #chain: Promise<void> = Promise.resolve();
  /** Coalescing background writes (auto mode): the newest target, and whether a write is queued. */
  #soonTarget: string | undefined;
  #soonQueued = false;
  #soonError: Error | undefined;
  #lastSoonWriteAt = Number.NEGATIVE_INFINITY;
  #soonTimer: AbortController | undefined;
  /** Aborted by `settle()`: no write starts or retries after the consumer exits. */
  readonly #settled = new AbortController();
  readonly #backlog: CheckpointBacklog;

  constructor(options: ShardCheckpointerOptions) {
    this.#options = options;
    this.#last = options.initial;
    this.#backlog = new CheckpointBacklog(options.maxBacklog);
  }

  get lastCheckpoint(): string {
    return this.#last;
  }

  /** The last sequence number handed to the processor. */
  get lastDelivered(): string | undefined {
    return this.#delivered;
  }

  /** Called by the consumer before a batch goes to the processor. */
  delivered(sequenceNumber: string): void {
    assertSequenceNumber(sequenceNumber, 'delivered sequence number');
    if (this.#delivered === undefined || compareSequenceNumbers(sequenceNumber, this.#delivered) > 0)
      this.#delivered = sequenceNumber;
  }

  /**
   * A batch that did not complete (aborted, failed): nothing past `completed` may be
   * checkpointed any more, not even by a late call of the cut-short processor.
   */
  retractDelivered(completed: string | undefined): void {
    this.#delivered = completed;
  }

  /**
   * The view given to one `processRecords` call: `checkpoint()` defaults to the end of the
   * records of that call (a bisected half, a key group), not of the whole batch, and refuses a
   * position past it, so a failing half or a timed-out attempt cannot checkpoint what it never got.
   */
  bounded(end: string): Checkpointer {
    return new BoundedCheckpointer(this, end, this.#options.shardId);
  }

  /** With per-key concurrency: the highest position below every unfinished record. */
  setLimit(limit: (() => string | undefined) | undefined): void {
    this.#limit = limit;
  }

  checkpoint(sequenceNumber?: string, options: CheckpointOptions = {}): Promise<void> {
    const { state } = options;
    if (state !== undefined && this.#limit)
      throw new RangeError(
        `checkpoint with a state on ${this.#options.shardId}: not with keyConcurrency above 1 (the position may be held back, the state would not match it)`,
      );
    // A state with nothing delivered yet belongs to the position the shard started from.
    const target =
      state !== undefined && sequenceNumber === undefined && this.#delivered === undefined
        ? isSequenceNumber(this.#last)
          ? this.#last
          : undefined
        : this.#target(sequenceNumber);
    if (target === undefined) return Promise.resolve();
    return this.#write(target, false, state);
  }

  /** Written by the runtime only, after the closed shard's last record was processed. */
  shardEnd(): Promise<void> {
    return this.#write('SHARD_END');
  }

  #target(sequenceNumber: string | undefined): string | undefined {
    if (sequenceNumber !== undefined) assertSequenceNumber(sequenceNumber, 'checkpoint(sequenceNumber)');
    const delivered = this.#delivered;
    if (delivered === undefined) {
      if (sequenceNumber === undefined) return undefined;
      throw new RangeError(
        `checkpoint(${sequenceNumber}) on ${this.#options.shardId}: no record has been delivered yet`,
      );
    }
    if (sequenceNumber !== undefined && compareSequenceNumbers(sequenceNumber, delivered) > 0) {
      throw new RangeError(
        `checkpoint(${sequenceNumber}) on ${this.#options.shardId} is past the last record delivered (${delivered}); a checkpoint there would skip records`,
      );
    }
    let target = sequenceNumber ?? delivered;
    if (this.#limit) {
      const limit = this.#limit();
      if (limit === undefined || compareSequenceNumbers(target, limit) > 0) {
        if (this.#pending === undefined || compareSequenceNumbers(target, this.#pending) > 0) this.#pending = target;
        if (limit === undefined) return undefined;
        target = limit;
      }
    }
    return target;
  }

  /**
   * With per-key concurrency, a processor that checkpoints while other keys of the batch are
   * still in work gets the checkpoint up to the oldest unfinished record at once, and the rest
   * when those finish: the consumer calls this each time a key group completes.
   */
  flushPending(): Promise<void> {
    const pending = this.#pending;
    const limit = this.#limit?.();
    if (pending === undefined || limit === undefined) return Promise.resolve();
    const target = compareSequenceNumbers(pending, limit) > 0 ? limit : pending;
    if (target === pending) this.#pending = undefined;
    return this.#write(target);
  }

  /**
   * Auto mode: checkpoint `sequenceNumber` without waiting. At most one write is in flight and
   * one queued per shard; a queued write takes the newest target when it starts, so a fast
   * shard writes fewer checkpoints instead of queueing them, and reading never waits on the
   * lease table. A failure is kept and thrown by `throwIfFailed()` / `flush()`.
   */
  checkpointSoon(sequenceNumber: string, records = 0): void {
    this.#backlog.add(sequenceNumber, records);
    const target = this.#target(sequenceNumber);
    if (target === undefined) return;
    this.#soonTarget = target;
    if (this.#soonQueued) return;
    // The interval saves writes, it must not pause reading: a full backlog is written at once.
    if (this.#soonTimer && this.backlogFull) {
      this.#soonTimer.abort();
      this.#soonTimer = undefined;
    }
    if (this.#soonTimer) return;
    const { clock } = this.#options;
    const waitMs = this.#lastSoonWriteAt + (this.#options.intervalMs ?? 0) - clock.now();
    if (waitMs > 0 && !this.backlogFull) {
      // Too soon after the last write: write the newest position when the interval is up.
      const timer = new AbortController();
      this.#soonTimer = timer;
      clock.sleep(waitMs, timer.signal).then(
        () => {
          this.#soonTimer = undefined;
          this.#queueSoon();
        },
        () => undefined,
      );
      return;
    }
    this.#queueSoon();
  }

  #queueSoon(): void {
    if (this.#soonQueued) return;
    this.#soonQueued = true;
    this.#write(() => {
      this.#lastSoonWriteAt = this.#options.clock.now();
      this.#soonQueued = false;
      return this.#soonTarget!;
    }, true).catch((err: unknown) => {
      if (this.#soonError !== undefined || this.#stopSignal().aborted) return;
      this.#soonError = toError(err);
      this.#options.onBackgroundFailure?.(err);
      this.#backlog.wake();
    });
  }

  /** Records processed (through checkpointSoon) that no written checkpoint covers yet. */
  get backlog(): number {
    return this.#backlog.count;
  }

  /** More records processed past the written checkpoint than `maxBacklog`: the consumer should wait. */
  get backlogFull(): boolean {
    return this.#backlog.full;
  }

  /**
   * Resolves at once while the backlog is within bounds, otherwise once a write brings it back
   * (or a background write failed for good: see `throwIfFailed`, or `signal` aborted).
   */
  whenBacklogAllows(signal: AbortSignal): Promise<void> {
    return this.#backlog.whenAllows(signal, () => this.#soonError !== undefined);
  }

  #stopSignal(): AbortSignal {
    const { signal } = this.#options;
    return signal ? AbortSignal.any([this.#settled.signal, signal]) : this.#settled.signal;
  }

  /** Throws the error of a failed background checkpoint (e.g. LeaseLostError), if any. */
  throwIfFailed(): void {
    if (this.#soonError !== undefined) throw this.#soonError;
  }

  /** Writes a position held back by the interval now, waits for every queued write; throws the first background failure. */
  async flush(): Promise<void> {
    if (this.#soonTimer) {
      this.#soonTimer.abort();
      this.#soonTimer = undefined;
      this.#queueSoon();
    }
    await this.#chain;
    this.throwIfFailed();
  }

  /** Drops a position held back by the interval (the lease is gone, or the consumer is done). */
  close(): void {
    this.#soonTimer?.abort();
    this.#soonTimer = undefined;
  }

  /**
   * The consumer is exiting: queued writes are dropped and the one in flight stops retrying;
   * resolves once it settled, so no write of this lease lands after SHUT_DOWN (its failure,
   * e.g. LeaseLostError, was reported to its caller).
   */
  async settle(): Promise<void> {
    this.close();
    this.#settled.abort(new AbortedError(`checkpointer of ${this.#options.shardId} closed`));
    await this.#chain;
  }

  /**
   * Serialized writes, retried (CHECKPOINT_RETRY) until written; a background one takes the newest
   * pending position at each attempt. Stops on a lost lease, a non-retryable error or the stop
   * signal; an awaited write then rejects with LeaseLostError when the lease is gone (refused by
   * the store, or the consumer's lease lost) and with AbortedError when the consumer was forced to
   * stop. A `state` goes with its position in the same write (a tumbling window's, see processor.ts).
   */
  #write(targetOrGetter: string | (() => string), background = false, state?: string): Promise<void> {
    const run = async () => {
      const stop = this.#stopSignal();
      // An awaited write asked for after a forced stop (the final checkpoint, shutdownRequested's)
      // still gets one attempt: the records it covers are done, and the next owner would repeat them.
      const lastChance = !background && stop.aborted && !this.#settled.signal.aborted;
      if (stop.aborted && !lastChance) throw stop.reason;
      let target = typeof targetOrGetter === 'function' ? targetOrGetter() : targetOrGetter;
      const { shardId, store, clock, logger } = this.#options;
      // Re-checked inside the chain (and before each background attempt): an earlier write may have moved past `target`.
      const written = () => {
        if (this.#last === 'SHARD_END') return true;
        if (target === 'SHARD_END' || this.#last === 'LATEST') return false;
        const order = compareCheckpoints(target, this.#last);
        // A new state at the same position is a write (the state changed); without one, a no-op.
        return order < 0 || (order === 0 && state === undefined);
      };
      if (written()) return;
      let landed = false;
      try {
        await retry(
          'checkpoint',
          async (attempt) => {
            if (background && attempt > 0) target = this.#soonTarget ?? target;
            if (written()) return;
            await store.checkpoint(shardId, target, state);
            landed = true;
          },
          {
            ...CHECKPOINT_RETRY,
            maxAttempts: lastChance ? 1 : Number.POSITIVE_INFINITY,
            clock,
            signal: lastChance ? this.#settled.signal : stop,
            onRetry: ({ err, attempt, delayMs }) => {
              this.#options.onFailure?.(err);
              const fields = { err, shardId, checkpoint: target, attempt, delayMs };
              if (background) logger.warn(fields, 'checkpoint failed; kept pending and retried, reading goes on');
              else logger.warn(fields, 'checkpoint failed; kept pending and retried, the processor still awaits it');
            },
          },
        );
      } catch (err) {
        if (!stop.aborted || lastChance) this.#options.onFailure?.(err);
        if (err instanceof LeaseLostError)
          logger.warn({ shardId, checkpoint: target }, 'pending checkpoint refused: the lease is no longer ours');
        // The typed reason (LeaseLostError, AbortedError), not retry's wrappers: a processor
        // awaiting the write learns whether the lease is gone or the worker is stopping.
        if (stop.aborted && !(err instanceof LeaseLostError)) throw stop.reason;
        throw err;
      }
      if (!landed) return;
      this.#last = target;
      this.#backlog.covered(target);
      this.#options.onCheckpoint?.(target);
    };
    const next = this.#chain.then(run);
    this.#chain = next.catch(() => undefined);
    return next;
  }
}

class BoundedCheckpointer implements Checkpointer {
  readonly #shared: ShardCheckpointer;
  readonly #end: string;
  readonly #shardId: string;

  constructor(shared: ShardCheckpointer, end: string, shardId: string) {
    this.#shared = shared;
    this.#end = end;
    this.#shardId = shardId;
  }

  get lastCheckpoint(): string {
    return this.#shared.lastCheckpoint;
  }

  checkpoint(sequenceNumber?: string, options?: CheckpointOptions): Promise<void> {
    if (sequenceNumber === undefined) return this.#shared.checkpoint(this.#end, options);
    assertSequenceNumber(sequenceNumber, 'checkpoint(sequenceNumber)');
    if (compareSequenceNumbers(sequenceNumber, this.#end) > 0) {
      throw new RangeError(
        `checkpoint(${sequenceNumber}) on ${this.#shardId} is past the last record of this processRecords call (${this.#end}); a checkpoint there would skip records`,
      );
    }
    return this.#shared.checkpoint(sequenceNumber, options);
  }
}
