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
  /** Their ids (the children a sync may record on their parents' leases). */
  fresh: ReadonlySet<string>;
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
  /** Whether an audit has run since this list was made (a seeded list is the lease table's view only). */
  #audited = false;

  constructor(options: ShardDiscoveryOptions) {
    this.streamArn = options.streamArn;
    this.#o = options;
  }

  /** The next sync describes the stream in full (a failed increment, a replaced stream). */
  requestAudit(): void {
    this.#auditRequested = true;
  }

  /** True once a full describe has made or checked the list: before that, a shard not in it may still be in the stream. */
  get audited(): boolean {
    return this.#audited;
  }

  /**
   * Starts from the shards the lease table already has leases for, instead of a full describe:
   * a new leader of a running application (or a whole fleet restarted) then lists only what
   * came after the newest of them, one call instead of one per 100 shards. Shard ids carry their
   * creation time, so the greatest is the newest; a shard created before it and never leased
   * (none is expected: the worker ending a parent creates its children) is found by the audit,
   * due `auditIntervalMs` from now, or at once when a new shard names a parent the seed lacks.
   * Ignored once the list is known.
   */
  seed(shards: readonly ShardInfo[]): void {
    if (this.#known !== undefined || shards.length === 0) return;
    this.#known = new Map(shards.map((shard) => [shard.shardId, shard]));
    this.#cursor = shards.reduce((newest, shard) => (shard.shardId > newest ? shard.shardId : newest), '');
    this.#lastAuditAt = this.#o.clock.now();
    this.#o.log.debug(
      { streamArn: this.streamArn, shards: shards.length, after: this.#cursor },
      'shard list seeded from the lease table',
    );
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
    // A seeded list knows only leased shards: a new shard whose parent it does not know may
    // have an unleased parent listed before the cursor (a leader that died while creating a
    // new application's leases), and its lease must not be written before the parent's.
    if (!this.#audited && fresh.some((s) => s.parentShardId !== undefined && !known.has(s.parentShardId)))
      return this.#audit(now);
    const freshIds = new Set<string>();
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
      if (!before) freshIds.add(shard.shardId);
      if (!before || (!before.endingSequenceNumber && shard.endingSequenceNumber)) known.set(shard.shardId, shard);
    }
    if (fresh.length > 0) this.#cursor = fresh[fresh.length - 1]!.shardId;
    const added = freshIds.size;
    if (added > 0) this.#o.log.debug({ streamArn: this.streamArn, added, after: cursor }, 'shards discovered');
    if (unplaced.length > 0) {
      this.#auditRequested = true;
      this.#o.log.warn(
        { streamArn: this.streamArn, shards: unplaced, after: cursor },
        'shards listed whose parent is unknown: left to a full describe, the next sync',
      );
    }
    return { shards: [...known.values()], complete: false, added, fresh: freshIds, removed: 0 };
  }

  async #audit(now: number): Promise<DiscoveredShards> {
    const shards = await this.#o.lister.listShards();
    const before = this.#known;
    const known = new Map(shards.map((shard) => [shard.shardId, shard]));
    const fresh = new Set<string>();
    let removed = 0;
    for (const id of known.keys()) if (!before?.has(id)) fresh.add(id);
    if (before) for (const id of before.keys()) if (!known.has(id)) removed++;
    const added = fresh.size;
    this.#known = known;
    this.#cursor = shards.length > 0 ? shards[shards.length - 1]!.shardId : undefined;
    this.#lastAuditAt = now;
    this.#auditRequested = false;
    this.#audited = true;
    this.#o.log.debug({ streamArn: this.streamArn, shards: shards.length, added, removed }, 'shard audit');
    return { shards, complete: true, added, fresh, removed };
  }
}
