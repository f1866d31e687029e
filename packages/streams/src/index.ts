// The public surface: resolving a table's stream, listing shards and their lineage, and the
// shard reader with its options. Retry, rate-limit and position helpers are internal.
export { StreamResourceNotFoundError } from './errors.js';
export type { StreamsClient, StreamsCommand } from './client.js';
// For @shardline/worker, which builds its clients with `cacheMiddleware: true`.
export { enableCachedAbortableSends } from './abortable-send.js';
export { listShards, listShardsAfter, listChildShards, type ListShardsOptions } from './describe.js';
export {
  resolveStream,
  type ResolveStreamOptions,
  type ResolvedStream,
  type StreamViewType,
  type DynamoDBTableClient,
} from './resolve-stream.js';
export { ShardGraph } from './lineage.js';
export { startPositionFromCheckpoint, type StartPosition } from './position.js';
export {
  resolveShardReaderTuning,
  SHARD_READER_DEFAULTS,
  type ShardReaderOptions,
  type ShardReaderTuning,
  type ResolvedShardReaderTuning,
  type TrimmedPolicy,
} from './reader-options.js';
export { ShardReader, type RecordBatch, type ShardReaderEvents, type ShardReaderStats } from './shard-reader.js';
