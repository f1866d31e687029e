import type { Logger, SafeEmitter } from '@shardline/core';
import type { LeaseCoordinatorEvents, LeaseLostReason } from './events.js';
import { toLease, type Lease, type LeaseItem } from './items.js';
import type { OwnerRef } from './lease-store.js';

export interface HeldLease {
  row: LeaseItem;
  /** Acquisition order: a table read started before it says nothing about this lease. */
  seq: number;
  handOff?: { to: string | undefined; timer: AbortController } | undefined;
}

/**
 * Whether a row (a lease or the leader item) names this very process: its worker id and its
 * session, so neither a previous nor a later incarnation of the worker id passes.
 */
export function namesProcess(
  row: { leaseOwner?: string | undefined; ownerSession?: string | undefined },
  me: OwnerRef,
) {
  return row.leaseOwner === me.workerId && row.ownerSession === me.sessionId;
}

/**
 * The ledger of the leases this worker holds, and of the two kinds it must not take up again
 * as they are: leases it dropped while their row may still name it (re-taken only with a
 * counter bump), and leases whose release write is in flight. No I/O; every entry and exit is
 * logged and emitted here (`lease:acquired`, `lease:lost`).
 */
export class HeldLeases {
  readonly #me: OwnerRef;
  readonly #log: Logger;
  readonly #events: SafeEmitter<LeaseCoordinatorEvents>;
  readonly #held = new Map<string, HeldLease>();
  /** Counter of each lease dropped while its row may still name this worker. */
  readonly #dropped = new Map<string, number>();
  readonly #releasing = new Set<string>();
  #seq = 0;

  constructor(me: OwnerRef, log: Logger, events: SafeEmitter<LeaseCoordinatorEvents>) {
    this.#me = me;
    this.#log = log;
    this.#events = events;
  }

  get size(): number {
    return this.#held.size;
  }

  /** The acquisition sequence now: leases acquired later have a larger `seq`. */
  get seq(): number {
    return this.#seq;
  }

  has(shardId: string): boolean {
    return this.#held.has(shardId);
  }

  get(shardId: string): HeldLease | undefined {
    return this.#held.get(shardId);
  }

  shardIds(): string[] {
    return [...this.#held.keys()];
  }

  entries(): Array<[string, HeldLease]> {
    return [...this.#held];
  }

  leases(): Lease[] {
    return [...this.#held.values()].map((held) => toLease(held.row));
  }

  isMine(row: { leaseOwner?: string | undefined; ownerSession?: string | undefined }): boolean {
    return namesProcess(row, this.#me);
  }

  /** A row naming this worker id that is neither held, nor being released, nor finished: one to take up. */
  isUnheldNamingMe(row: LeaseItem): boolean {
    return (
      row.leaseOwner === this.#me.workerId &&
      !this.#held.has(row.shardId) &&
      !this.#releasing.has(row.shardId) &&
      row.checkpoint !== 'SHARD_END'
    );
  }

  /** Whether such a row may be taken up as it is; otherwise only with a counter bump. */
  mayTakeUpAsIs(row: LeaseItem): boolean {
    return this.isMine(row) && this.#dropped.get(row.shardId) !== row.leaseCounter;
  }

  /** Takes a row up when it names this process and the fence is up; refuses (and remembers) it otherwise. */
  takeUp(row: LeaseItem, fenced: boolean): HeldLease | undefined {
    if (fenced || !this.isMine(row)) {
      this.#dropped.set(row.shardId, row.leaseCounter);
      this.#log.warn(
        { shardId: row.shardId, leaseOwner: row.leaseOwner, leaseCounter: row.leaseCounter, fenced },
        'lease not taken up: fenced, or the row names another process',
      );
      return undefined;
    }
    this.#dropped.delete(row.shardId);
    const held: HeldLease = { row, seq: ++this.#seq };
    this.#held.set(row.shardId, held);
    this.#log.info(
      { shardId: row.shardId, leaseOwner: row.leaseOwner, leaseCounter: row.leaseCounter, checkpoint: row.checkpoint },
      'lease acquired',
    );
    this.#events.emit('lease:acquired', { lease: toLease(row) });
    return held;
  }

  /** Stops a lease at once (`lease:lost`); its row may still name us, so it is re-taken only with a bump. */
  drop(shardId: string, reason: LeaseLostReason): void {
    const held = this.#remove(shardId);
    if (!held) return;
    this.#dropped.set(shardId, held.row.leaseCounter);
    this.#log.warn(
      { shardId, leaseOwner: held.row.leaseOwner, leaseCounter: held.row.leaseCounter, reason },
      'lease lost',
    );
    this.#events.emit('lease:lost', { shardId, reason });
  }

  dropAll(reason: LeaseLostReason): void {
    for (const shardId of this.shardIds()) this.drop(shardId, reason);
  }

  /** Lets a lease go quietly (its release is the caller's): no event. */
  letGo(shardId: string): HeldLease | undefined {
    return this.#remove(shardId);
  }

  /**
   * A finished shard's lease, given up by its SHARD_END checkpoint: a table read started before
   * that write still shows it ours at `counterBefore`, and must not re-take it.
   */
  finished(shardId: string, counterBefore: number): void {
    this.#dropped.set(shardId, counterBefore);
    this.#remove(shardId);
  }

  /** Marks a release write in flight (the lease is never re-taken meanwhile); returns its end. */
  releasing(row: LeaseItem): () => void {
    this.#dropped.set(row.shardId, row.leaseCounter);
    this.#releasing.add(row.shardId);
    return () => this.#releasing.delete(row.shardId);
  }

  clear(): void {
    this.#held.clear();
  }

  #remove(shardId: string): HeldLease | undefined {
    const held = this.#held.get(shardId);
    if (!held) return undefined;
    held.handOff?.timer.abort();
    this.#held.delete(shardId);
    return held;
  }
}
