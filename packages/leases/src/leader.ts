import type { Clock, Logger } from '@shardline/core';
import { planAssignment } from './assignment.js';
import { forEachLimit } from './concurrency.js';
import { LeaseConflictError } from './errors.js';
import type { LeaseItem, TableSnapshot } from './items.js';
import type { LeaseStore } from './lease-store.js';
import type { Membership } from './membership.js';
import type { ResolvedLeaseOptions, ShardLister } from './options.js';
import { planShardSync } from './shard-sync.js';

/** The leader's I/O: shard sync and assignment, each a plan (pure) followed by conditional writes. */

const WRITE_CONCURRENCY = 32;

export interface LeaderContext {
  store: LeaseStore;
  lister: ShardLister;
  options: ResolvedLeaseOptions;
  clock: Clock;
  log: Logger;
  /**
   * Checked before each write: a leader that was paused and fenced meanwhile stops writing
   * plans made before the pause (they would only lose their conditional races, but churn).
   */
  stillLeader: () => boolean;
  /** Shard ids of the stream's last listing (undefined before the first): invalid rows of shards gone from it block nothing. */
  listedShards?: () => ReadonlySet<string> | undefined;
}

export interface ShardSyncResult {
  created: number;
  deleted: number;
  shards: number;
}

/**
 * With `assign`, new leases that may start at once are written with their owner already set
 * (balanced like an assignment cycle): one write per new shard instead of two, which halves the
 * time a brand-new application of thousands of shards needs to get going.
 */
export async function runShardSync(
  ctx: LeaderContext,
  snapshot: TableSnapshot,
  assign?: { membership: Membership; hooks: AssignmentHooks },
): Promise<ShardSyncResult> {
  const shards = await ctx.lister.listShards();
  const leases = snapshot.leases.filter((lease) => lease.streamArn === ctx.options.streamArn);
  const plan = planShardSync({
    streamArn: ctx.options.streamArn,
    shards,
    leases,
    invalidKeys: new Set(snapshot.invalid.map((row) => row.leaseKey)),
    initialPosition: ctx.options.initialPosition,
    now: new Date(ctx.clock.now()).toISOString(),
  });
  // Parents are written before children, generation by generation: a child lease must never be
  // visible (and so assignable) while its parent's lease is still missing.
  let toCreate = plan.create;
  if (assign && toCreate.length > 0) {
    const now = ctx.clock.now();
    const fresh = new Set(toCreate.map((item) => item.shardId));
    const owners = new Map<string, string>();
    for (const action of planAssignment({
      leases: [...leases, ...toCreate],
      unfinishedKeys: unfinishedKeys(snapshot, new Set(shards.map((s) => s.shardId))),
      alive: assign.membership.assignable(),
      isGone: (workerId) => assign.membership.isGone(workerId, now),
      maxLeasesPerWorker: ctx.options.maxLeasesPerWorker,
    })) {
      if (action.kind === 'take' && fresh.has(action.lease.shardId)) owners.set(action.lease.shardId, action.to);
    }
    toCreate = toCreate.map((item) => {
      const to = owners.get(item.shardId);
      const sessionId = to === undefined ? undefined : assign.membership.sessionOf(to);
      return to !== undefined && sessionId !== undefined
        ? { ...item, leaseOwner: to, ownerSession: sessionId, leaseCounter: 1, ownerSwitchesSinceCheckpoint: 1 }
        : item;
    });
  }
  let created = 0;
  for (const generation of generations(toCreate)) {
    await forEachLimit(generation, WRITE_CONCURRENCY, async (item) => {
      if (!ctx.stillLeader() || !(await ctx.store.createLease(item))) return;
      created++;
      if (item.leaseOwner === ctx.options.workerId) assign?.hooks.acquiredByMe(item);
    });
  }
  let deleted = 0;
  await forEachLimit(plan.delete, WRITE_CONCURRENCY, async (lease) => {
    if (!ctx.stillLeader()) return;
    try {
      await ctx.store.deleteLease(lease);
      deleted++;
      ctx.log.info(
        {
          shardId: lease.shardId,
          leaseOwner: lease.leaseOwner,
          leaseCounter: lease.leaseCounter,
          checkpoint: lease.checkpoint,
        },
        'deleted finished lease',
      );
    } catch (err) {
      if (!(err instanceof LeaseConflictError)) throw err;
    }
  });
  if (created > 0 || deleted > 0) await bumpEpoch(ctx);
  if (plan.newApplication && created > 0) {
    ctx.log.info(
      { created, initialPosition: ctx.options.initialPosition },
      'new application: created the first leases',
    );
  }
  return { created, deleted, shards: shards.length };
}

/** Invalid rows that still hold their children back: all, unless the stream's listing no longer has their shard. */
export function unfinishedKeys(snapshot: TableSnapshot, listed: ReadonlySet<string> | undefined): Set<string> {
  const known = listed !== undefined && listed.size > 0;
  return new Set(snapshot.invalid.map((row) => row.leaseKey).filter((key) => !known || listed.has(key)));
}

