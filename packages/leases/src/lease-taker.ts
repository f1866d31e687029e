import { LEASE_WRITES_IN_FLIGHT, forEachLimit } from './concurrency.js';
import { LeaseConflictError } from './errors.js';
import type { HandOffs } from './hand-off.js';
import { leaseFields } from './held-leases.js';
import type { LeaseItem, TableSnapshot } from './items.js';
import type { CoordinatorParts } from './parts.js';

export interface LeaseTakerDeps extends Pick<CoordinatorParts, 'held' | 'store' | 'me' | 'streams' | 'log' | 'status'> {
  handOffs: HandOffs;
  /** When a previous incarnation of this worker id must have fenced itself. */
  previousIncarnationFencedAt: () => number;
  requestFullRead: (at: number) => void;
}

/**
 * Keeps the held leases in line with the table (the leader assigns; this worker only follows):
 * drops what the table no longer gives us, starts the hand-offs the leader asked for, and takes
 * up the rows that name us, re-taking with a counter bump those another incarnation of the
 * worker id (once it must have fenced) or we ourselves dropped.
 */
export class LeaseTaker {
  readonly #d: LeaseTakerDeps;

  constructor(deps: LeaseTakerDeps) {
    this.#d = deps;
  }

  /** Takes up a row just written for us; callers awaited that write, so the fence is checked again. */
  takeUp(row: LeaseItem): void {
    const held = this.#d.held.takeUp(row, this.#d.status.checkFence());
    if (held && row.pendingOwner !== undefined && !this.#d.status.isDraining())
      this.#d.handOffs.begin(row.leaseKey, row.pendingOwner);
  }

  /** Follows one full read. Leases acquired after the read started (`seq` above `seqAtRead`) are left alone. */
  async follow(snapshot: TableSnapshot, seqAtRead: number, now: number): Promise<void> {
    const { held: ledger, handOffs } = this.#d;
    const rows = new Map(snapshot.leases.filter((l) => this.#d.streams.has(l.streamArn)).map((l) => [l.leaseKey, l]));
    for (const [leaseKey, held] of ledger.entries()) {
      if (held.seq > seqAtRead) continue;
      const row = rows.get(leaseKey);
      if (!row) ledger.drop(leaseKey, 'deleted');
      else if (!ledger.isMine(row) || row.leaseCounter !== held.row.leaseCounter) ledger.drop(leaseKey, 'taken');
      else {
        held.row = row;
        if (row.pendingOwner !== undefined && !held.handOff && this.#d.status.isRunning())
          handOffs.begin(leaseKey, row.pendingOwner);
      }
    }
    if (this.#d.status.isRunning()) await this.takeRowsNamingMe([...rows.values()], now);
  }

  /**
   * Follows the rows this worker's inbox names, each just read alone: a held one may carry a
   * hand-off asked of us; the others are taken up by the rule of a full read.
   */
  async followInbox(rows: readonly LeaseItem[], now: number): Promise<void> {
    const { held: ledger, handOffs, status } = this.#d;
    if (!status.isRunning() || status.isFenced()) return;
    const unheld: LeaseItem[] = [];
    for (const row of rows) {
      const held = ledger.get(row.leaseKey);
      if (!held) unheld.push(row);
      else if (row.pendingOwner !== undefined && ledger.isMine(row)) {
        // A hand-off asked of us (the leader's rebalance).
        held.row = row;
        handOffs.begin(row.leaseKey, row.pendingOwner);
      }
    }
    await this.takeRowsNamingMe(unheld, now);
  }

  /**
   * Takes up the rows naming this worker id that it does not hold, by the one rule of every read
   * (full or inbox): as they are when they name this process and were not dropped by it at that
   * counter; otherwise with a counter bump, so a leader moving the lease at the same time cannot
   * also succeed; a previous incarnation's only once it must have fenced itself.
   */
  async takeRowsNamingMe(rows: readonly LeaseItem[], now: number): Promise<void> {
    const { held: ledger, store, me, log, status } = this.#d;
    const toRetake: LeaseItem[] = [];
    for (const row of rows) {
      if (!ledger.isUnheldNamingMe(row)) continue;
      if (ledger.mayTakeUpAsIs(row)) {
        this.takeUp(row);
        continue;
      }
      // A row of a previous incarnation of this worker id (a restart) is taken only once that
      // incarnation must have fenced itself; a row we dropped ourselves is re-taken with a bump,
      // so a leader moving it at the same time cannot both succeed.
      const adoptAt = this.#d.previousIncarnationFencedAt();
      if (row.ownerSession !== me.sessionId && now < adoptAt) {
        this.#d.requestFullRead(adoptAt);
        continue;
      }
      toRetake.push(row);
    }
    // All in this pass, a bounded number at a time: a restarted worker holding 1,000 leases
    // gets them back in a few round trips, not 1,000 one after another.
    await forEachLimit(toRetake, LEASE_WRITES_IN_FLIGHT, async (row) => {
      // The bump names us in the table: never written while fenced (takeUp checks again after it).
      if (status.checkFence()) return;
      try {
        this.takeUp(await store.transfer(row, me));
      } catch (err) {
        const fields = { ...leaseFields(row), err };
        if (err instanceof LeaseConflictError) log.debug(fields, 'lease moved while re-taking it');
        else log.warn(fields, 're-taking lease failed');
      }
    });
  }
}
