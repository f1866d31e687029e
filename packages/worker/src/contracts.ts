import type { RecordBatch, StartPosition } from '@shardline/streams';
import type { SafeEmitter } from '@shardline/core';

/**
 * The narrow shapes the worker needs from @shardline/streams and @shardline/leases. The real
 * `ShardReader` and `LeaseCoordinator` satisfy them; unit tests pass plain objects.
 */

// The reader's shapes and the checkpoint → position mapping are @shardline/streams' own.
export type { RecordBatch, StartPosition } from '@shardline/streams';
/** Lease checkpoint → where the reader starts: a sequence number resumes just after it. */
export { startPositionFromCheckpoint as startFromCheckpoint } from '@shardline/streams';

/** One reader per shard consumer; iteration ends after the shardEnd batch or on abort. */
export type ReaderFactory = (input: {
  shardId: string;
  start: StartPosition;
  signal: AbortSignal;
}) => AsyncIterable<RecordBatch>;

export interface LeaseLike {
  leaseKey: string;
  shardId: string;
  streamArn?: string;
  owner?: string | undefined;
  counter?: number;
  checkpoint: string;
  parentShardIds: string[];
  childShardIds?: string[] | undefined;
}

export type LeaseEvents = {
  'lease:acquired': { lease: LeaseLike };
  'lease:lost': { shardId: string; reason: string };
  'lease:handoff': { shardId: string; to?: string | undefined };
  /** `to`: the worker the lease was moved to (a hand-off), absent when released to nobody. */
  'lease:released': { shardId: string; to?: string | undefined };
  'leader:elected': { workerId: string };
  'shardsync:done': { created: number; deleted: number; shards: number };
  'worker:joined': { workerId: string };
  'worker:left': { workerId: string };
};

export interface CoordinatorLike {
  // Structural on purpose: the real coordinator's emitter has more events than these.
  readonly events: Pick<SafeEmitter<LeaseEvents>, 'on' | 'off'>;
  start(): Promise<void>;
  stop(options?: { handOff?: boolean }): Promise<void>;
  heldLeases(): LeaseLike[];
  checkpoint(shardId: string, checkpoint: string): Promise<void>;
  release(shardId: string): Promise<void>;
  /**
   * When the last heartbeat that got through was sent (worker clock), undefined before the
   * first. Optional: without it, /healthz cannot judge heartbeat freshness.
   */
  lastHeartbeatAt?(): number | undefined;
}
