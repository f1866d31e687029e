/**
 * What one round of lease writes must tell other workers (see `inbox#` and `notice#` on the
 * leader item): a lease key in a worker's inbox is a row it can act on by reading that row alone
 * (a lease put on it, a hand-off asked of it); a bare notice makes it read the whole table (a
 * lease of its deleted, or taken from it).
 */
export class Notices {
  readonly #inbox = new Map<string, Set<string>>();
  readonly #bare = new Set<string>();

  /** `workerId` should read `leaseKey`, or the whole table when there is none. */
  add(workerId: string, leaseKey?: string): this {
    if (leaseKey === undefined) this.#bare.add(workerId);
    else {
      let keys = this.#inbox.get(workerId);
      if (!keys) this.#inbox.set(workerId, (keys = new Set()));
      keys.add(leaseKey);
    }
    return this;
  }

  merge(other: Notices): void {
    for (const id of other.#bare) this.add(id);
    for (const [id, keys] of other.#inbox) for (const key of keys) this.add(id, key);
  }

  without(workerId: string): this {
    this.#bare.delete(workerId);
    this.#inbox.delete(workerId);
    return this;
  }

  get empty(): boolean {
    return this.#bare.size === 0 && this.#inbox.size === 0;
  }

  /** Workers told to read the whole table. */
  bare(): string[] {
    return [...this.#bare];
  }

  /** Lease keys by worker (workers in `bare()` read everything anyway and are left out). */
  inbox(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [id, keys] of this.#inbox) if (!this.#bare.has(id)) out.set(id, [...keys]);
    return out;
  }
}
