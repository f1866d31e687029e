export { LeaseCoordinator } from './coordinator.js';
export { LEASE_COORDINATOR_EVENTS, type LeaseCoordinatorEvents, type LeaseLostReason } from './events.js';
export { Heartbeater, type HeartbeaterOptions } from './heartbeater.js';
export {
  resolveLeaseOptions,
  resolveLeaseTuning,
  checkLeaseTableName,
  isTableName,
  LEASE_DEFAULTS,
  HEARTBEATS_PER_LEASE_DURATION,
  type LeaseCoordinatorOptions,
  type LeaseTuningOptions,
  type ResolvedLeaseOptions,
  type ResolvedLeaseTuning,
  type ShardLister,
} from './options.js';
export { LeaseStore, type OwnerRef } from './lease-store.js';
export { LeaseConflictError, translateLeaseError } from './errors.js';
export { readLeaseTable, type LeaseTableView, type LeaseTableLease, type LeaseTableWorker } from './lease-table.js';
export { planAssignment, eligibleLeases, type AssignmentAction, type AssignmentInput } from './assignment.js';
export { planShardSync, type ShardSyncInput, type ShardSyncPlan } from './shard-sync.js';
export { Membership, type MembershipChange } from './membership.js';
export { streamsShardLister } from './shard-lister.js';
export {
  classifyItems,
  toLease,
  workerKey,
  LEADER_KEY,
  WORKER_KEY_PREFIX,
  type Lease,
  type LeaseItem,
  type WorkerItem,
  type LeaderItem,
  type InvalidItem,
  type TableSnapshot,
} from './items.js';
