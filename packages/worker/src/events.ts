import type { LeaseCoordinatorEvents } from './contracts.js';
import type { FailedRecord } from './destinations.js';
import type { ShardState } from './shard-state.js';

/** Why a shard consumer finished. */
export type ShardEndReason =
  /** The closed shard was processed to its end and SHARD_END was checkpointed. */
  | 'shard-end'
  | 'lease-lost'
  /** The worker is stopping. */
  | 'shutdown'
  /** Another worker asked for the lease (balancing). */
  | 'handoff'
  /** The failure policy stopped the shard (onFailure: 'stop'); it stays stalled. */
  | 'failed'
  /** An unexpected error (e.g. a reader error that retries could not fix); restarted later. */
  | 'error';

/** The worker's typed events (payloads are objects; listeners that throw are logged). */
export type WorkerEvents = LeaseCoordinatorEvents & {
  'worker:started': { workerId: string };
  'worker:stopped': { workerId: string; errors: Error[] };
  'shard:start': { shardId: string; checkpoint: string };
  'shard:end': { shardId: string; reason: ShardEndReason; checkpoint: string; error?: Error | undefined };
  'shard:stateChange': { shardId: string; from: ShardState; to: ShardState };
  /** The failure policy stopped a shard: page someone. */
  'shard:failed': { shardId: string; streamArn: string; sequenceNumber: string; error: Error };
  'batch:start': {
    shardId: string;
    records: number;
    firstSequenceNumber: string;
    lastSequenceNumber: string;
    millisBehindLatest: number;
  };
  'batch:end': {
    shardId: string;
    records: number;
    lastSequenceNumber: string;
    durationMs: number;
    status: 'processed' | 'stopped';
    sentToDestination: number;
  };
  checkpoint: { shardId: string; checkpoint: string };
  'checkpoint:failed': { shardId: string; error: Error };
  'records:trimmed': {
    shardId: string;
    streamArn: string;
    requestedSequenceNumber?: string | undefined;
    error: Error;
  };
  'processor:error': {
    shardId: string;
    error: Error;
    attempt: number;
    willRetry: boolean;
    firstSequenceNumber: string;
    lastSequenceNumber: string;
    records: number;
  };
  'records:failed': { shardId: string; streamArn: string; destination: string; records: FailedRecord[] };
};
