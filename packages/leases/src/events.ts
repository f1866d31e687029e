import type { Lease } from './items.js';

/** Why a worker must stop a shard at once. */
export type LeaseLostReason =
  /** No heartbeat got through for a lease duration: others may take the lease now. */
  | 'fenced'
  /** The table names another owner or counter (taken after this worker was judged dead). */
  | 'taken'
  /** The lease row is gone (shard trimmed from the stream, or deleted by hand). */
  | 'deleted'
  /** A checkpoint failed its owner/counter condition. */
  | 'checkpoint-conflict'
  /** A requested hand-off was not released within handOffTimeoutMs; the lease moved anyway. */
  | 'handoff-timeout'
  /** stop({ handOff: false }). */
  | 'stopped';

export interface LeaseCoordinatorEvents extends Record<string, unknown> {
  /** This worker owns the lease now: start the shard from `lease.checkpoint`. */
  'lease:acquired': { lease: Lease };
  /**
   * Stop the shard at once: another worker may own it already. `leaseKey` is what the
   * coordinator's calls take (the shard id, or stream-qualified: see lease-key.ts).
   */
  'lease:lost': { shardId: string; leaseKey: string; streamArn: string; reason: LeaseLostReason };
  /** Finish the batch in flight, checkpoint, then call `release(leaseKey)`. */
  'lease:handoff': { shardId: string; leaseKey: string; streamArn: string; to?: string | undefined };
  /** The lease left this worker cleanly (released, or finished with SHARD_END). */
  'lease:released': { shardId: string; leaseKey: string; streamArn: string; to?: string | undefined };
  /** This worker became the leader (shard sync and assignment). */
  'leader:elected': { workerId: string };
  'shardsync:done': { created: number; deleted: number; shards: number; audit: boolean };
  /**
   * (Leader.) A followed table has a new stream (its stream was disabled and re-enabled): its
   * leases start once every lease of `previousStreamArns` is finished.
   */
  'stream:replaced': { tableName: string; streamArn: string; previousStreamArns: string[] };
  'worker:joined': { workerId: string };
  'worker:left': { workerId: string };
}

/** Every event name of `LeaseCoordinatorEvents`, for code that forwards them all. */
export const LEASE_COORDINATOR_EVENTS = [
  'lease:acquired',
  'lease:lost',
  'lease:handoff',
  'lease:released',
  'leader:elected',
  'shardsync:done',
  'stream:replaced',
  'worker:joined',
  'worker:left',
] as const satisfies readonly (keyof LeaseCoordinatorEvents)[];
