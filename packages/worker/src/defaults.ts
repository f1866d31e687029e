import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { toError, type Clock, type Logger } from '@shardline/core';
import { LeaseCoordinator, streamsShardLister, type ResolvedLeaseTuning } from '@shardline/leases';
import { ShardReader, resolveStream, type ResolvedShardReaderTuning } from '@shardline/streams';
import type { Coordinator, ReaderFactory } from './contracts.js';
import type { WorkerMetrics } from './metrics.js';
import { trackReads, type StreamsHealth } from './streams-health.js';

/** The production wiring: @shardline/streams readers and the @shardline/leases coordinator. */

export async function resolveStreamArn(input: {
  streams: DynamoDBStreamsClient;
  dynamodb: DynamoDBClient;
  tableName: string;
  logger: Logger;
}): Promise<string> {
  const resolved = await resolveStream({
    streams: input.streams,
    dynamodb: input.dynamodb,
    tableName: input.tableName,
  });
  input.logger.info(
    { tableName: resolved.tableName, streamArn: resolved.streamArn, viewType: resolved.viewType },
    'stream resolved',
  );
  return resolved.streamArn;
}

export interface DefaultCoordinatorInput {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  /** Every stream of the application (one lease table for all). */
  streamArns: readonly string[];
  /** Those given by table name: their table's re-enabled streams are followed. */
  followed: ReadonlySet<string>;
  leaseTableName: string;
  workerId: string;
  leases: ResolvedLeaseTuning;
  clock: Clock;
  logger: Logger;
  /** Published in the heartbeat item (records/s on the status page). */
  recordsProcessed: () => number;
}

export function createDefaultCoordinator(input: DefaultCoordinatorInput): Coordinator {
  const { dynamodb, streams, streamArns, leaseTableName, workerId, clock, logger } = input;
  const listerLogger = logger.child({ component: 'shard-lister', workerId });
  const shardListerFor = (streamArn: string) => streamsShardLister(streams, streamArn, { clock, logger: listerLogger });
  return new LeaseCoordinator({
    dynamodb,
    streams: streamArns.map((streamArn) => ({
      streamArn,
      shardLister: shardListerFor(streamArn),
      followTable: input.followed.has(streamArn),
    })),
    streamFollowing: {
      // Allowed while disabled: a disabled stream is simply not replaced yet.
      latestStreamArn: async (tableName) =>
        (await resolveStream({ streams, dynamodb, tableName, allowDisabled: true })).streamArn,
      shardListerFor,
    },
    leaseTableName,
    workerId,
    clock,
    logger, // the coordinator scopes it by component and workerId
    recordsProcessed: input.recordsProcessed,
    ...input.leases,
  });
}

export interface DefaultReaderInput {
  streams: DynamoDBStreamsClient;
  reader: ResolvedShardReaderTuning;
  clock: Clock;
  logger: Logger;
  metrics: WorkerMetrics;
  onTrimmed: (event: {
    shardId: string;
    streamArn: string;
    requestedSequenceNumber?: string | undefined;
    error: Error;
  }) => void;
  /** Told of each retried streams failure and each batch read (readiness). */
  health: StreamsHealth;
}

export function createDefaultReaderFactory(input: DefaultReaderInput): ReaderFactory {
  return ({ shardId, streamArn, start, signal }) => {
    const reader = new ShardReader({
      client: input.streams,
      streamArn,
      shardId,
      start,
      ...input.reader,
      clock: input.clock,
      logger: input.logger, // the reader scopes it by component and shardId
      signal,
    });
    reader.events.on('iterator:refresh', ({ reason }) => input.metrics.iteratorRefreshes.inc({ reason }));
    reader.events.on('throttled', () => input.metrics.throttles.inc());
    reader.events.on('retry', () => input.health.failed({ streamArn, shardId }));
    reader.events.on('records:trimmed', (event) => {
      input.metrics.trimmed.inc();
      input.onTrimmed({
        shardId: event.shardId,
        streamArn,
        requestedSequenceNumber: event.requestedSequenceNumber,
        error: toError(event.error),
      });
    });
    return trackReads(reader, { streamArn, shardId }, input.health);
  };
}
