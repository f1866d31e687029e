import type { Shard, StreamDescription } from '@aws-sdk/client-dynamodb-streams';
import { ConfigError, type ShardInfo } from '@shardline/core';
import { callStreams, type StreamsCallOptions } from './call.js';
import { describeStreamCall, type StreamsClient } from './client.js';
import { StreamResourceNotFoundError, translateStreamsError } from './errors.js';

/** DescribeStream returns at most 100 shards a page. */
export const DESCRIBE_PAGE_LIMIT = 100;

export interface ListShardsOptions extends StreamsCallOptions {
  /** Shards per DescribeStream page (1–100). @defaultValue 100 */
  pageSize?: number;
}

/** A stream's description with every shard of every page. */
export interface DescribedStream {
  streamArn: string;
  tableName: string | undefined;
  streamLabel: string | undefined;
  status: string | undefined;
  viewType: string | undefined;
  shards: ShardInfo[];
}

export function toShardInfo(shard: Shard): ShardInfo | undefined {
  if (!shard.ShardId) return undefined;
  return {
    shardId: shard.ShardId,
    parentShardId: shard.ParentShardId || undefined,
    startingSequenceNumber: shard.SequenceNumberRange?.StartingSequenceNumber || undefined,
    endingSequenceNumber: shard.SequenceNumberRange?.EndingSequenceNumber || undefined,
  };
}

/**
 * Reads every DescribeStream page of `streamArn`. A page's `LastEvaluatedShardId` can be set
 * with nothing after it, so paging stops on an absent id, an empty page, or an id already used
 * as a start (a service that repeats itself must not loop us forever). Shards listed twice are
 * kept once, the closed copy winning. Every call is rate limited (10/s per process) and
 * throttling is retried with jitter.
 */
export async function describeStreamAllPages(
  streams: StreamsClient,
  streamArn: string,
  options: ListShardsOptions & {
    shardFilter?: { Type: 'CHILD_SHARDS'; ShardId: string };
    /** Start past this shard (the pages after it only). */
    exclusiveStartShardId?: string;
  } = {},
): Promise<DescribedStream> {
  const limit = options.pageSize ?? DESCRIBE_PAGE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > DESCRIBE_PAGE_LIMIT)
    throw new RangeError(`pageSize must be 1..${DESCRIBE_PAGE_LIMIT}, got ${limit}`);
  const byId = new Map<string, ShardInfo>();
  const usedStarts = new Set<string>();
  let description: StreamDescription | undefined;
  let exclusiveStart = options.exclusiveStartShardId;
  for (;;) {
    const page = await callStreams(
      { operation: 'DescribeStream', streamArn },
      'DescribeStream',
      (signal) =>
        describeStreamCall(
          streams,
          {
            StreamArn: streamArn,
            Limit: limit,
            ...(exclusiveStart ? { ExclusiveStartShardId: exclusiveStart } : {}),
            ...(options.shardFilter ? { ShardFilter: options.shardFilter } : {}),
          },
          signal,
        ),
      options,
    );
    const desc = page.StreamDescription;
    if (!desc)
      throw translateStreamsError(new Error('DescribeStream answered without a StreamDescription'), {
        operation: 'DescribeStream',
        streamArn,
      });
    description ??= desc;
    const shards = desc.Shards ?? [];
    for (const raw of shards) {
      const shard = toShardInfo(raw);
      if (!shard) continue;
      const known = byId.get(shard.shardId);
      if (!known || (!known.endingSequenceNumber && shard.endingSequenceNumber)) byId.set(shard.shardId, shard);
    }
    const next = desc.LastEvaluatedShardId;
    if (!next || shards.length === 0 || usedStarts.has(next)) break;
    usedStarts.add(next);
    exclusiveStart = next;
  }
  return {
    streamArn: description?.StreamArn ?? streamArn,
    tableName: description?.TableName,
    streamLabel: description?.StreamLabel,
    status: description?.StreamStatus,
    viewType: description?.StreamViewType,
    shards: [...byId.values()],
  };
}

/** Every shard of the stream, all pages, deduplicated (see `describeStreamAllPages`). */
export async function listShards(
  streams: StreamsClient,
  streamArn: string,
  options: ListShardsOptions = {},
): Promise<ShardInfo[]> {
  return (await describeStreamAllPages(streams, streamArn, options)).shards;
}

/**
 * The shards listed after `exclusiveStartShardId`, all pages: the service (and the simulator)
 * lists shards in creation order, so these are the shards created since that one. Cheap on a
 * stream of thousands of shards when the start is a recent shard.
 */
export async function listShardsAfter(
  streams: StreamsClient,
  streamArn: string,
  exclusiveStartShardId: string,
  options: ListShardsOptions = {},
): Promise<ShardInfo[]> {
  return (await describeStreamAllPages(streams, streamArn, { ...options, exclusiveStartShardId })).shards;
}

/**
 * The children of `parentShardId`: DescribeStream with `ShardFilter {Type: CHILD_SHARDS}`, and
 * when that answers nothing (DynamoDB Local always does; an open parent has no children yet)
 * the pages after the parent filtered on `ParentShardId`: a child is created after its parent,
 * so it is listed after it, and a 10,000-shard stream is not described in full for one child.
 */
export async function listChildShards(
  streams: StreamsClient,
  streamArn: string,
  parentShardId: string,
  options: ListShardsOptions = {},
): Promise<ShardInfo[]> {
  let children: ShardInfo[] = [];
  try {
    const filtered = await describeStreamAllPages(streams, streamArn, {
      ...options,
      shardFilter: { Type: 'CHILD_SHARDS', ShardId: parentShardId },
    });
    children = filtered.shards.filter((shard) => shard.parentShardId === parentShardId);
  } catch (err) {
    // An endpoint that predates ShardFilter refuses it (ValidationException): list the pages after the parent.
    if (!(err instanceof ConfigError) || err instanceof StreamResourceNotFoundError) throw err;
    options.logger?.debug(
      { err, streamArn, parentShardId },
      'ShardFilter refused; listing the shards after the parent',
    );
  }
  if (children.length > 0) return children;
  const after = await listShardsAfter(streams, streamArn, parentShardId, options);
  return after.filter((shard) => shard.parentShardId === parentShardId);
}
