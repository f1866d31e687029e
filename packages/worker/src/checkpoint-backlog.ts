import { compareSequenceNumbers } from '@shardline/core';

/**
 * While a background checkpoint is pending, reading goes on until this many processed records
 * are not yet covered by a written checkpoint; then the consumer waits for the write. A crash in
 * that state re-delivers at most this many records (plus the batch in flight).
 */
export const MAX_CHECKPOINT_BACKLOG = 10_000;

/**
 * Auto mode's bound on reading ahead of the lease table: the positions handed to `checkpointSoon`
 * that no written checkpoint covers yet, with their record counts, and the consumers waiting for
 * a write to bring the count back under the bound.
 */
export class CheckpointBacklog {
  readonly #max: number;
  readonly #unwritten: Array<{ sequenceNumber: string; records: number }> = [];
  #count = 0;
  readonly #waiters = new Set<() => void>();

  constructor(max: number = MAX_CHECKPOINT_BACKLOG) {
    this.#max = max;
  }

  /** `records` processed through `sequenceNumber`, not written yet. */
  add(sequenceNumber: string, records: number): void {
    if (records <= 0) return;
    this.#unwritten.push({ sequenceNumber, records });
    this.#count += records;
  }

  /** Records processed that no written checkpoint covers yet. */
  get count(): number {
    return this.#count;
  }

  /** More records past the written checkpoint than the bound: the consumer should wait. */
  get full(): boolean {
    return this.#count > this.#max;
  }

  /** A checkpoint at `written` landed: the positions it covers leave the backlog. */
  covered(written: string): void {
    while (this.#unwritten.length > 0) {
      const first = this.#unwritten[0]!;
      if (written !== 'SHARD_END' && compareSequenceNumbers(first.sequenceNumber, written) > 0) break;
      this.#unwritten.shift();
      this.#count -= first.records;
    }
    this.wake();
  }

  /** Wakes every waiter to re-check (a write landed, or a background write failed for good). */
  wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolves at once while within bounds, otherwise once a write brings it back, `gaveUp()` or `signal` aborted. */
  async whenAllows(signal: AbortSignal, gaveUp: () => boolean): Promise<void> {
    while (this.full && !gaveUp() && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
