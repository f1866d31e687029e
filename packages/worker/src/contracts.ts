import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import type { SafeEmitter } from '@shardline/core';

/**
 * The narrow shapes the worker needs from @shardline/streams and @shardline/leases. The real
 * `ShardReader` and `LeaseCoordinator` satisfy them; unit tests pass plain objects.
 */

export type StartPosition =
  | { type: 'TRIM_HORIZON' }
  | { type: 'LATEST' }
  | { type: 'AT_SEQUENCE_NUMBER'; sequenceNumber: string }
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

export interface RecordBatch {
  shardId: string;
  records: _Record[];
  shardEnd: boolean;
  millisBehindLatest: number;
  lastSequenceNumber?: string | undefined;
}

/** One reader per shard consumer; iteration ends after the shardEnd batch or on abort. */
export type ReaderFactory = (input: { shardId: string; start: StartPosition; signal: AbortSignal }) => AsyncIterable<RecordBatch>;

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

/** Lease checkpoint → where the reader starts. A sequence number resumes just after it. */
export function startFromCheckpoint(checkpoint: string): StartPosition | 'SHARD_END' {
  if (checkpoint === 'SHARD_END') return 'SHARD_END';
  if (checkpoint === 'TRIM_HORIZON') return { type: 'TRIM_HORIZON' };
  if (checkpoint === 'LATEST') return { type: 'LATEST' };
  return { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: checkpoint };
}
