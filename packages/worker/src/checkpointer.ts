import { LeaseLostError, assertSequenceNumber, compareCheckpoints, compareSequenceNumbers, retry, type Clock, type Logger } from '@shardline/core';
import type { Checkpointer } from './processor.js';

/** Where checkpoints go: the lease coordinator in production, a plain object in tests. */
export interface CheckpointStore {
  /** Conditional on this worker still owning the lease; rejects with LeaseLostError otherwise. */
  checkpoint(shardId: string, checkpoint: string): Promise<void>;
}

export interface ShardCheckpointerOptions {
  shardId: string;
  store: CheckpointStore;
  /** The lease's checkpoint when the shard was taken. */
  initial: string;
  clock: Clock;
  logger: Logger;
  /** Retries of a failed write that is not a lost lease. */
  maxAttempts?: number;
  onCheckpoint?: (checkpoint: string) => void;
  onFailure?: (err: unknown) => void;
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

  constructor(options: ShardCheckpointerOptions) {
    this.#options = options;
    this.#last = options.initial;
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
    if (this.#delivered === undefined || compareSequenceNumbers(sequenceNumber, this.#delivered) > 0) this.#delivered = sequenceNumber;
  }

  /** With per-key concurrency: the highest position below every unfinished record. */
  setLimit(limit: (() => string | undefined) | undefined): void {
    this.#limit = limit;
  }

  checkpoint(sequenceNumber?: string): Promise<void> {
    const target = this.#target(sequenceNumber);
    if (target === undefined) return Promise.resolve();
    return this.#write(target);
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
      throw new RangeError(`checkpoint(${sequenceNumber}) on ${this.#options.shardId}: no record has been delivered yet`);
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

  #write(target: string): Promise<void> {
    const run = async () => {
      // Re-checked inside the chain: an earlier queued write may have moved past `target`.
      if (this.#last === 'SHARD_END') return;
      if (target !== 'SHARD_END' && this.#last !== 'LATEST' && compareCheckpoints(target, this.#last) <= 0) return;
      const { shardId, store, clock, logger } = this.#options;
      try {
        await retry('checkpoint', () => store.checkpoint(shardId, target), {
          maxAttempts: this.#options.maxAttempts ?? 4,
          baseMs: 100,
          capMs: 2_000,
          clock,
          shouldRetry: (err) => !(err instanceof LeaseLostError) && !(err instanceof TypeError),
          onRetry: ({ err, attempt, delayMs }) => {
            this.#options.onFailure?.(err);
            logger.warn({ err, shardId, checkpoint: target, attempt, delayMs }, 'checkpoint failed; retrying');
          },
        });
      } catch (err) {
        this.#options.onFailure?.(err);
        throw err instanceof Error && 'cause' in err && err.cause instanceof LeaseLostError ? err.cause : err;
      }
      this.#last = target;
      this.#options.onCheckpoint?.(target);
    };
    const next = this.#chain.then(run);
    this.#chain = next.catch(() => undefined);
    return next;
  }
}
