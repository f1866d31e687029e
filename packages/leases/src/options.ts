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
  /**
   * The shards listed after `exclusiveStartShardId` (the shards created since it). Without it
   * every shard sync describes the stream in full.
   */
  listShardsAfter?(exclusiveStartShardId: string): Promise<ShardInfo[]>;
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
   * How often shard sync describes the whole stream (the audit: trimmed shards, anything the
   * increments missed). Between audits a sync reads only the DescribeStream pages after the
   * newest known shard: one call on a quiet stream, where a full describe of a 10,000-shard
   * stream is 100 calls (10 s of the account's 10 DescribeStream/s). A new leader audits first.
   * Also the safety net of the other workers' full reads of the lease table (they read it in
   * full when a change concerns them): at most this long (+0–25 % per worker) between two.
   * @defaultValue 300_000
   */
  shardAuditIntervalMs?: number;
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
  /**
   * How often the leader asks whether a followed table has a new stream (one DescribeTable per
   * table): how late, at most, a re-enabled stream is noticed.
   * @defaultValue 60_000
   */
  streamCheckIntervalMs?: number;
}

/** One stream of the application and where its shards are listed. */
export interface LeaseStream {
  streamArn: string;
  /** `streamsShardLister(streams, streamArn)` for a real stream. */
  shardLister: ShardLister;
  /**
   * Follow the stream's table: when its stream is disabled and re-enabled, the new stream is
   * consumed once every shard of the old one is finished (needs `streamFollowing`).
   * @defaultValue false
   */
  followTable?: boolean;
}

/** How the leader finds a followed table's new stream, and lists streams found at run time. */
export interface StreamFollowing {
  /** The table's latest stream (DescribeTable's LatestStreamArn, or the newest of ListStreams). */
  latestStreamArn(tableName: string): Promise<string | undefined>;
  /** A shard lister for a stream found at run time. */
  shardListerFor(streamArn: string): ShardLister;
}

export interface LeaseCoordinatorOptions extends LeaseTuningOptions {
  /** Client for the lease table. */
  dynamodb: DynamoDBClient;
  /**
   * The application's streams, sharing one lease table (keys: docs/architecture.md, "Lease
   * keys"). Either this or the single-stream shorthand `streamArn` + `shardLister`.
   */
  streams?: readonly LeaseStream[];
  /** Single-stream shorthand for `streams: [{ streamArn, shardLister }]`. */
  streamArn?: string;
  leaseTableName: string;
  /** This worker's stable name (host name, pod name). Two live processes must never share one. */
  workerId: string;
  /** @defaultValue systemClock */
  clock?: Clock;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Single-stream shorthand: where `streamArn`'s shards are listed. */
  shardLister?: ShardLister;
  /** Needed when a stream has `followTable`. */
  streamFollowing?: StreamFollowing;
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
  shardAuditIntervalMs: number;
  handOffTimeoutMs: number;
  takeoverMarginMs: number;
  maxLeasesPerWorker: number;
  streamCheckIntervalMs: number;
}

export interface ResolvedLeaseOptions extends ResolvedLeaseTuning {
  /** Every stream of the application, in the order given, each once. */
  streams: readonly LeaseStream[];
  streamFollowing: StreamFollowing | undefined;
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
  shardAuditIntervalMs: 300_000,
  handOffTimeoutMs: 30_000,
  takeoverMarginMs: 1_000,
  maxLeasesPerWorker: Number.POSITIVE_INFINITY,
  streamCheckIntervalMs: 60_000,
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
  'shardAuditIntervalMs',
  'handOffTimeoutMs',
  'takeoverMarginMs',
  'maxLeasesPerWorker',
  'streamCheckIntervalMs',
] as const satisfies readonly (keyof LeaseTuningOptions)[];

const KNOWN_KEYS = [
  'dynamodb',
  'streams',
  'streamArn',
  'leaseTableName',
  'workerId',
  'clock',
  'logger',
  'shardLister',
  'streamFollowing',
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
  const streams = resolveStreams(options);
  const leaseTableName = checkLeaseTableName(options.leaseTableName);
  const workerId = nonEmptyString('workerId', options.workerId);
  requireThat(
    !RESERVED.test(workerId),
    `workerId ${JSON.stringify(workerId)} may not start with "_" (reserved for the lease table's own items)`,
  );
  requireThat(
    !streams.some((s) => s.followTable) || options.streamFollowing !== undefined,
    "a stream with followTable needs streamFollowing (how to find the table's latest stream)",
  );
  return { streams, streamFollowing: options.streamFollowing, leaseTableName, workerId, ...resolveTuning(options) };
}

function resolveStreams(options: LeaseCoordinatorOptions): LeaseStream[] {
  if (options.streams !== undefined && (options.streamArn !== undefined || options.shardLister !== undefined))
    throw new ConfigError('give either streams or streamArn + shardLister (the single-stream shorthand), not both');
  const given = options.streams ?? [{ streamArn: options.streamArn!, shardLister: options.shardLister! }];
  requireThat(given.length > 0, 'streams must name at least one stream');
  const seen = new Set<string>();
  return given.map((stream, i) => {
    const streamArn = nonEmptyString(options.streams ? `streams[${i}].streamArn` : 'streamArn', stream.streamArn);
    requireThat(!seen.has(streamArn), `stream ${streamArn} is given twice`);
    requireThat(!streamArn.includes('#'), `stream ARN ${streamArn} may not contain "#" (the lease-key separator)`);
    seen.add(streamArn);
    if (!stream.shardLister)
      throw new ConfigError(
        `shardLister is required for ${streamArn}: streamsShardLister(streamsClient, streamArn) for a real stream`,
      );
    return { streamArn, shardLister: stream.shardLister, followTable: stream.followTable === true };
  });
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
  const shardAuditIntervalMs = positiveInteger(
    'shardAuditIntervalMs',
    options.shardAuditIntervalMs ?? LEASE_DEFAULTS.shardAuditIntervalMs,
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
  const streamCheckIntervalMs = positiveInteger(
    'streamCheckIntervalMs',
    options.streamCheckIntervalMs ?? LEASE_DEFAULTS.streamCheckIntervalMs,
  );

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
    shardAuditIntervalMs >= shardSyncIntervalMs,
    `shardAuditIntervalMs (${shardAuditIntervalMs}) must be at least shardSyncIntervalMs (${shardSyncIntervalMs}): an audit is a shard sync that describes the whole stream`,
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
    shardAuditIntervalMs,
    handOffTimeoutMs,
    takeoverMarginMs,
    maxLeasesPerWorker,
    streamCheckIntervalMs,
  };
}
