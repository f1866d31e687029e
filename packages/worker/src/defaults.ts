import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { toError, type Clock, type InitialPosition, type Logger } from '@shardline/core';
import { LeaseCoordinator, streamsShardLister } from '@shardline/leases';
import { ShardReader, resolveStream } from '@shardline/streams';
import type { CoordinatorLike, ReaderFactory } from './contracts.js';
import type { WorkerMetrics } from './metrics.js';

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
  streamArn: string;
  leaseTableName: string;
  workerId: string;
  initialPosition: InitialPosition;
  clock: Clock;
  logger: Logger;
  leaseDurationMs: number;
  heartbeatIntervalMs: number | undefined;
  assignmentIntervalMs: number | undefined;
  handOffTimeoutMs: number | undefined;
  maxLeasesPerWorker: number | undefined;
}

export function createDefaultCoordinator(input: DefaultCoordinatorInput): CoordinatorLike {
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    value === undefined ? {} : ({ [key]: value } as Record<K, V>);
  return new LeaseCoordinator({
    dynamodb: input.dynamodb,
    shardLister: streamsShardLister(input.streams, input.streamArn, { clock: input.clock, logger: input.logger }),
    streamArn: input.streamArn,
    leaseTableName: input.leaseTableName,
    workerId: input.workerId,
    initialPosition: input.initialPosition,
    clock: input.clock,
    logger: input.logger,
    leaseDurationMs: input.leaseDurationMs,
    ...optional('heartbeatIntervalMs', input.heartbeatIntervalMs),
    ...optional('assignmentIntervalMs', input.assignmentIntervalMs),
    ...optional('handOffTimeoutMs', input.handOffTimeoutMs),
    ...optional('maxLeasesPerWorker', input.maxLeasesPerWorker),
  });
}

export interface DefaultReaderInput {
  streams: DynamoDBStreamsClient;
  streamArn: string;
  batchSize: number;
  idleIntervalMs: number;
  prefetch: number;
  clock: Clock;
  logger: Logger;
  metrics: WorkerMetrics;
  onTrimmed: (event: { shardId: string; requestedSequenceNumber?: string | undefined; error: Error }) => void;
}

export function createDefaultReaderFactory(input: DefaultReaderInput): ReaderFactory {
  return ({ shardId, start, signal }) => {
    const reader = new ShardReader({
      client: input.streams,
      streamArn: input.streamArn,
      shardId,
      start,
      limit: input.batchSize,
      idleIntervalMs: input.idleIntervalMs,
      prefetch: input.prefetch,
      clock: input.clock,
      logger: input.logger, // the reader scopes it by component and shardId
      signal,
    });
    reader.events.on('iterator:refresh', ({ reason }) => input.metrics.iteratorRefreshes.inc({ reason }));
    reader.events.on('throttled', () => input.metrics.throttles.inc());
    reader.events.on('records:trimmed', (event) => {
      input.metrics.trimmed.inc();
      input.onTrimmed({
        shardId: event.shardId,
        requestedSequenceNumber: event.requestedSequenceNumber,
        error: toError(event.error),
      });
    });
    return reader;
  };
}
