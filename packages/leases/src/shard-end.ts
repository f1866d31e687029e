import type { ShardInfo } from '@shardline/core';
import { parentsFinished } from './assignment.js';
import { LeaseConflictError } from './errors.js';
import type { LeaseItem, TableSnapshot } from './items.js';
import type { CoordinatorParts } from './parts.js';
import { relatedLeaseKey, shardRef } from './lease-key.js';
import { newLeaseItem } from './shard-sync.js';

export interface ShardEndDeps extends Pick<
  CoordinatorParts,
  'held' | 'store' | 'streams' | 'options' | 'clock' | 'log' | 'me' | 'status'
> {
  takeUp: (row: LeaseItem) => void;
  /** The last full read of the lease table (undefined before the first). */
  lastSnapshot: () => TableSnapshot | undefined;
  /** The leader should assign (a split's other child); pokes it when that is us. */
  requestAssignment: () => void;
}

/**
 * Children of a finished shard start now, not at the next shard sync: the worker that wrote
 * SHARD_END lists them, creates their leases, and claims one (a finished shard is replaced one
 * for one); the leader assigns the rest. Children whose leases the table already has (the
 * leader's shard sync listed them) are not listed again: a new application reading 10,000
 * shards of history from TRIM_HORIZON ends thousands of shards in minutes, and a DescribeStream
 * each would be far over the account's 10 a second.
 */
export class ShardEnd {
  readonly #d: ShardEndDeps;

  constructor(deps: ShardEndDeps) {
    this.#d = deps;
  }

  async startChildren(parent: LeaseItem): Promise<void> {
    const { streams, store, log, options, clock } = this.#d;
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
      if (this.#d.held.size < options.maxLeasesPerWorker)
        await this.#claimOne(childIds.map((id) => relatedLeaseKey(parent, id)));
      this.#d.requestAssignment();
    } catch (err) {
      log.warn({ ...fields, err }, 'starting the children of a finished shard failed; shard sync will');
    }
  }

  async #claimOne(childKeys: string[]): Promise<void> {
    const { store } = this.#d;
    for (const childKey of childKeys) {
      const row = await store.getLease(childKey);
      if (!row || row.leaseOwner !== undefined || row.checkpoint === 'SHARD_END') continue;
      const parents = await Promise.all(
        row.parentShardIds.map(async (id) => {
          const key = relatedLeaseKey(row, id);
          return { key, lease: await store.getLease(key) };
        }),
      );
      const byKey = new Map(parents.flatMap(({ lease }) => (lease ? [[lease.leaseKey, lease] as const] : [])));
      // A parent row that exists but fails its schema is not finished: the leader decides once its shard left the stream.
      const invalid = new Set<string>();
      for (const { key, lease } of parents) if (!lease && (await store.getRaw(key))) invalid.add(key);
      if (!parentsFinished(row, byKey, invalid)) continue;
      try {
        this.#d.takeUp(await store.transfer(row, this.#d.me));
        return;
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) throw err;
      }
    }
  }
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
