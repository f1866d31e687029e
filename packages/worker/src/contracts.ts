import type { LeaseCoordinator } from '@shardline/leases';
import type { RecordBatch, StartPosition } from '@shardline/streams';

/**
 * The seams between the worker and the packages it drives, typed from their owners: the real
 * `ShardReader` and `LeaseCoordinator` satisfy them, and so must a test's fakes.
 */

// The reader's shapes and the checkpoint → position mapping are @shardline/streams' own.
export type { RecordBatch, StartPosition } from '@shardline/streams';
/** Lease checkpoint → where the reader starts: a sequence number resumes just after it. */
export { startPositionFromCheckpoint as startFromCheckpoint } from '@shardline/streams';
// The lease shapes and events are @shardline/leases' own.
export type { Lease, LeaseCoordinatorEvents, LeaseLostReason } from '@shardline/leases';

/** One reader per shard consumer; iteration ends after the shardEnd batch or on abort. */
export type ReaderFactory = (input: {
  shardId: string;
  /** The shard's stream: an application may consume several. */
  streamArn: string;
  start: StartPosition;
  signal: AbortSignal;
}) => AsyncIterable<RecordBatch>;

/** What the worker uses of a `LeaseCoordinator`. */
export type Coordinator = Pick<
  LeaseCoordinator,
  'events' | 'start' | 'stop' | 'heldLeases' | 'checkpoint' | 'release' | 'isFenced' | 'lastHeartbeatAt'
>;
