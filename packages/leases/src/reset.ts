import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError, ShardlineError, silentLogger, systemClock, type Clock, type Logger } from '@shardline/core';
import { listShards, ShardReader, type RecordBatch, type StreamsClient } from '@shardline/streams';
import { auditItem } from './audit.js';
import { LeaseConflictError } from './errors.js';
import { LeaseStore } from './lease-store.js';
import {
  describeTarget,
  planReset,
  type ResetChange,
  type ResetPlan,
  type ResetTarget,
  type ShardScan,
} from './reset-plan.js';

/**
 * The I/O half of `shardline reset`: read the lease table and the stream, plan (reset-plan.ts),
 * and with `apply` move the leases with conditional writes, parents first, then audit.
 * Moving a held lease bumps its counter, which fences its owner: the owner's next checkpoint
 * fails and it stops the shard; the leader then places the lease again at its new position.
 */

/** Attempts per lease when a worker's checkpoint lands between our read and our write. */
const RESET_ATTEMPTS = 3;

/** Workers hold leases the reset would move, and `force` was not given. */
export class LeasesHeldError extends ShardlineError {
  readonly held: ReadonlyArray<{ shardId: string; owner: string }>;
  constructor(held: ReadonlyArray<{ shardId: string; owner: string }>) {
    const owners = [...new Set(held.map((h) => h.owner))];
    super(
      `${held.length} lease(s) are held by ${owners.join(', ')}: stop those workers (or wait until their leases expire and are released), or give --force to fence them first`,
      { retryable: false },
    );
    this.held = held;
  }
}

export interface ResetOptions {
  dynamodb: DynamoDBClient;
  streams: StreamsClient;
  leaseTableName: string;
  target: ResetTarget;
  /** Only this stream's leases. @defaultValue every stream the lease table names */
  streamArn?: string | undefined;
  /** Move held leases too, fencing their owners. */
  force: boolean;
  /** False: plan only (a dry run). */
  apply: boolean;
  /** Who runs it, for the audit item. */
  actor: string;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
}

export interface ResetResult {
  streams: Array<{ streamArn: string; plan: ResetPlan }>;
  held: Array<{ shardId: string; owner: string }>;
  applied: boolean;
  /** What was written, `from` as it was at the write. */
  written: ResetChange[];
}

export async function resetLeases(options: ResetOptions): Promise<ResetResult> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  if (options.target.kind === 'timestamp' && !(options.target.at <= clock.now()))
    throw new ConfigError(
      `--to-timestamp ${describeTarget(options.target)} is not in the past: use --to latest to skip to now`,
    );
  const store = new LeaseStore(options.dynamodb, options.leaseTableName, clock);
  const snapshot = await store.scan();
  const streamArns = options.streamArn
    ? [options.streamArn]
    : [...new Set(snapshot.leases.map((l) => l.streamArn))].sort();
  if (streamArns.length === 0)
    throw new ConfigError(
      `lease table ${options.leaseTableName} has no leases: nothing to reset (a new application starts where --initial-position says)`,
    );
  const now = new Date(clock.now()).toISOString();
  const result: ResetResult = { streams: [], held: [], applied: false, written: [] };
  for (const streamArn of streamArns) {
    const shards = await listShards(options.streams, streamArn, { clock, logger });
    const scans =
      options.target.kind === 'timestamp'
        ? await scanShards(
            options.streams,
            streamArn,
            shards.map((s) => s.shardId),
            options.target.at,
            clock,
            logger,
          )
        : undefined;
    const leases = snapshot.leases.filter((l) => l.streamArn === streamArn);
    const plan = planReset({ streamArn, shards, leases, target: options.target, scans, now });
    result.streams.push({ streamArn, plan });
    for (const change of plan.changes)
      if (change.owner !== undefined) result.held.push({ shardId: change.shardId, owner: change.owner });
  }
  if (!options.apply) return result;
  if (result.held.length > 0 && !options.force) throw new LeasesHeldError(result.held);

  for (const { streamArn, plan } of result.streams) {
    const written: ResetChange[] = [];
    for (const change of plan.changes) {
      const done = await applyChange(store, change, options.force);
      if (done) written.push(done);
    }
    await store.putAudit(
      auditItem({
        action: 'reset',
        actor: options.actor,
        at: new Date(clock.now()).toISOString(),
        target: describeTarget(options.target),
        streamArn,
        ...(options.force ? { forced: true } : {}),
        changes: written.map((c) => ({ shardId: c.shardId, ...(c.from ? { from: c.from } : {}), to: c.to })),
      }),
    );
    result.written.push(...written);
  }
  // Workers read the whole table when the epoch moves: they see their leases gone at once.
  await store.bumpEpoch();
  result.applied = true;
  return result;
}

