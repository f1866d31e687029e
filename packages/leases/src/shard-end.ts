import { parentsFinished } from './assignment.js';
import { LeaseConflictError } from './errors.js';
import type { LeaseItem } from './items.js';
import type { CoordinatorParts } from './parts.js';
import { newLeaseItem } from './shard-sync.js';

export interface ShardEndDeps extends Pick<
  CoordinatorParts,
  'held' | 'store' | 'lister' | 'options' | 'clock' | 'log' | 'me' | 'status'
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
    const { lister, store, log, options, clock } = this.#d;
    const fields = { shardId: parent.shardId, leaseOwner: this.#d.me.workerId };
    try {
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
      for (const child of children)
        await store.createLease(newLeaseItem(options.streamArn, child, 'TRIM_HORIZON', now), { oneShot: true });
      if (!this.#d.status.isRunning() || this.#d.status.isFenced()) return;
      if (this.#d.held.size < options.maxLeasesPerWorker) await this.#claimOne(children.map((c) => c.shardId));
      this.#d.requestAssignment();
    } catch (err) {
      log.warn({ ...fields, err }, 'starting the children of a finished shard failed; shard sync will');
    }
  }

  async #claimOne(childIds: string[]): Promise<void> {
    const { store } = this.#d;
    for (const childId of childIds) {
      const row = await store.getLease(childId);
      if (!row || row.leaseOwner !== undefined || row.checkpoint === 'SHARD_END') continue;
      const parents = await Promise.all(
        row.parentShardIds.map(async (id) => ({ id, lease: await store.getLease(id) })),
      );
      const byShard = new Map(parents.flatMap(({ lease }) => (lease ? [[lease.shardId, lease] as const] : [])));
      // A parent row that exists but fails its schema is not finished: the leader decides once its shard left the stream.
      const invalid = new Set<string>();
      for (const { id, lease } of parents) if (!lease && (await store.getRaw(id))) invalid.add(id);
      if (!parentsFinished(row, byShard, invalid)) continue;
      try {
        this.#d.takeUp(await store.transfer(row, this.#d.me));
        return;
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) throw err;
      }
    }
  }
}