function generations(items: LeaseItem[]): LeaseItem[][] {
  const depth = new Map<string, number>();
  const byKey = new Map(items.map((item) => [item.shardId, item]));
  const depthOf = (item: LeaseItem): number => {
    const known = depth.get(item.shardId);
    if (known !== undefined) return known;
    depth.set(item.shardId, 0); // cycle guard
    const parent = item.parentShardIds.map((id) => byKey.get(id)).find((p) => p !== undefined);
    const d = parent ? depthOf(parent) + 1 : 0;
    depth.set(item.shardId, d);
    return d;
  };
  const out: LeaseItem[][] = [];
  for (const item of items) (out[depthOf(item)] ??= []).push(item);
  return out.filter((g) => g.length > 0);
}

export interface AssignmentResult {
  taken: number;
  handOffs: number;
  conflicts: number;
}

export interface AssignmentHooks {
  /** A lease the leader took for itself: held at once, without waiting for the next read. */
  acquiredByMe(row: LeaseItem): void;
  /** A hand-off requested from the leader itself. */
  handOffFromMe(row: LeaseItem, to: string): void;
}

export async function runAssignment(
  ctx: LeaderContext,
  snapshot: TableSnapshot,
  membership: Membership,
  hooks: AssignmentHooks,
): Promise<AssignmentResult> {
  const now = ctx.clock.now();
  const me = ctx.options.workerId;
  const actions = planAssignment({
    leases: snapshot.leases.filter((lease) => lease.streamArn === ctx.options.streamArn),
    unfinishedKeys: unfinishedKeys(snapshot, ctx.listedShards?.()),
    alive: membership.assignable(),
    isGone: (workerId) => membership.isGone(workerId, now),
    maxLeasesPerWorker: ctx.options.maxLeasesPerWorker,
  });
  const result: AssignmentResult = { taken: 0, handOffs: 0, conflicts: 0 };
  await forEachLimit(actions, WRITE_CONCURRENCY, async (action) => {
    const { lease, to } = action;
    const fields = { shardId: lease.shardId, leaseOwner: lease.leaseOwner, leaseCounter: lease.leaseCounter, to };
    const sessionId = membership.sessionOf(to);
    if (!sessionId || !ctx.stillLeader()) return;
    try {
      if (action.kind === 'take') {
        const row = await ctx.store.transfer(lease, { workerId: to, sessionId });
        result.taken++;
        ctx.log.info(
          { ...fields, leaseCounter: row.leaseCounter, previousOwner: lease.leaseOwner ?? null },
          'assigned lease',
        );
        if (to === me) hooks.acquiredByMe(row);
      } else {
        await ctx.store.requestHandOff(lease, { workerId: to, sessionId });
        result.handOffs++;
        ctx.log.info(fields, 'requested hand-off for rebalance');
        if (lease.leaseOwner === me)
          hooks.handOffFromMe({ ...lease, pendingOwner: to, pendingOwnerSession: sessionId }, to);
      }
    } catch (err) {
      if (err instanceof LeaseConflictError) {
        result.conflicts++;
        ctx.log.debug({ ...fields, err }, 'assignment lost a race; decided again next cycle');
      } else ctx.log.warn({ ...fields, err }, 'assignment write failed');
    }
  });
  if (result.taken + result.handOffs > 0) await bumpEpoch(ctx);
  return result;
}

/**
 * Backstop for a hand-off its live owner never completes (its own timer moves the lease after
 * handOffTimeoutMs; this only fires if that did not happen a lease duration later, e.g. a wedged
 * event loop that still heartbeats). Measured on the leader's clock from when it first saw the
 * request; `pendingSince` is the leader's memory of those sightings.
 */
export async function forceStuckHandOffs(
  ctx: LeaderContext,
  snapshot: TableSnapshot,
  membership: Membership,
  pendingSince: Map<string, number>,
  now: number,
): Promise<void> {
  const limit = ctx.options.handOffTimeoutMs + ctx.options.leaseDurationMs + ctx.options.takeoverMarginMs;
  const seen = new Set<string>();
  let forced = 0;
  for (const row of snapshot.leases) {
    if (row.pendingOwner === undefined || row.leaseOwner === undefined) continue;
    const key = `${row.shardId}\u0000${row.leaseCounter}\u0000${row.pendingOwner}`;
    seen.add(key);
    const since = pendingSince.get(key);
    if (since === undefined) {
      pendingSince.set(key, now);
      continue;
    }
    if (now < since + limit || !ctx.stillLeader()) continue;
    const session = membership.sessionOf(row.pendingOwner);
    const fields = {
      shardId: row.shardId,
      leaseOwner: row.leaseOwner,
      leaseCounter: row.leaseCounter,
      to: row.pendingOwner,
    };
    try {
      await ctx.store.transfer(row, session ? { workerId: row.pendingOwner, sessionId: session } : undefined);
      ctx.log.warn(fields, 'hand-off never completed by its live owner; moved by the leader');
      forced++;
    } catch (err) {
      ctx.log.debug({ ...fields, err }, 'forcing a stuck hand-off lost a race');
    }
  }
  for (const key of [...pendingSince.keys()]) if (!seen.has(key)) pendingSince.delete(key);
  if (forced > 0) await bumpEpoch(ctx);
}

/** Lets the other workers know leases changed; failing only delays them to their next full read. */
async function bumpEpoch(ctx: LeaderContext): Promise<void> {
  await ctx.store
    .bumpEpoch()
    .catch((err: unknown) => ctx.log.warn({ err }, 'epoch bump failed; workers notice at their next full read'));
}