/** One lease moved (or created), read again and decided again when a checkpoint raced the write. */
async function applyChange(store: LeaseStore, change: ResetChange, force: boolean): Promise<ResetChange | undefined> {
  let lease = change.lease;
  for (let attempt = 1; ; attempt++) {
    try {
      if (lease === undefined) {
        if (await store.createLease(change.item, { oneShot: true })) return { ...change, from: undefined };
      } else {
        if (lease.leaseOwner !== undefined && !force)
          throw new LeasesHeldError([{ shardId: lease.shardId, owner: lease.leaseOwner }]);
        if (lease.checkpoint === change.to && lease.leaseOwner === undefined) return undefined;
        await store.resetLease(lease, change.to);
        return { ...change, lease, from: lease.checkpoint, owner: lease.leaseOwner };
      }
    } catch (err) {
      if (!(err instanceof LeaseConflictError)) throw err;
    }
    // Lost a race (a checkpoint, a shard sync creating the lease meanwhile).
    if (attempt >= RESET_ATTEMPTS)
      throw new ConfigError(`lease ${change.shardId} kept changing during the reset; run it again`);
    lease = await store.getLease(change.shardId);
  }
}

/**
 * Finds, in each shard, where a time falls, reading it from its oldest record with a real
 * ShardReader (its retries, throttling backoff and iterator refresh). DynamoDB Streams has no
 * AT_TIMESTAMP iterator, so this costs one read of the retained records (up to 24 h).
 * `ApproximateCreationDateTime` is coarse (seconds on AWS, minutes on DynamoDB Local): records
 * stamped with the same second as the time count as at or after it.
 */
async function scanShards(
  streams: StreamsClient,
  streamArn: string,
  shardIds: readonly string[],
  at: number,
  clock: Clock,
  logger: Logger,
): Promise<Map<string, ShardScan>> {
  const scans = new Map<string, ShardScan>();
  for (const shardId of shardIds) {
    const reader = new ShardReader({
      client: streams,
      streamArn,
      shardId,
      start: { type: 'TRIM_HORIZON' },
      prefetch: 0,
      clock,
      logger,
    });
    try {
      scans.set(shardId, await scanShard(reader, at));
    } finally {
      await reader.close();
    }
  }
  return scans;
}

/** The search over one shard's batches (pure over its input, so it is tested on plain batches). */
export async function scanShard(batches: AsyncIterable<RecordBatch>, at: number): Promise<ShardScan> {
  let lastBefore: string | undefined;
  for await (const batch of batches) {
    for (const record of batch.records) {
      const created = record.dynamodb?.ApproximateCreationDateTime;
      if (created !== undefined && created.getTime() >= at) return { lastBefore, reached: true, closed: false };
      lastBefore = record.dynamodb?.SequenceNumber ?? lastBefore;
    }
    if (batch.shardEnd) return { lastBefore, reached: false, closed: true };
    // An empty answer from an open shard: its tip, nothing at or after the time yet.
    if (batch.records.length === 0) return { lastBefore, reached: false, closed: false };
  }
  return { lastBefore, reached: false, closed: true };
}
