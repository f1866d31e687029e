import type { LeaseItem, TableSnapshot } from './items.js';
import { relatedLeaseKey } from './lease-key.js';
import { waitingStreams } from './stream-order.js';

/**
 * The leader's assignment decision, pure: given the lease table and who is alive, which
 * leases go where. Every unowned or orphaned lease is placed in one cycle (KCL's taker steals
 * one per cycle; see docs/architecture.md), the fleet is balanced to within ±1, and a lease
 * moves off a live worker only through a hand-off its owner performs.
 */

export type AssignmentAction =
  /** Write the owner directly: the lease is unowned or its owner is gone. */
  | { kind: 'take'; lease: LeaseItem; to: string }
  /** Ask the live owner to release the lease to `to` (sets pendingOwner). */
  | { kind: 'handoff'; lease: LeaseItem; to: string };

export interface AssignmentInput {
  /** Valid leases of the application's streams: balanced over all of them together. */
  leases: readonly LeaseItem[];
  /** Live workers (those draining among them or not). */
  alive: readonly string[];
  /**
   * Live workers that are stopping (their heartbeat says draining): they get no new lease, and
   * their leases stay put (the owner hands them off itself, `planDrainTargets`) but count in the
   * fleet's total, so the others' fair share already makes room for them instead of being
   * rebalanced now and again once the drained leases land.
   */
  draining?: ReadonlySet<string> | undefined;
  /** Whether a non-live owner may have its leases taken (waited long enough). */
  isGone: (workerId: string) => boolean;
  maxLeasesPerWorker: number;
  /**
   * Keys of rows that fail the schema and whose shard may still be in the stream: such a parent
   * may have records unread, so its children wait (an invalid row is not a finished one).
   */
  unfinishedKeys?: ReadonlySet<string> | undefined;
  /** Streams whose leases wait for an earlier stream of their table to drain (`waitingStreams`). */
  waitingStreams?: ReadonlySet<string> | undefined;
}

/**
 * Eligible: not finished, and every parent lease is SHARD_END or gone from the table (not merely
 * invalid). Parents are looked up by lease key, in the child's key style: a parent is always of
 * the child's stream.
 */
export function eligibleLeases(
  leases: readonly LeaseItem[],
  unfinishedKeys: ReadonlySet<string> = new Set(),
  waitingStreams: ReadonlySet<string> = new Set(),
): LeaseItem[] {
  const byKey = new Map(leases.map((lease) => [lease.leaseKey, lease]));
  return leases.filter(
    (lease) =>
      lease.checkpoint !== 'SHARD_END' &&
      !waitingStreams.has(lease.streamArn) &&
      parentsFinished(lease, byKey, unfinishedKeys),
  );
}

/** `byKey`: leases by `leaseKey`; `unfinishedKeys`: keys of invalid rows that still hold children back. */
export function parentsFinished(
  lease: LeaseItem,
  byKey: ReadonlyMap<string, LeaseItem>,
  unfinishedKeys: ReadonlySet<string> = new Set(),
): boolean {
  return lease.parentShardIds.every((parentId) => {
    const parentKey = relatedLeaseKey(lease, parentId);
    const parent = byKey.get(parentKey);
    return parent === undefined ? !unfinishedKeys.has(parentKey) : parent.checkpoint === 'SHARD_END';
  });
}

