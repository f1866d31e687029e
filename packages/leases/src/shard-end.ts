import type { ShardInfo } from '@shardline/core';
import { parentsFinished } from './assignment.js';
import { LeaseConflictError } from './errors.js';
import type { LeaseItem, TableSnapshot } from './items.js';
import type { CoordinatorParts } from './parts.js';
import { relatedLeaseKey, shardRef } from './lease-key.js';
import { newLeaseItem } from './shard-sync.js';

export interface ShardEndDeps extends Pick<
  CoordinatorParts,
  'held' | 'store' | 'streams' | 'membership' | 'options' | 'clock' | 'log' | 'me' | 'status'
> {
  takeUp: (row: LeaseItem) => void;
  /** The last full read of the lease table (undefined before the first). */
  lastSnapshot: () => TableSnapshot | undefined;
  /** The leader should assign (a split's other child); pokes it when that is us. */
  requestAssignment: () => void;
}

/**
 * Children of a finished shard start now, not at the next shard sync: the worker that wrote
 * SHARD_END lists them, creates their leases, and claims as many as its fair share allows (at
 * least one: a finished shard is replaced one for one; both children of a split when the
 * worker holds no more than its share); the leader assigns the rest. Children whose leases the
 * table already has (the leader's shard sync listed them) are not listed again: a new
 * application reading 10,000 shards of history from TRIM_HORIZON ends thousands of shards in
 * minutes, and a DescribeStream each would be far over the account's 10 a second.
 */
export class ShardEnd {
  readonly #d: ShardEndDeps;

  constructor(deps: ShardEndDeps) {
    this.#d = deps;
  }

