import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError, ShardlineError, silentLogger, systemClock, type Clock, type Logger } from '@shardline/core';
import { listShards, ShardGraph, ShardReader, type RecordBatch, type StreamsClient } from '@shardline/streams';
import { auditItem } from './audit.js';
import { LeaseConflictError } from './errors.js';
import type { WorkerItem } from './items.js';
import { keyStyleFor } from './lease-key.js';
import { LeaseStore } from './lease-store.js';
import { LEASE_DEFAULTS } from './options.js';
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

/** Live workers hold leases the reset would move, and `force` was not given. */
export class LeasesHeldError extends ShardlineError {
  readonly held: ReadonlyArray<{ shardId: string; owner: string }>;
  constructor(held: ReadonlyArray<{ shardId: string; owner: string }>) {
    const owners = [...new Set(held.map((h) => h.owner))];
    // Only live owners land here (see `liveOwners`): a live worker keeps renewing its leases, so
    // waiting would not help; a crashed one's leases are moved without --force.
    super(
      `${held.length} lease(s) are held by live worker(s) ${owners.join(', ')}: stop those workers, or give --force to fence them first`,
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
  /**
   * A lease's owner counts as live only if its heartbeat item was written less than this long
   * ago (by its `updatedAt`, the worker's clock). @defaultValue LEASE_DEFAULTS.leaseDurationMs
   */
  leaseDurationMs?: number | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
}

export interface ResetResult {
  streams: Array<{ streamArn: string; plan: ResetPlan }>;
  held: Array<{ shardId: string; owner: string }>;
  applied: boolean;
  /** What was written, `from` as it was at the write. */
  written: ResetChange[];
  /** Leases whose owner had no fresh heartbeat (crashed or gone): moved without --force. */
  stale: Array<{ shardId: string; owner: string }>;
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
  const result: ResetResult = { streams: [], held: [], applied: false, written: [], stale: [] };
  // By lease key: shard ids repeat across streams.
  const staleKeys = new Set<string>();
  const live = liveOwners(snapshot.workers, clock.now(), options.leaseDurationMs ?? LEASE_DEFAULTS.leaseDurationMs);
  for (const streamArn of streamArns) {
    const shards = await listShards(options.streams, streamArn, { clock, logger });
    // LATEST is a scan to the tip of each open shard (every record is before +Infinity).
    const graph = ShardGraph.fromShards(shards);
    const scans =
      options.target.kind === 'TRIM_HORIZON'
        ? undefined
        : await scanShards(
            options.streams,
            streamArn,
            shards.map((s) => s.shardId).filter((id) => options.target.kind === 'timestamp' || !graph.isClosed(id)),
            options.target.kind === 'timestamp' ? options.target.at : Number.POSITIVE_INFINITY,
            clock,
            logger,
          );
    const leases = snapshot.leases.filter((l) => l.streamArn === streamArn);
    const keyStyle = keyStyleFor(streamArn, snapshot.leases, streamArns);
    const plan = planReset({ streamArn, shards, leases, target: options.target, keyStyle, scans, now });
    result.streams.push({ streamArn, plan });
    for (const change of plan.changes) {
      if (change.owner === undefined) continue;
      const entry = { shardId: change.shardId, owner: change.owner };
      if (live.has(ownerKey(change.owner, change.lease?.ownerSession))) result.held.push(entry);
      else {
        result.stale.push(entry);
        staleKeys.add(change.item.leaseKey);
      }
    }
  }
  if (!options.apply) return result;
  if (result.held.length > 0 && !options.force) throw new LeasesHeldError(result.held);

  // A reset that stops partway (a worker took a lease meanwhile, a lease kept changing) has
  // still moved leases: audit what was written (`partial`) and bump the epoch before rethrowing,
  // so the table records every move and workers notice the moved leases at once.
  let finished = false;
  try {
    for (const { streamArn, plan } of result.streams) {
      const written: ResetChange[] = [];
      let complete = false;
      try {
        for (const change of plan.changes) {
          const done = await applyChange(store, change, options.force, staleKeys.has(change.item.leaseKey));
          if (done) written.push(done);
        }
        complete = true;
      } finally {
        result.written.push(...written);
        if (complete || written.length > 0) await putResetAudit(store, options, clock, streamArn, written, !complete);
      }
    }
    finished = true;
  } finally {
    // Workers read the whole table when the epoch moves: they see their leases gone at once.
    if (finished || result.written.length > 0) await store.bumpEpoch();
  }
  result.applied = true;
  return result;
}

async function putResetAudit(
  store: LeaseStore,
  options: ResetOptions,
  clock: Clock,
  streamArn: string,
  written: readonly ResetChange[],
  partial: boolean,
): Promise<void> {
  await store.putAudit(
    auditItem({
      action: 'reset',
      actor: options.actor,
      at: new Date(clock.now()).toISOString(),
      target: describeTarget(options.target),
      streamArn,
      ...(options.force ? { forced: true } : {}),
      ...(partial ? { partial: true } : {}),
      changes: written.map((c) => ({ shardId: c.shardId, ...(c.from ? { from: c.from } : {}), to: c.to })),
    }),
  );
}

function ownerKey(owner: string, session: string | undefined): string {
  return `${owner}\u0000${session ?? ''}`;
}

/**
 * Owners (worker id and session) whose heartbeat item was written within one lease duration.
 * A one-shot command cannot watch heartbeat counters move, so it reads `updatedAt`, the
 * worker's own clock: skew between machines shifts the line by the skew. A lease with no live
 * owner belongs to a crashed worker: nothing will release it, so it is moved without --force
 * (its counter bump still fences a worker that comes back).
 */
function liveOwners(workers: readonly WorkerItem[], now: number, leaseDurationMs: number): Set<string> {
  const live = new Set<string>();
  for (const w of workers) {
    const at = w.updatedAt === undefined ? Number.NaN : Date.parse(w.updatedAt);
    if (!(now - at < leaseDurationMs)) continue;
    live.add(ownerKey(w.workerId, w.sessionId));
    // A lease row written without ownerSession (older rows) matches the worker id alone.
    live.add(ownerKey(w.workerId, undefined));
  }
  return live;
}

/** One lease moved (or created), read again and decided again when a checkpoint raced the write. */
async function applyChange(
  store: LeaseStore,
  change: ResetChange,
  force: boolean,
  staleOwner: boolean,
): Promise<ResetChange | undefined> {
  let lease = change.lease;
  for (let attempt = 1; ; attempt++) {
    try {
      if (lease === undefined) {
        if (await store.createLease(change.item, { oneShot: true })) return { ...change, from: undefined };
      } else {
        // The planned crashed owner may be moved; anyone else who took the lease meanwhile is live.
        const sameOwner = lease.leaseOwner === change.owner && lease.ownerSession === change.lease?.ownerSession;
        if (lease.leaseOwner !== undefined && !force && !(staleOwner && sameOwner))
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
    // By the lease's key, not its shard id: a stream of several keys them `<streamArn>#<shardId>`.
    lease = await store.getLease(change.item.leaseKey);
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
      // Empty pages are read through (see EMPTY_PAGES_AT_TIP): keep the pause between them short.
      idleIntervalMs: 50,
      maxIdleIntervalMs: 50,
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

/**
 * Consecutive empty pages that end the search in an open shard. GetRecords "might take multiple
 * calls to get to a portion of the shard that contains stream records", so one empty page is no
 * proof of the tip; DynamoDB Streams has no MillisBehindLatest to tell, hence a bound.
 */
export const EMPTY_PAGES_AT_TIP = 5;

/** The search over one shard's batches (pure over its input, so it is tested on plain batches). */
export async function scanShard(
  batches: AsyncIterable<RecordBatch>,
  at: number,
  emptyPagesAtTip = EMPTY_PAGES_AT_TIP,
): Promise<ShardScan> {
  let lastBefore: string | undefined;
  let empty = 0;
  for await (const batch of batches) {
    for (const record of batch.records) {
      const created = record.dynamodb?.ApproximateCreationDateTime;
      if (created !== undefined && created.getTime() >= at) return { lastBefore, reached: true, closed: false };
      lastBefore = record.dynamodb?.SequenceNumber ?? lastBefore;
    }
    if (batch.shardEnd) return { lastBefore, reached: false, closed: true };
    empty = batch.records.length === 0 ? empty + 1 : 0;
    // Several empty answers in a row from an open shard: taken as its tip.
    if (empty >= emptyPagesAtTip) return { lastBefore, reached: false, closed: false };
  }
  return { lastBefore, reached: false, closed: true };
}
