import type { Clock, Logger, ShardInfo } from '@shardline/core';
import type { ShardLister } from './options.js';

/** What one `ShardDiscovery.sync()` learnt. */
export interface DiscoveredShards {
  /** Every shard known now, in listing order. */
  shards: ShardInfo[];
  /**
   * True after an audit (a full describe): a shard missing from `shards` is gone from the
   * stream. False after an increment: `shards` is the last audit plus what was listed since, so
   * it may still hold trimmed shards, and only an audit may conclude that a shard is gone.
   */
  complete: boolean;
  /** Shards first seen by this sync. */
  added: number;
  /** Shards of the previous audit that this audit no longer lists (trimmed). */
  removed: number;
}

export interface ShardDiscoveryOptions {
  streamArn: string;
  lister: ShardLister;
  /** A full describe at least this often; increments in between. */
  auditIntervalMs: number;
  clock: Clock;
  log: Logger;
}

/**
 * The shard list of one stream, kept current without describing every shard every cycle.
 *
 * DynamoDB Streams lists shards in creation order (shard ids carry their creation time; KCL's
 * DynamoDB Streams adapter 1.x resumes DescribeStream from its earliest closed leaf for the
 * same reason), so the shards created since the last listing are the pages after the newest
 * shard known: an increment is `DescribeStream {ExclusiveStartShardId: newest}`, one call on a
 * quiet stream however many shards it has. Children of a shard that ends are found sooner by
 * the worker that ended it (`ShardFilter CHILD_SHARDS`, see shard-end.ts). A full describe (the
 * audit) runs first, then every `auditIntervalMs` and on `requestAudit()`: it is what notices
 * trimmed shards and anything an increment could miss.
 *
 * One instance per stream ARN; the leader owns it (it is the only one that syncs).
 */
export class ShardDiscovery {
  readonly streamArn: string;
  readonly #o: ShardDiscoveryOptions;
  /** Known shards by id, in listing order; undefined until the first audit. */
  #known: Map<string, ShardInfo> | undefined;
  /** The newest shard listed: increments start past it. */
  #cursor: string | undefined;
  #lastAuditAt = Number.NEGATIVE_INFINITY;
  #auditRequested = false;

  constructor(options: ShardDiscoveryOptions) {
    this.streamArn = options.streamArn;
    this.#o = options;
  }

  /** The next sync describes the stream in full (a new leader, whose state may be stale). */
  requestAudit(): void {
    this.#auditRequested = true;
  }

  /** An audit when due, otherwise an increment. Errors propagate; the caller retries. */
  async sync(): Promise<DiscoveredShards> {
    const now = this.#o.clock.now();
    const known = this.#known;
    const cursor = this.#cursor;
    const listAfter = this.#o.lister.listShardsAfter?.bind(this.#o.lister);
    if (
      known === undefined ||
      cursor === undefined ||
      listAfter === undefined ||
      this.#auditRequested ||
      now >= this.#lastAuditAt + this.#o.auditIntervalMs
    )
      return this.#audit(now);
    let fresh: ShardInfo[];
    try {
      fresh = await listAfter(cursor);
    } catch (err) {
      // The cursor may be the problem (a start shard the service no longer accepts): describe in full next time.
      this.#auditRequested = true;
      throw err;
    }
    let added = 0;
    const unplaced: string[] = [];
    for (const shard of fresh) {
      const before = known.get(shard.shardId);
      // A new shard whose parent this list has never seen (listed before the cursor, against the
      // creation order) is left to the audit: planned now it would look like a root, start at the
      // initial position before its parent, and keep that parent from ever getting a lease.
      if (!before && shard.parentShardId !== undefined && !known.has(shard.parentShardId)) {
        unplaced.push(shard.shardId);
        continue;
      }
      if (!before) added++;
      if (!before || (!before.endingSequenceNumber && shard.endingSequenceNumber)) known.set(shard.shardId, shard);
    }
    if (fresh.length > 0) this.#cursor = fresh[fresh.length - 1]!.shardId;
    if (added > 0) this.#o.log.debug({ streamArn: this.streamArn, added, after: cursor }, 'shards discovered');
    if (unplaced.length > 0) {
      this.#auditRequested = true;
      this.#o.log.warn(
        { streamArn: this.streamArn, shards: unplaced, after: cursor },
        'shards listed whose parent is unknown: left to a full describe, the next sync',
      );
    }
    return { shards: [...known.values()], complete: false, added, removed: 0 };
  }

  async #audit(now: number): Promise<DiscoveredShards> {
    const shards = await this.#o.lister.listShards();
    const before = this.#known;
    const known = new Map(shards.map((shard) => [shard.shardId, shard]));
    let added = 0;
    let removed = 0;
    for (const id of known.keys()) if (!before?.has(id)) added++;
    if (before) for (const id of before.keys()) if (!known.has(id)) removed++;
    this.#known = known;
    this.#cursor = shards.length > 0 ? shards[shards.length - 1]!.shardId : undefined;
    this.#lastAuditAt = now;
    this.#auditRequested = false;
    this.#o.log.debug({ streamArn: this.streamArn, shards: shards.length, added, removed }, 'shard audit');
    return { shards, complete: true, added, removed };
  }
}
