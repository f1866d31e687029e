/**
 * A worker's conditional lease writes in flight at once, per pass (shard sync, assignment, a
 * restarted worker re-taking its rows): thousands of leases are created, moved or re-taken in
 * seconds, without thousands of requests (and sockets) opened at the same moment. KCL takes
 * every expired lease up to its target in one pass as well, one write after another; it only
 * limits stealing from live workers (one per pass), which here is a hand-off instead.
 */
export const LEASE_WRITES_IN_FLIGHT = 32;

/** Runs `fn` over `items` with at most `limit` calls in flight; settles every item. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}

/** Tasks the coordinator started and does not await, tracked so that `idle` and `stop()` can. */
export class BackgroundTasks {
  readonly #tasks = new Set<Promise<void>>();
  readonly #onError: (err: unknown) => void;

  /** `onError` logs a task's failure: a background task never rejects unobserved. */
  constructor(onError: (err: unknown) => void) {
    this.#onError = onError;
  }

  get size(): number {
    return this.#tasks.size;
  }

  add(task: Promise<void>): void {
    const tracked = task.catch(this.#onError).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  /** Waits for every task running now. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#tasks]);
  }
}
