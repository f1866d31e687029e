import { parentsFinished } from './assignment.js';
import { LeaseConflictError } from './errors.js';
import type { LeaseItem } from './items.js';
import type { CoordinatorParts } from './parts.js';
import { relatedLeaseKey } from './lease-key.js';
import { newLeaseItem } from './shard-sync.js';

export interface ShardEndDeps extends Pick<
  CoordinatorParts,
  'held' | 'store' | 'streams' | 'options' | 'clock' | 'log' | 'me' | 'status'
> {
  takeUp: (row: LeaseItem) => void;
  /** The leader should assign (a split's other child); pokes it when that is us. */
  requestAssignment: () => void;
}

/**
 * Children of a finished shard start now, not at the next shard sync: the worker that wrote
 * SHARD_END lists them, creates their leases, and claims one (a finished shard is replaced one
 * for one); the leader assigns the rest.
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
      const lister = streams.lister(parent.streamArn);
      const children = (await lister.listChildShards(parent.shardId)).sort((a, b) =>
        a.shardId.localeCompare(b.shardId),
      );
      if (children.length === 0) return;
      await store
        .setChildren(
          parent,
          children.map((c) => c.shardId),
        )
        .catch((err: unknown) => log.debug({ ...fields, err }, 'recording children failed'));
      const now = new Date(clock.now()).toISOString();
      // Children are keyed in the parent's style: one stream's keys never change style.
      const childKeys = children.map((child) => relatedLeaseKey(parent, child.shardId));
      for (const [i, child] of children.entries())
        await store.createLease(newLeaseItem(parent.streamArn, child, 'TRIM_HORIZON', now, childKeys[i]), {
          oneShot: true,
        });
      if (!this.#d.status.isRunning() || this.#d.status.isFenced()) return;
      if (this.#d.held.size < options.maxLeasesPerWorker) await this.#claimOne(childKeys);
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
