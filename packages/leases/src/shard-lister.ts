import type { Clock, Logger } from '@shardline/core';
import { listChildShards, listShards, listShardsAfter, type StreamsClient } from '@shardline/streams';
import type { ShardLister } from './options.js';

/** The default shard lister: DescribeStream through `@shardline/streams` (paged, rate limited, retried). */
export function streamsShardLister(
  streams: StreamsClient,
  streamArn: string,
  options: { clock?: Clock; logger?: Logger } = {},
): ShardLister {
  return {
    listShards: () => listShards(streams, streamArn, options),
    listChildShards: (parentShardId) => listChildShards(streams, streamArn, parentShardId, options),
    listShardsAfter: (exclusiveStartShardId) => listShardsAfter(streams, streamArn, exclusiveStartShardId, options),
  };
}
