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

  has(leaseKey: string): boolean {
    return this.#held.has(leaseKey);
  }

  get(leaseKey: string): HeldLease | undefined {
    return this.#held.get(leaseKey);
  }

  /** The keys of the leases held (a shard id, or stream-qualified: see lease-key.ts). */
  leaseKeys(): string[] {
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
      !this.#held.has(row.leaseKey) &&
      !this.#releasing.has(row.leaseKey) &&
      row.checkpoint !== 'SHARD_END'
    );
  }

  /** Whether such a row may be taken up as it is; otherwise only with a counter bump. */
  mayTakeUpAsIs(row: LeaseItem): boolean {
    return this.isMine(row) && this.#dropped.get(row.leaseKey) !== row.leaseCounter;
  }

  /** Takes a row up when it names this process and the fence is up; refuses (and remembers) it otherwise. */
  takeUp(row: LeaseItem, fenced: boolean): HeldLease | undefined {
    if (fenced || !this.isMine(row)) {
      this.#dropped.set(row.leaseKey, row.leaseCounter);
      this.#log.warn({ ...leaseFields(row), fenced }, 'lease not taken up: fenced, or the row names another process');
      return undefined;
    }
    this.#dropped.delete(row.leaseKey);
    const held: HeldLease = { row, seq: ++this.#seq };
    this.#held.set(row.leaseKey, held);
    this.#log.info({ ...leaseFields(row), checkpoint: row.checkpoint }, 'lease acquired');
    this.#events.emit('lease:acquired', { lease: toLease(row) });
    return held;
  }

  /** Stops a lease at once (`lease:lost`); its row may still name us, so it is re-taken only with a bump. */
  drop(leaseKey: string, reason: LeaseLostReason): void {
    const held = this.#remove(leaseKey);
    if (!held) return;
    const { row } = held;
    this.#dropped.set(leaseKey, row.leaseCounter);
    this.#log.warn({ ...leaseFields(row), reason }, 'lease lost');
    this.#events.emit('lease:lost', { shardId: row.shardId, leaseKey, streamArn: row.streamArn, reason });
  }

  dropAll(reason: LeaseLostReason): void {
    for (const leaseKey of this.leaseKeys()) this.drop(leaseKey, reason);
  }

  /** Lets a lease go quietly (its release is the caller's): no event. */
  letGo(leaseKey: string): HeldLease | undefined {
    return this.#remove(leaseKey);
  }

  /**
   * A finished shard's lease, given up by its SHARD_END checkpoint: a table read started before
   * that write still shows it ours at `counterBefore`, and must not re-take it.
   */
  finished(leaseKey: string, counterBefore: number): void {
    this.#dropped.set(leaseKey, counterBefore);
    this.#remove(leaseKey);
  }

  /** Marks a release write in flight (the lease is never re-taken meanwhile); returns its end. */
  releasing(row: LeaseItem): () => void {
    this.#dropped.set(row.leaseKey, row.leaseCounter);
    this.#releasing.add(row.leaseKey);
    return () => this.#releasing.delete(row.leaseKey);
  }

  clear(): void {
    this.#held.clear();
  }

  #remove(leaseKey: string): HeldLease | undefined {
    const held = this.#held.get(leaseKey);
    if (!held) return undefined;
    held.handOff?.timer.abort();
    this.#held.delete(leaseKey);
    return held;
  }
}

/** The log fields naming a lease: its shard, its stream, and the owner and counter read. */
export function leaseFields(row: LeaseItem): Record<string, unknown> {
  return {
    shardId: row.shardId,
    streamArn: row.streamArn,
    leaseOwner: row.leaseOwner,
    leaseCounter: row.leaseCounter,
  };
}
