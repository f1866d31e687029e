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

/**
 * The lease protocol's tunables: everything a `Worker` passes through as its `leases` option.
 * Their defaults and checks live here and nowhere else.
 */
export interface LeaseTuningOptions {
  /**
   * Where root shards of a brand-new application start. Children always start at TRIM_HORIZON.
   * @defaultValue 'TRIM_HORIZON'
   */
  initialPosition?: InitialPosition;
  /**
   * How long a worker may go without a successful heartbeat before it stops its shards
   * (self-fencing); others take its leases after this plus `takeoverMarginMs`.
   * @defaultValue 10_000
   */
  leaseDurationMs?: number;
  /**
   * One heartbeat write and one lease-table read per interval and worker; a worker named as
   * successor in a hand-off picks the lease up at its next read, so this bounds hand-off time.
   * @defaultValue leaseDurationMs / 10 (1 s)
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
}

export interface LeaseCoordinatorOptions extends LeaseTuningOptions {
  /** Client for the lease table. */
  dynamodb: DynamoDBClient;
  streamArn: string;
  leaseTableName: string;
  /** This worker's stable name (host name, pod name). Two live processes must never share one. */
  workerId: string;
  /** @defaultValue systemClock */
  clock?: Clock;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Where shards are listed: `streamsShardLister(streams, streamArn)` for a real stream. */
  shardLister: ShardLister;
  /**
   * Records this worker has processed so far, written into its heartbeat item at each beat so
   * that whoever reads the lease table (the status page) can show records/s per worker.
   * @defaultValue not published
   */
  recordsProcessed?: () => number;
}

export interface ResolvedLeaseTuning {
  initialPosition: InitialPosition;
  leaseDurationMs: number;
  heartbeatIntervalMs: number;
  assignmentIntervalMs: number;
  shardSyncIntervalMs: number;
  handOffTimeoutMs: number;
  takeoverMarginMs: number;
  maxLeasesPerWorker: number;
}

export interface ResolvedLeaseOptions extends ResolvedLeaseTuning {
  streamArn: string;
  leaseTableName: string;
  workerId: string;
}

/**
 * The heartbeat default is a tenth of the lease duration (1 s at the default 10 s): the
 * heartbeat's read is when a hand-off successor picks its lease up, so it bounds hand-off time.
 */
export const HEARTBEATS_PER_LEASE_DURATION = 10;

export const LEASE_DEFAULTS = {
  initialPosition: 'TRIM_HORIZON',
  leaseDurationMs: 10_000,
  shardSyncIntervalMs: 30_000,
  handOffTimeoutMs: 30_000,
  takeoverMarginMs: 1_000,
  maxLeasesPerWorker: Number.POSITIVE_INFINITY,
} as const satisfies Partial<ResolvedLeaseTuning>;

/** The default heartbeat interval for a lease duration. */
export function defaultHeartbeatIntervalMs(leaseDurationMs: number): number {
  return Math.max(1, Math.floor(leaseDurationMs / HEARTBEATS_PER_LEASE_DURATION));
}

export const LEASE_TUNING_KEYS = [
  'initialPosition',
  'leaseDurationMs',
  'heartbeatIntervalMs',
  'assignmentIntervalMs',
  'shardSyncIntervalMs',
  'handOffTimeoutMs',
  'takeoverMarginMs',
  'maxLeasesPerWorker',
] as const satisfies readonly (keyof LeaseTuningOptions)[];

const KNOWN_KEYS = [
  'dynamodb',
  'streamArn',
  'leaseTableName',
  'workerId',
  'clock',
  'logger',
  'shardLister',
  'recordsProcessed',
  ...LEASE_TUNING_KEYS,
] as const satisfies readonly (keyof LeaseCoordinatorOptions)[];

/** DynamoDB table names: 3-255 of a-z A-Z 0-9 _ . - (CreateTable API reference). */
const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

export function isTableName(name: string): boolean {
  return TABLE_NAME.test(name);
}

/** Throws ConfigError unless `name` can be a DynamoDB table; `advice` says how to fix it. */
export function checkLeaseTableName(name: string, advice = ''): string {
  requireThat(
    isTableName(nonEmptyString('leaseTableName', name)),
    `leaseTableName ${JSON.stringify(name)} is not a valid DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)${advice}`,
  );
  return name;
}

/** Key prefixes of the non-lease items; a worker id may not start with them. */
const RESERVED = /^_/;

export function resolveLeaseOptions(options: LeaseCoordinatorOptions): ResolvedLeaseOptions {
  rejectUnknownKeys('lease coordinator', options, KNOWN_KEYS);
  if (!options.dynamodb) throw new ConfigError('dynamodb (a DynamoDBClient for the lease table) is required');
  if (!options.shardLister) {
    throw new ConfigError('shardLister is required: streamsShardLister(streamsClient, streamArn) for a real stream');
  }
  const streamArn = nonEmptyString('streamArn', options.streamArn);
  const leaseTableName = checkLeaseTableName(options.leaseTableName);
  const workerId = nonEmptyString('workerId', options.workerId);
  requireThat(
    !RESERVED.test(workerId),
    `workerId ${JSON.stringify(workerId)} may not start with "_" (reserved for the lease table's own items)`,
  );
  return { streamArn, leaseTableName, workerId, ...resolveTuning(options) };
}

/**
 * The tunables alone, with their defaults and cross-field checks: a `Worker` calls this at
 * construction so bad lease options fail there. Idempotent (a resolved set resolves to itself).
 */
export function resolveLeaseTuning(options: LeaseTuningOptions): ResolvedLeaseTuning {
  rejectUnknownKeys('leases', options, LEASE_TUNING_KEYS);
  return resolveTuning(options);
}

function resolveTuning(options: LeaseTuningOptions): ResolvedLeaseTuning {
  const initialPosition = oneOf(
    'initialPosition',
    options.initialPosition ?? LEASE_DEFAULTS.initialPosition,
    INITIAL_POSITIONS,
  );
  const leaseDurationMs = positiveInteger('leaseDurationMs', options.leaseDurationMs ?? LEASE_DEFAULTS.leaseDurationMs);
  const heartbeatIntervalMs = positiveInteger(
    'heartbeatIntervalMs',
    options.heartbeatIntervalMs ?? defaultHeartbeatIntervalMs(leaseDurationMs),
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
    options.maxLeasesPerWorker === undefined || options.maxLeasesPerWorker === LEASE_DEFAULTS.maxLeasesPerWorker
      ? LEASE_DEFAULTS.maxLeasesPerWorker
      : positiveInteger('maxLeasesPerWorker', options.maxLeasesPerWorker);

  // A worker must get at least two heartbeats through per lease duration, or one lost
  // request fences it (kafkajs refuses heartbeatInterval >= sessionTimeout for the same reason).
  requireThat(
    heartbeatIntervalMs * 2 < leaseDurationMs,
    `heartbeatIntervalMs (${heartbeatIntervalMs}) must be below leaseDurationMs / 2 (${leaseDurationMs / 2}): lower heartbeatIntervalMs or raise leaseDurationMs (the default is a tenth of the lease duration)`,
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
