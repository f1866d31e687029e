import {
  ConfigError,
  INITIAL_POSITIONS,
  nonEmptyString,
  oneOf,
  positiveInteger,
  rejectUnknownKeys,
  requireThat,
  type Clock,
  type InitialPosition,
  type Logger,
  type ShardInfo,
} from '@shardline/core';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** Where the coordinator learns about shards; `streamsShardLister` wraps `@shardline/streams`. */
export interface ShardLister {
  /** Every shard of the stream (all DescribeStream pages). */
  listShards(): Promise<ShardInfo[]>;
  /** The children of one shard, asked when it reaches SHARD_END so they start at once. */
  listChildShards(parentShardId: string): Promise<ShardInfo[]>;
}

export interface LeaseCoordinatorOptions {
  /** Client for the lease table. */
  dynamodb: DynamoDBClient;
  streamArn: string;
  leaseTableName: string;
  /** This worker's stable name (host name, pod name). Two live processes must never share one. */
  workerId: string;
  /**
   * Where root shards of a brand-new application start. Children always start at TRIM_HORIZON.
   * @defaultValue 'TRIM_HORIZON'
   */
  initialPosition?: InitialPosition;
  /** @defaultValue systemClock */
  clock?: Clock;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /**
   * How long a worker may go without a successful heartbeat before it stops its shards
   * (self-fencing); others take its leases after this plus `takeoverMarginMs`.
   * @defaultValue 10_000
   */
  leaseDurationMs?: number;
  /**
   * One heartbeat write and one lease-table read per interval and worker.
   * @defaultValue leaseDurationMs / 5
   */
  heartbeatIntervalMs?: number;
  /**
   * How often the leader recomputes assignment (it also runs at once when a worker dies,
   * joins, or a parent shard ends).
   * @defaultValue heartbeatIntervalMs
   */
  assignmentIntervalMs?: number;
  /**
   * How often the leader lists shards (shard sync). Children of a finished shard are found at
   * once by the worker that finished it, so this only bounds how late brand-new roots appear.
   * @defaultValue 30_000
   */
  shardSyncIntervalMs?: number;
  /**
   * How long an owner asked to hand a lease over may take to finish its batch and call
   * `release()`; then it stops the shard (lease:lost) and transfers the lease anyway.
   * @defaultValue 30_000
   */
  handOffTimeoutMs?: number;
  /**
   * Extra wait, beyond `leaseDurationMs`, before a silent worker's leases are taken: covers
   * clock-rate drift and the time a fenced worker needs to abort its consumers.
   * @defaultValue 1_000
   */
  takeoverMarginMs?: number;
  /** Most leases one worker holds; the rest wait for more workers. @defaultValue unlimited */
  maxLeasesPerWorker?: number;
  /** Where shards are listed: `streamsShardLister(streams, streamArn)` for a real stream. */
  shardLister: ShardLister;
}

export interface ResolvedLeaseOptions {
  streamArn: string;
  leaseTableName: string;
  workerId: string;
  initialPosition: InitialPosition;
  leaseDurationMs: number;
  heartbeatIntervalMs: number;
  assignmentIntervalMs: number;
  shardSyncIntervalMs: number;
  handOffTimeoutMs: number;
  takeoverMarginMs: number;
  maxLeasesPerWorker: number;
}

export const LEASE_DEFAULTS = {
  initialPosition: 'TRIM_HORIZON',
  leaseDurationMs: 10_000,
  shardSyncIntervalMs: 30_000,
  handOffTimeoutMs: 30_000,
  takeoverMarginMs: 1_000,
  maxLeasesPerWorker: Number.POSITIVE_INFINITY,
} as const satisfies Partial<ResolvedLeaseOptions>;

const KNOWN_KEYS = [
  'dynamodb',
  'streamArn',
  'leaseTableName',
  'workerId',
  'initialPosition',
  'clock',
  'logger',
  'leaseDurationMs',
  'heartbeatIntervalMs',
  'assignmentIntervalMs',
  'shardSyncIntervalMs',
  'handOffTimeoutMs',
  'takeoverMarginMs',
  'maxLeasesPerWorker',
  'shardLister',
] as const;

/** Key prefixes of the non-lease items; a worker id may not start with them. */
const RESERVED = /^_/;

