import type { InitialPosition, ShardInfo } from '@shardline/core';
import { ShardGraph } from '@shardline/streams';
import type { LeaseItem } from './items.js';
import { leaseKeyFor, type LeaseKeyStyle } from './lease-key.js';

/**
 * Shard sync, the decision half (pure): which leases to create and which to delete, from the
 * stream's shard list and the lease table. The leader runs it; the I/O half is in
 * leader-shard-sync.ts. (How it differs from KCL's HierarchicalShardSyncer: docs/architecture.md.)
 */

export interface ShardSyncInput {
  streamArn: string;
  shards: readonly ShardInfo[];
  /**
   * Whether `shards` is a full listing (an audit). Only then is a lease whose shard is missing
   * deleted as trimmed: an increment's list may lack a shard it has not seen yet.
   * @defaultValue true
   */
  listingComplete?: boolean;
  /** Valid leases of this stream. */
  leases: readonly LeaseItem[];
  /**
   * Shards this listing saw for the first time: a lease not finished yet, without
   * `childShardIds`, whose children are among them gets them recorded (`recordChildren`).
   * @defaultValue none
   */
  freshShardIds?: ReadonlySet<string> | undefined;
  /** Keys of rows that exist but fail the schema: never overwritten. */
  invalidKeys: ReadonlySet<string>;
  initialPosition: InitialPosition;
  /** How this stream's new leases are keyed (`keyStyleFor`). @defaultValue 'plain' */
  keyStyle?: LeaseKeyStyle | undefined;
  now: string;
}

export interface ShardSyncPlan {
  create: LeaseItem[];
  delete: LeaseItem[];
  /**
   * Leases whose children were just listed: recorded on them (`childShardIds`), so the worker
   * that ends the shard starts its children without a DescribeStream of its own.
   */
  recordChildren: Array<{ lease: LeaseItem; childShardIds: string[] }>;
  /** True when the table had no lease of this stream: root shards got the initial position. */
  newApplication: boolean;
}

export function planShardSync(input: ShardSyncInput): ShardSyncPlan {
  const graph = ShardGraph.fromShards(input.shards);
  const leases = new Map(input.leases.map((lease) => [lease.shardId, lease]));
  const keyOf = (shardId: string) => leaseKeyFor(input.keyStyle ?? 'plain', input.streamArn, shardId);
  const invalid = (shardId: string) => input.invalidKeys.has(keyOf(shardId));
  const newApplication = input.leases.length === 0 && input.invalidKeys.size === 0;
  const latest = newApplication && input.initialPosition === 'LATEST';

  // A shard whose descendant already has a lease was finished (and its lease cleaned up):
  // recreating it would read it again from TRIM_HORIZON.
  const hasLeasedDescendant = new Set<string>();
  for (const shard of [...graph.shards()].reverse()) {
    const children = graph.childrenOf(shard.shardId);
    // An invalid row counts as a lease: it may be a started child someone hand-edited.
    if (children.some((c) => leases.has(c.shardId) || invalid(c.shardId) || hasLeasedDescendant.has(c.shardId)))
      hasLeasedDescendant.add(shard.shardId);
  }

  const create: LeaseItem[] = [];
  for (const shard of graph.shards()) {
    if (leases.has(shard.shardId) || invalid(shard.shardId) || hasLeasedDescendant.has(shard.shardId)) continue;
    // LATEST (new application only) reads what arrives from now on: history, i.e. closed
    // shards, is done. A closed shard with children gets no lease at all (a missing parent
    // holds nobody back, and once its descendants are leased no later sync recreates it): a
    // stream of 10,000 shards, 1,000 open, is 1,000 writes, not 10,000. A closed shard without
    // children in the listing (a disabled stream's last shards, or children not listed yet)
    // is written finished, so no later sync takes it for a new shard to read from TRIM_HORIZON.
    if (latest && graph.isClosed(shard.shardId) && graph.childrenOf(shard.shardId).length > 0) continue;
    const checkpoint = latest ? (graph.isClosed(shard.shardId) ? 'SHARD_END' : 'LATEST') : 'TRIM_HORIZON';
    const item = newLeaseItem(input.streamArn, shard, checkpoint, input.now, keyOf(shard.shardId));
    // Children known now are recorded with the lease: its shard end then needs no DescribeStream.
    const children = graph.childrenOf(shard.shardId).map((c) => c.shardId);
    create.push(children.length > 0 ? { ...item, childShardIds: children } : item);
  }

  const deletions: LeaseItem[] = [];
  // An empty listing is never trusted to mean "every shard is gone".
  if (input.shards.length > 0) {
    for (const lease of input.leases) {
      if (!graph.has(lease.shardId)) {
        // Trimmed from the stream: nothing left to read, and its children count it as gone.
        if (input.listingComplete !== false) deletions.push(lease);
        continue;
      }
      if (lease.checkpoint !== 'SHARD_END') continue;
      const children = graph.childrenOf(lease.shardId);
      const started = (child: ShardInfo) => {
        const childLease = leases.get(child.shardId);
        if (!childLease) return hasLeasedDescendant.has(child.shardId);
        return (
          childLease.leaseOwner !== undefined ||
          (childLease.checkpoint !== 'TRIM_HORIZON' && childLease.checkpoint !== 'LATEST')
        );
      };
      if (children.length > 0 && children.every(started)) deletions.push(lease);
    }
  }
  const recordChildren: ShardSyncPlan['recordChildren'] = [];
  const fresh = input.freshShardIds;
  if (fresh !== undefined && fresh.size > 0)
    for (const lease of input.leases) {
      if (lease.checkpoint === 'SHARD_END' || lease.childShardIds !== undefined) continue;
      const children = graph.childrenOf(lease.shardId).map((c) => c.shardId);
      if (children.some((id) => fresh.has(id))) recordChildren.push({ lease, childShardIds: children });
    }
  return { create, delete: deletions, recordChildren, newApplication };
}

/** A new, unowned lease; keyed by the bare shard id unless another `leaseKey` is given (lease-key.ts). */
export function newLeaseItem(
  streamArn: string,
  shard: ShardInfo,
  checkpoint: string,
  now: string,
  leaseKey: string = shard.shardId,
): LeaseItem {
  return {
    leaseKey,
    itemType: 'lease',
    shardId: shard.shardId,
    streamArn,
    leaseCounter: 0,
    checkpoint,
    parentShardIds: shard.parentShardId ? [shard.parentShardId] : [],
    ownerSwitchesSinceCheckpoint: 0,
    updatedAt: now,
  };
}

/** New leases by generation (roots first, then their children…), so parents are written before children. */
export function generations(items: LeaseItem[]): LeaseItem[][] {
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
