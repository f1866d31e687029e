// The public surface: the coordinator, its options and events, the table view behind
// `shardline status`, and the operator actions (`shardline import-kcl`, `shardline reset`). The parts (store, planners, membership, items) are internal; tests import
// them from src.
export { LeaseCoordinator } from './coordinator.js';
export { LEASE_COORDINATOR_EVENTS, type LeaseCoordinatorEvents, type LeaseLostReason } from './events.js';
export {
  resolveLeaseTuning,
  checkLeaseTableName,
  isTableName,
  LEASE_DEFAULTS,
  HEARTBEATS_PER_LEASE_DURATION,
  type LeaseCoordinatorOptions,
  type LeaseTuningOptions,
  type ResolvedLeaseTuning,
  type ShardLister,
  type LeaseStream,
  type StreamFollowing,
} from './options.js';
export { readLeaseTable, type LeaseTableView, type LeaseTableLease, type LeaseTableWorker } from './lease-table.js';
export { streamsShardLister } from './shard-lister.js';
export { tableOfStream, streamNameOf } from './stream-order.js';
export { qualifiedLeaseKey, relatedLeaseKey, shardRef } from './lease-key.js';
export type { Lease } from './items.js';
export {
  importKclLeases,
  KclFleetAliveError,
  KCL_DEFAULTS,
  type KclImportOptions,
  type KclImportResult,
} from './kcl-import.js';
export type { KclImportPlan, KclImportRow } from './kcl-lease.js';
export type { AuditItem, AuditChange } from './items.js';
export { resetLeases, LeasesHeldError, type ResetOptions, type ResetResult } from './reset.js';
export type { ResetTarget, ResetPlan, ResetChange } from './reset-plan.js';
export { ProcessorStateTooLargeError, MAX_PROCESSOR_STATE_BYTES } from './errors.js';
