import type { ShardInfo } from '@shardline/core';
import { ShardGraph } from '@shardline/streams';
import type { LeaseItem } from './items.js';
import { leaseKeyFor, type LeaseKeyStyle } from './lease-key.js';
import { generations, newLeaseItem } from './shard-sync.js';

/**
 * The pure half of `shardline reset`: where each shard of a stream goes. I/O (the shard list,
 * the timestamp search, the conditional writes) is in reset.ts.
 *
 * A reset is the position a new application would get, applied to a running one: every shard
 * the stream still holds gets a lease, including finished parents whose leases were cleaned up
 * (a replay from TRIM_HORIZON must read them again, and their children must wait on them).
 */

export type ResetTarget =
  | { kind: 'TRIM_HORIZON' }
  | { kind: 'LATEST' }
  /** Epoch ms; each shard's checkpoint comes from the search (`positions`). */
  | { kind: 'timestamp'; at: number };

/** What the search found in one shard, reading from its oldest record (see reset.ts). */
export interface ShardScan {
  /** The last record created before the time, if any. */
  lastBefore?: string | undefined;
  /** A record at or after the time was found. */
  reached: boolean;
  /** The shard is closed and was read to its end. */
  closed: boolean;
}

/**
 * A shard's checkpoint for `--to-timestamp`: right after the last record created before the
 * time (shardline resumes AFTER_SEQUENCE_NUMBER); TRIM_HORIZON when its first record is already
 * at or after it; SHARD_END for a shard closed before it.
 */
export function timestampCheckpoint(scan: ShardScan): string {
  if (!scan.reached && scan.closed) return 'SHARD_END';
  return scan.lastBefore ?? 'TRIM_HORIZON';
}

export function describeTarget(target: ResetTarget): string {
  return target.kind === 'timestamp' ? `timestamp ${new Date(target.at).toISOString()}` : target.kind;
}

export interface ResetInput {
  streamArn: string;
  /** The stream's shards now. */
  shards: readonly ShardInfo[];
  /** This stream's leases. */
  leases: readonly LeaseItem[];
  target: ResetTarget;
  /** How the stream's leases are keyed, for the ones the reset creates (`keyStyleFor`). @defaultValue 'plain' */
  keyStyle?: LeaseKeyStyle | undefined;
  /** For a timestamp target: each shard's scan; for LATEST: each open shard's scan to its tip. */
  scans?: ReadonlyMap<string, ShardScan> | undefined;
  now: string;
}

export interface ResetChange {
  shardId: string;
  /** The lease as read; absent when the reset creates it. */
  lease?: LeaseItem | undefined;
  from?: string | undefined;
  to: string;
  /** The lease's owner when read: a live worker to fence (`--force`). */
  owner?: string | undefined;
  /** The lease to create when there is none (its parents from the stream). */
  item: LeaseItem;
}

export interface ResetPlan {
  /** Parents before children, so no worker ever finds a reset child whose parent is not yet reset. */
  changes: ResetChange[];
  /** Leases already where the reset puts them and unowned: nothing to write. */
  unchanged: string[];
  /** Leases of shards the stream no longer has (shard sync deletes them); not touched. */
  gone: string[];
}

export function planReset(input: ResetInput): ResetPlan {
  const graph = ShardGraph.fromShards(input.shards);
  const leases = new Map(input.leases.map((lease) => [lease.shardId, lease]));
  const targets: LeaseItem[] = [];
  for (const shard of graph.shards()) {
    const to = targetCheckpoint(input, shard, graph);
    const lease = leases.get(shard.shardId);
    // A missing lease at SHARD_END would only record that nothing is to be read.
    if (!lease && to === 'SHARD_END') continue;
    const leaseKey = lease?.leaseKey ?? leaseKeyFor(input.keyStyle ?? 'plain', input.streamArn, shard.shardId);
    targets.push(newLeaseItem(input.streamArn, shard, to, input.now, leaseKey));
  }
  const changes: ResetChange[] = [];
  const unchanged: string[] = [];
  for (const item of generations(targets).flat()) {
    const lease = leases.get(item.shardId);
    if (lease && lease.checkpoint === item.checkpoint && lease.leaseOwner === undefined) {
      unchanged.push(item.shardId);
      continue;
    }
    changes.push({
      shardId: item.shardId,
      lease,
      from: lease?.checkpoint,
      to: item.checkpoint,
      owner: lease?.leaseOwner,
      item,
    });
  }
  const gone = input.leases.filter((lease) => !graph.has(lease.shardId)).map((lease) => lease.shardId);
  return { changes, unchanged, gone };
}

function targetCheckpoint(input: ResetInput, shard: ShardInfo, graph: ShardGraph): string {
  switch (input.target.kind) {
    case 'TRIM_HORIZON':
      return 'TRIM_HORIZON';
    case 'LATEST': {
      // As for a new application at LATEST: history (closed shards) counts as done.
      if (graph.isClosed(shard.shardId)) return 'SHARD_END';
      // A real position, after the shard's last record now: a lease left at LATEST is turned into
      // TRIM_HORIZON by its next hand-off (LeaseStore.transfer), which would undo the reset.
      // Only an empty shard keeps LATEST (a replay of it from TRIM_HORIZON reads nothing old).
      const scan = input.scans?.get(shard.shardId);
      if (!scan) throw new TypeError(`planReset: no scan for open shard ${shard.shardId}`);
      return scan.lastBefore ?? 'LATEST';
    }
    case 'timestamp': {
      const scan = input.scans?.get(shard.shardId);
      if (!scan) throw new TypeError(`planReset: no timestamp scan for ${shard.shardId}`);
      return timestampCheckpoint(scan);
    }
  }
}