  async startChildren(parent: LeaseItem): Promise<void> {
    const { streams, store, log, clock } = this.#d;
    const fields = { shardId: parent.shardId, streamArn: parent.streamArn, leaseOwner: this.#d.me.workerId };
    try {
      // Known without asking the stream: recorded with the lease by the leader's sync, or leased already.
      const recorded = parent.childShardIds ?? [];
      const leased = recorded.length > 0 ? [] : childLeases(this.#d.lastSnapshot(), parent);
      // Recorded children are created by the same sync (next generation): claimed, never created
      // here, so their leases carry their own children and their ends need no DescribeStream either.
      const children: ShardInfo[] =
        recorded.length > 0 || leased.length > 0
          ? []
          : (await streams.lister(parent.streamArn).listChildShards(parent.shardId)).sort((a, b) =>
              a.shardId.localeCompare(b.shardId),
            );
      const childIds = recorded.length > 0 ? recorded : leased.length > 0 ? leased : children.map((c) => c.shardId);
      if (childIds.length === 0) return;
      if (recorded.length === 0)
        await store
          .setChildren(parent, childIds)
          .catch((err: unknown) => log.debug({ ...fields, err }, 'recording children failed'));
      const now = new Date(clock.now()).toISOString();
      // Children are keyed in the parent's style: one stream's keys never change style.
      // Conditional creates: a lease the leader's sync wrote meanwhile is left as it is.
      for (const child of children)
        await store.createLease(
          newLeaseItem(parent.streamArn, child, 'TRIM_HORIZON', now, relatedLeaseKey(parent, child.shardId)),
          { oneShot: true },
        );
      if (!this.#d.status.isRunning() || this.#d.status.isFenced()) return;
      await this.#claim(
        parent,
        childIds.map((id) => relatedLeaseKey(parent, id)),
      );
      this.#d.requestAssignment();
    } catch (err) {
      log.warn({ ...fields, err }, 'starting the children of a finished shard failed; shard sync will');
    }
  }

  /**
   * Claims children in key order: the first whenever the worker may hold another lease, each
   * further one while it holds less than its fair share — the leases of the live workers (their
   * last heartbeats' counts, ours now) and these children, over the live workers, rounded up —
   * so a split's two children start at once without piling onto one worker.
   */
  async #claim(parent: LeaseItem, childKeys: string[]): Promise<void> {
    const { held, options, membership, me } = this.#d;
    const workers = new Set([...membership.assignable(), me.workerId]).size;
    const total = membership.leasesHeldByOthers(me.workerId) + held.size + childKeys.length;
    const share = Math.ceil(total / workers);
    const known = leaseRows(this.#d.lastSnapshot());
    let claimed = 0;
    for (const childKey of childKeys) {
      if (held.size >= options.maxLeasesPerWorker || (claimed > 0 && held.size >= share)) return;
      if (await this.#claimChild(parent, childKey, known.get(childKey))) claimed++;
    }
  }

  /**
   * One child, if it is free and its parents are finished. The row from the last full read is
   * tried first (the write is conditional on its counter and on having no owner, so a stale row
   * only loses the race). Without one, the claim is written blind (`claimFree`: no owner, not
   * finished) and the row comes back with it: one request instead of a read and a write for each
   * of the thousands of children a long history's ends start. After a lost race, or a row the
   * blind claim may not take (at LATEST), the row is read.
   */
  async #claimChild(parent: LeaseItem, childKey: string, cached: LeaseItem | undefined): Promise<boolean> {
    const { store } = this.#d;
    if (cached === undefined) {
      const taken = await store.claimFree(childKey, this.#d.me);
      if (taken !== undefined) {
        if (await this.#parentsFinished(parent, taken)) {
          this.#d.takeUp(taken);
          return true;
        }
        // Another parent is still being read: given back unread, before anyone starts it.
        await store.transfer(taken, undefined);
        return false;
      }
    }
    let row = cached ?? (await store.getLease(childKey));
    for (let attempt = 0; row !== undefined; attempt++) {
      if (row.leaseOwner !== undefined || row.checkpoint === 'SHARD_END') return false;
      if (!(await this.#parentsFinished(parent, row))) return false;
      try {
        this.#d.takeUp(await store.transfer(row, this.#d.me));
        return true;
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) throw err;
        if (attempt > 0 || cached === undefined) return false;
        row = await store.getLease(childKey);
      }
    }
    return false;
  }

  /** The parent this worker just finished is known to be; any other is read. */
  async #parentsFinished(parent: LeaseItem, row: LeaseItem): Promise<boolean> {
    const { store } = this.#d;
    const others = row.parentShardIds.map((id) => relatedLeaseKey(row, id)).filter((key) => key !== parent.leaseKey);
    if (others.length === 0) return true;
    const parents = await Promise.all(others.map(async (key) => ({ key, lease: await store.getLease(key) })));
    const byKey = new Map(parents.flatMap(({ lease }) => (lease ? [[lease.leaseKey, lease] as const] : [])));
    // A parent row that exists but fails its schema is not finished: the leader decides once its shard left the stream.
    const invalid = new Set<string>();
    for (const { key, lease } of parents) if (!lease && (await store.getRaw(key))) invalid.add(key);
    return parentsFinished(row, byKey, invalid);
  }
}

/** Lease rows by key, per snapshot (built once: a snapshot may hold 10,000 leases). */
const rowIndex = new WeakMap<TableSnapshot, Map<string, LeaseItem>>();

function leaseRows(snapshot: TableSnapshot | undefined): ReadonlyMap<string, LeaseItem> {
  if (!snapshot) return new Map();
  let rows = rowIndex.get(snapshot);
  if (!rows) {
    rows = new Map(snapshot.leases.map((lease) => [lease.leaseKey, lease]));
    rowIndex.set(snapshot, rows);
  }
  return rows;
}

/** (Stream, parent shard id) → child shard ids, per snapshot (built once: a snapshot may hold 10,000 leases). */
const childIndex = new WeakMap<TableSnapshot, Map<string, string[]>>();

/** Shard ids of the leases in `snapshot` of the parent's stream that name it as a parent, sorted. */
export function childLeases(
  snapshot: TableSnapshot | undefined,
  parent: { streamArn: string; shardId: string },
): string[] {
  if (!snapshot) return [];
  let index = childIndex.get(snapshot);
  if (!index) {
    index = new Map();
    for (const lease of snapshot.leases)
      for (const parentId of lease.parentShardIds) {
        const ref = shardRef(lease.streamArn, parentId);
        const list = index.get(ref);
        if (list) list.push(lease.shardId);
        else index.set(ref, [lease.shardId]);
      }
    for (const list of index.values()) list.sort();
    childIndex.set(snapshot, index);
  }
  return index.get(shardRef(parent.streamArn, parent.shardId)) ?? [];
}
