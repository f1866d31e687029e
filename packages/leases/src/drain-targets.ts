import { planAssignment } from './assignment.js';
import type { LeaseItem } from './items.js';

/**
 * Where a stopping worker hands its leases (pure). The rule is the leader's own
 * (`planAssignment`): the stopping worker's leases are planned as if they were free, over the
 * live workers that are not draining, with the fleet's fair share and `maxLeasesPerWorker`; a
 * second copy of the rule here would drift from it, and the leader would then move the drained
 * leases again. KCL 3's `LeaseGracefulShutdownHandler` likewise leaves the choice of the next
 * owner to the `LeaseAssignmentManager`'s rule (docs/architecture.md, "Graceful stop").
 */
export interface DrainTargetsInput {
  /** The stopping worker. */
  me: string;
  /** The stopping worker's leases, as it holds them. */
  mine: readonly LeaseItem[];
  /** The other valid leases of the application's streams (a fresh read at stop time). */
  others: readonly LeaseItem[];
  /** Live workers (`me` and other draining ones among them or not). */
  alive: readonly string[];
  /** Live workers that are stopping too: they get nothing. */
  draining: ReadonlySet<string>;
  isGone: (workerId: string) => boolean;
  maxLeasesPerWorker: number;
}

/** Lease key → the worker to hand it to; a lease without one (no room anywhere) goes to nobody. */
export function planDrainTargets(input: DrainTargetsInput): Map<string, string> {
  const mine = new Set(input.mine.map((lease) => lease.leaseKey));
  // As the leader would see them once released: unowned, no hand-off under way.
  const released = input.mine.map((lease) => ({
    ...lease,
    leaseOwner: undefined,
    ownerSession: undefined,
    pendingOwner: undefined,
    pendingOwnerSession: undefined,
  }));
  const targets = new Map<string, string>();
  for (const action of planAssignment({
    leases: [...input.others.filter((lease) => !mine.has(lease.leaseKey)), ...released],
    alive: input.alive,
    draining: new Set([...input.draining, input.me]),
    isGone: input.isGone,
    maxLeasesPerWorker: input.maxLeasesPerWorker,
  }))
    if (action.kind === 'take' && mine.has(action.lease.leaseKey)) targets.set(action.lease.leaseKey, action.to);
  return targets;
}
