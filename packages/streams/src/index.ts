export { translateStreamsError, StreamResourceNotFoundError, type StreamsErrorContext } from './errors.js';
export type { StreamsClient, StreamsCommand } from './client.js';
export { RateLimiter, rateLimiterFor, STREAMS_RATE_LIMITS, type RateLimitedOperation } from './rate-limiter.js';
export type { StreamsCallOptions } from './call.js';
export {
  listShards,
  listChildShards,
  describeStreamAllPages,
  toShardInfo,
  DESCRIBE_PAGE_LIMIT,
  type ListShardsOptions,
  type DescribedStream,
} from './describe.js';
export {
  resolveStream,
  listTableStreams,
  viewTypeServes,
  STREAM_VIEW_TYPES,
  type ResolveStreamOptions,
  type ResolvedStream,
  type StreamViewType,
  type DynamoDBTableClient,
} from './resolve-stream.js';
export { ShardGraph } from './lineage.js';
export {
  validateStartPosition,
  startPositionFromCheckpoint,
  shardIteratorInput,
  formatStartPosition,
  isStreamSequenceNumber,
  assertStreamSequenceNumber,
  START_POSITION_TYPES,
  type StartPosition,
} from './position.js';
export {
  resolveShardReaderOptions,
  resolveShardReaderTuning,
  SHARD_READER_DEFAULTS,
  ITERATOR_TTL_MS,
  GET_RECORDS_MAX_LIMIT,
  type ShardReaderOptions,
  type ResolvedShardReaderOptions,
  type ShardReaderTuning,
  type ResolvedShardReaderTuning,
  type TrimmedPolicy,
} from './reader-options.js';
export { ShardReader, type RecordBatch, type ShardReaderEvents, type ShardReaderStats } from './shard-reader.js';