export function planAssignment(input: AssignmentInput): AssignmentAction[] {
  const draining = input.draining ?? new Set<string>();
  const alive = [...new Set(input.alive)].filter((id) => !draining.has(id)).sort();
  if (alive.length === 0) return [];
  const aliveSet = new Set(alive);
  const holdings = new Map<string, LeaseItem[]>(alive.map((id) => [id, []]));
  const free: LeaseItem[] = [];
  /** Leases of draining workers not yet in a hand-off to a live one: they land on the others soon. */
  let leaving = 0;

  for (const lease of eligibleLeases(input.leases, input.unfinishedKeys, input.waitingStreams)) {
    const owner = lease.leaseOwner;
    if (owner === undefined) {
      free.push(lease);
      continue;
    }
    if (draining.has(owner)) {
      if (lease.pendingOwner !== undefined && aliveSet.has(lease.pendingOwner))
        holdings.get(lease.pendingOwner)!.push(lease);
      else leaving++;
      continue;
    }
    if (!aliveSet.has(owner)) {
      // An owner not yet judged gone keeps its leases frozen: taking them early could run a
      // shard twice while that worker has not fenced itself.
      if (input.isGone(owner)) free.push(lease);
      continue;
    }
    // A lease in hand-off already counts for its new owner.
    const holder = lease.pendingOwner !== undefined && aliveSet.has(lease.pendingOwner) ? lease.pendingOwner : owner;
    holdings.get(holder)!.push(lease);
  }

  const total = free.length + leaving + [...holdings.values()].reduce((sum, list) => sum + list.length, 0);
  const base = Math.floor(total / alive.length);
  let extra = total % alive.length;
  // The most loaded workers keep the +1 slots: fewer moves.
  const order = [...alive].sort((a, b) => holdings.get(b)!.length - holdings.get(a)!.length || a.localeCompare(b));
  const target = new Map<string, number>();
  for (const id of order) {
    const want = base + (extra > 0 ? 1 : 0);
    if (extra > 0) extra--;
    target.set(id, Math.min(want, input.maxLeasesPerWorker));
  }

  // Leases to move off over-target workers: only settled ones (re-targeting a live hand-off
  // would restart it), newest keys first so long-held shards stay put.
  const surplus: LeaseItem[] = [];
  for (const id of order) {
    const list = holdings.get(id)!;
    const over = list.length - target.get(id)!;
    if (over <= 0) continue;
    // A hand-off towards a worker that has died since counts as settled: it is re-targeted.
    const settled = list
      .filter((l) => l.leaseOwner === id && (l.pendingOwner === undefined || !aliveSet.has(l.pendingOwner)))
      .sort(
        (a, b) =>
          Number(a.pendingOwner !== undefined) - Number(b.pendingOwner !== undefined) ||
          b.leaseKey.localeCompare(a.leaseKey),
      );
    surplus.push(...settled.slice(0, over));
  }

  free.sort((a, b) => a.leaseKey.localeCompare(b.leaseKey));
  const actions: AssignmentAction[] = [];
  // Fill the emptiest workers first so a capped or short pool still spreads evenly.
  const needy = [...alive].sort((a, b) => holdings.get(a)!.length - holdings.get(b)!.length || a.localeCompare(b));
  let progressed = true;
  const counts = new Map(alive.map((id) => [id, holdings.get(id)!.length]));
  while (progressed) {
    progressed = false;
    for (const id of needy) {
      if (counts.get(id)! >= target.get(id)!) continue;
      const lease = free.shift();
      if (lease) actions.push({ kind: 'take', lease, to: id });
      else {
        const moving = surplus.shift();
        if (!moving) continue;
        actions.push({ kind: 'handoff', lease: moving, to: id });
      }
      counts.set(id, counts.get(id)! + 1);
      progressed = true;
    }
  }
  return actions;
}

/**
 * Invalid rows that still hold their children back: all, unless the stream's listing no longer
 * has their shard. `listed`: the lease keys (in every style) of the shards of the last listing.
 */
export function unfinishedKeys(snapshot: TableSnapshot, listed: ReadonlySet<string> | undefined): Set<string> {
  const known = listed !== undefined && listed.size > 0;
  return new Set(snapshot.invalid.map((row) => row.leaseKey).filter((key) => !known || listed.has(key)));
}

/** What the leader's plan reads of the fleet (`Membership`, judged on the leader's clock). */
export interface FleetView {
  alive(): string[];
  draining(): string[];
  isGone(workerId: string, now: number): boolean;
}

/**
 * `planAssignment` as the leader runs it on a table read (an assignment cycle, the owners of new
 * leases): `leases` balanced over the fleet as `fleet` sees it at `now`; invalid rows hold their
 * children back unless `listed` (the last audit's shards) no longer has them.
 */
export function planLeaderAssignment(input: {
  snapshot: TableSnapshot;
  leases: readonly LeaseItem[];
  listed: ReadonlySet<string> | undefined;
  fleet: FleetView;
  maxLeasesPerWorker: number;
  now: number;
}): AssignmentAction[] {
  const { snapshot, leases, listed, fleet, now } = input;
  return planAssignment({
    leases,
    unfinishedKeys: unfinishedKeys(snapshot, listed),
    waitingStreams: waitingStreams(leases),
    alive: fleet.alive(),
    draining: new Set(fleet.draining()),
    isGone: (workerId) => fleet.isGone(workerId, now),
    maxLeasesPerWorker: input.maxLeasesPerWorker,
  });
}