export function resolveLeaseOptions(options: LeaseCoordinatorOptions): ResolvedLeaseOptions {
  rejectUnknownKeys('lease coordinator', options, KNOWN_KEYS);
  if (!options.dynamodb) throw new ConfigError('dynamodb (a DynamoDBClient for the lease table) is required');
  if (!options.shardLister) {
    throw new ConfigError('shardLister is required: streamsShardLister(streamsClient, streamArn) for a real stream');
  }
  const streamArn = nonEmptyString('streamArn', options.streamArn);
  const leaseTableName = nonEmptyString('leaseTableName', options.leaseTableName);
  requireThat(
    /^[A-Za-z0-9_.-]{3,255}$/.test(leaseTableName),
    `leaseTableName ${JSON.stringify(leaseTableName)} is not a valid DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)`,
  );
  const workerId = nonEmptyString('workerId', options.workerId);
  requireThat(
    !RESERVED.test(workerId),
    `workerId ${JSON.stringify(workerId)} may not start with "_" (reserved for the lease table's own items)`,
  );
  const initialPosition = oneOf(
    'initialPosition',
    options.initialPosition ?? LEASE_DEFAULTS.initialPosition,
    INITIAL_POSITIONS,
  );

  const leaseDurationMs = positiveInteger('leaseDurationMs', options.leaseDurationMs ?? LEASE_DEFAULTS.leaseDurationMs);
  const heartbeatIntervalMs = positiveInteger(
    'heartbeatIntervalMs',
    options.heartbeatIntervalMs ?? Math.max(1, Math.floor(leaseDurationMs / 5)),
  );
  const assignmentIntervalMs = positiveInteger(
    'assignmentIntervalMs',
    options.assignmentIntervalMs ?? heartbeatIntervalMs,
  );
  const shardSyncIntervalMs = positiveInteger(
    'shardSyncIntervalMs',
    options.shardSyncIntervalMs ?? LEASE_DEFAULTS.shardSyncIntervalMs,
  );
  const handOffTimeoutMs = positiveInteger(
    'handOffTimeoutMs',
    options.handOffTimeoutMs ?? LEASE_DEFAULTS.handOffTimeoutMs,
  );
  const takeoverMarginMs = options.takeoverMarginMs ?? LEASE_DEFAULTS.takeoverMarginMs;
  if (!Number.isInteger(takeoverMarginMs) || takeoverMarginMs < 0) {
    throw new ConfigError(`takeoverMarginMs must be an integer >= 0, got ${String(takeoverMarginMs)}`);
  }
  const maxLeasesPerWorker =
    options.maxLeasesPerWorker === undefined
      ? LEASE_DEFAULTS.maxLeasesPerWorker
      : positiveInteger('maxLeasesPerWorker', options.maxLeasesPerWorker);

  // A worker must get at least two heartbeats through per lease duration, or one lost
  // request fences it (kafkajs refuses heartbeatInterval >= sessionTimeout for the same reason).
  requireThat(
    heartbeatIntervalMs * 2 < leaseDurationMs,
    `heartbeatIntervalMs (${heartbeatIntervalMs}) must be below leaseDurationMs / 2 (${leaseDurationMs / 2}): lower heartbeatIntervalMs or raise leaseDurationMs (heartbeat at about a fifth of the lease duration)`,
  );
  requireThat(
    assignmentIntervalMs <= leaseDurationMs,
    `assignmentIntervalMs (${assignmentIntervalMs}) must not exceed leaseDurationMs (${leaseDurationMs}): orphaned leases would wait longer than a lease duration`,
  );
  requireThat(
    shardSyncIntervalMs >= heartbeatIntervalMs,
    `shardSyncIntervalMs (${shardSyncIntervalMs}) must be at least heartbeatIntervalMs (${heartbeatIntervalMs}): shard sync runs inside the leader's poll`,
  );
  requireThat(
    handOffTimeoutMs >= heartbeatIntervalMs,
    `handOffTimeoutMs (${handOffTimeoutMs}) must be at least heartbeatIntervalMs (${heartbeatIntervalMs}): give the owner time to finish its batch`,
  );
  return {
    streamArn,
    leaseTableName,
    workerId,
    initialPosition,
    leaseDurationMs,
    heartbeatIntervalMs,
    assignmentIntervalMs,
    shardSyncIntervalMs,
    handOffTimeoutMs,
    takeoverMarginMs,
    maxLeasesPerWorker,
  };
}
