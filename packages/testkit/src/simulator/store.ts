import type { Clock, ShardInfo } from '@shardline/core';
import { buildRecord, marshallItem, type AttributeMap } from './records.js';
import { HASH_SPACE, hashKey, type Random } from './random.js';
import type { EventName, ManifestEntry, StreamViewType } from './types.js';

/** First sequence number handed out: 21 digits, as short as real ones get. */
const FIRST_SEQUENCE = 100_000_000_000_000_000_000n;

/**
 * Sequence numbers of one simulator, shared by its streams (DynamoDB Local, too, keeps one
 * counter per database): growing, with gaps, like the service's, which are not contiguous.
 */
export class SequenceCounter {
  #next = FIRST_SEQUENCE;
  readonly #random: Random;

  constructor(random: Random) {
    this.#random = random;
  }

  take(): bigint {
    this.#next += BigInt(this.#random.int(1, 64));
    return this.#next;
  }
}

export interface StoredRecord {
  seq: bigint;
  sequenceNumber: string;
  createdAtMs: number;
  json: string;
  bytes: number;
}

export interface Shard {
  readonly id: string;
  /** Creation order: DescribeStream pages walk shards in this order. */
  readonly ordinal: number;
  readonly createdAtMs: number;
  readonly parentId: string | undefined;
  readonly start: bigint;
  readonly startingSequenceNumber: string;
  end: bigint | undefined;
  endingSequenceNumber: string | undefined;
  closedAtMs: number | undefined;
  /** The slice [hashLo, hashHi) of the key hash space this shard owns while open. */
  readonly hashLo: number;
  readonly hashHi: number;
  /** Records in sequence order; those before `head` are trimmed. */
  records: StoredRecord[];
  head: number;
  /** Sequence number of the last trimmed record; reading at or before it is refused. */
  trimmedThrough: bigint | undefined;
  removed: boolean;
}

/** Where an iterator points inside a shard. */
export interface Position {
  kind: 'at' | 'after';
  seq: bigint;
}

export interface StoreOptions {
  clock: Clock;
  random: Random;
  viewType: StreamViewType;
  region: string;
  retentionMs: number;
  shards: number;
  sequence: SequenceCounter;
  /** Where every written record is appended (shared by the simulator's streams). */
  manifest: ManifestEntry[];
  /** Shard ids already used, simulator-wide. */
  shardIds: Set<string>;
}

/**
 * The stream's state: shards with their records, the hash partitioning of keys over the open
 * shards, lineage (rollover and split), retention and the manifest. No I/O. Every lookup a
 * request needs is O(log n): open shards are kept sorted by hash range, records by sequence
 * number, shards by creation order.
 */
export class StreamStore {
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #viewType: StreamViewType;
  readonly #region: string;
  readonly #retentionMs: number;
  readonly #sequence: SequenceCounter;
  readonly #shardIds: Set<string>;
  #ordinal = 0;
  /** Live shards (not yet removed by retention) in creation order. */
  #live: Shard[] = [];
  readonly #byId = new Map<string, Shard>();
  /** Creation ordinal of every shard ever made, so a page can start after a removed shard. */
  readonly #ordinals = new Map<string, number>();
  readonly #children = new Map<string, Shard[]>();
  /** Open shards sorted by `hashLo`; together they cover the whole hash space. */
  #open: Shard[] = [];
  /** Closed shards in closing order, for removal once retention has passed. */
  #closed: Shard[] = [];
  #closedHead = 0;
  readonly #items = new Map<string, AttributeMap>();
  readonly #manifest: ManifestEntry[];

  constructor(options: StoreOptions) {
    this.#clock = options.clock;
    this.#random = options.random;
    this.#viewType = options.viewType;
    this.#region = options.region;
    this.#retentionMs = options.retentionMs;
    this.#sequence = options.sequence;
    this.#manifest = options.manifest;
    this.#shardIds = options.shardIds;
    const width = HASH_SPACE / options.shards;
    for (let i = 0; i < options.shards; i++) {
      const lo = Math.round(i * width);
      const hi = i === options.shards - 1 ? HASH_SPACE : Math.round((i + 1) * width);
      this.#open.push(this.#createShard(undefined, lo, hi));
    }
  }

  get viewType(): StreamViewType {
    return this.#viewType;
  }

  // ---- writes -------------------------------------------------------------------------

  put(key: string, item: Record<string, unknown>): ManifestEntry {
    const newImage = marshallItem(key, item);
    const oldImage = this.#items.get(key);
    this.#items.set(key, newImage);
    return this.#append(key, oldImage ? 'MODIFY' : 'INSERT', newImage, oldImage);
  }

  /** Like DynamoDB, deleting an item that does not exist writes no stream record. */
  remove(key: string, options: { ttl?: boolean } = {}): ManifestEntry | undefined {
    const oldImage = this.#items.get(key);
    if (!oldImage) return undefined;
    this.#items.delete(key);
    return this.#append(key, 'REMOVE', undefined, oldImage, options.ttl === true);
  }

  #append(
    key: string,
    eventName: EventName,
    newImage: AttributeMap | undefined,
    oldImage: AttributeMap | undefined,
    ttl = false,
  ): ManifestEntry {
    const shard = this.ownerOf(key);
    const seq = this.#sequence.take();
    const sequenceNumber = seq.toString();
    const createdAtMs = this.#clock.now();
    const built = buildRecord({
      eventId: this.#random.hex(32),
      eventName,
      region: this.#region,
      viewType: this.#viewType,
      createdAtMs,
      sequenceNumber,
      key,
      newImage,
      oldImage,
      ttl,
    });
    shard.records.push({ seq, sequenceNumber, createdAtMs, json: built.json, bytes: built.bytes });
    const entry: ManifestEntry = { shardId: shard.id, sequenceNumber, key, eventName };
    this.#manifest.push(entry);
    return entry;
  }

  /** The open shard whose hash range holds the key. */
  ownerOf(key: string): Shard {
    if (this.#open.length === 0) throw new Error('this stream is disabled: it has no open shard');
    const h = hashKey(key);
    let lo = 0;
    let hi = this.#open.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#open[mid]!.hashLo <= h) lo = mid;
      else hi = mid - 1;
    }
    return this.#open[lo]!;
  }

  // ---- topology -----------------------------------------------------------------------

  /** Closes an open shard and opens one child owning the same keys. */
  rollover(shardId: string): ShardInfo {
    const parent = this.#requireOpen(shardId);
    this.#close(parent);
    const child = this.#createShard(parent.id, parent.hashLo, parent.hashHi);
    this.#replaceOpen(parent, [child]);
    return toShardInfo(child);
  }

  /** Closes an open shard and opens two children dividing its keys. */
  split(shardId: string): [ShardInfo, ShardInfo] {
    const parent = this.#requireOpen(shardId);
    if (parent.hashHi - parent.hashLo < 2) throw new Error(`shard ${shardId} owns too few hash values to split`);
    this.#close(parent);
    const mid = parent.hashLo + Math.floor((parent.hashHi - parent.hashLo) / 2);
    const left = this.#createShard(parent.id, parent.hashLo, mid);
    const right = this.#createShard(parent.id, mid, parent.hashHi);
    this.#replaceOpen(parent, [left, right]);
    return [toShardInfo(left), toShardInfo(right)];
  }

  #requireOpen(shardId: string): Shard {
    const shard = this.#byId.get(shardId);
    if (!shard) throw new Error(`no shard ${shardId} in the stream`);
    if (shard.end !== undefined) throw new Error(`shard ${shardId} is already closed`);
    return shard;
  }

  #close(shard: Shard): void {
    shard.end = this.lastSequence(shard);
    shard.endingSequenceNumber = shard.end.toString();
    shard.closedAtMs = this.#clock.now();
    this.#closed.push(shard);
  }

  #replaceOpen(parent: Shard, children: Shard[]): void {
    const index = this.#open.indexOf(parent);
    this.#open.splice(index, 1, ...children);
  }

  #createShard(parentId: string | undefined, hashLo: number, hashHi: number): Shard {
    const now = this.#clock.now();
    let id: string;
    do id = `shardId-${String(Math.max(0, Math.floor(now))).padStart(20, '0')}-${this.#random.hex(8)}`;
    while (this.#shardIds.has(id));
    this.#shardIds.add(id);
    const start = this.#sequence.take();
    const shard: Shard = {
      id,
      ordinal: this.#ordinal++,
      createdAtMs: now,
      parentId,
      start,
      startingSequenceNumber: start.toString(),
      end: undefined,
      endingSequenceNumber: undefined,
      closedAtMs: undefined,
      hashLo,
      hashHi,
      records: [],
      head: 0,
      trimmedThrough: undefined,
      removed: false,
    };
    this.#live.push(shard);
    this.#byId.set(id, shard);
    this.#ordinals.set(id, shard.ordinal);
    if (parentId !== undefined) {
      const siblings = this.#children.get(parentId) ?? [];
      siblings.push(shard);
      this.#children.set(parentId, siblings);
    }
    return shard;
  }

  // ---- reads --------------------------------------------------------------------------

  get(shardId: string): Shard | undefined {
    return this.#byId.get(shardId);
  }

  /** Live shards as DescribeStream lists them. */
  shards(): ShardInfo[] {
    this.sweep();
    return this.#live.map(toShardInfo);
  }

  openShardIds(): string[] {
    return this.#open.map((shard) => shard.id);
  }

  /** Open shards in hash-range order (the live objects: callers must not mutate them). */
  openShards(): readonly Shard[] {
    return this.#open;
  }

  childrenOf(shardId: string): Shard[] {
    this.sweep();
    return (this.#children.get(shardId) ?? []).filter((shard) => !shard.removed);
  }

  /** Up to `limit` live shards after `exclusiveStartShardId` (creation order). */
  page(exclusiveStartShardId: string | undefined, limit: number): Shard[] {
    this.sweep();
    let from = 0;
    if (exclusiveStartShardId !== undefined) {
      const after = this.#ordinals.get(exclusiveStartShardId);
      if (after === undefined) return [];
      let lo = 0;
      let hi = this.#live.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.#live[mid]!.ordinal <= after) lo = mid + 1;
        else hi = mid;
      }
      from = lo;
    }
    return this.#live.slice(from, from + limit);
  }

  /** Closes every open shard (the stream is being disabled): nothing is written here any more. */
  closeAll(): void {
    for (const shard of this.#open) this.#close(shard);
    this.#open = [];
  }

  /**
   * Removes closed shards whose whole life lies beyond retention. Amortized O(1): closing
   * happens in clock order, so the queue is only ever cut at its front.
   */
  sweep(): void {
    const horizon = this.#clock.now() - this.#retentionMs;
    let removed = false;
    while (this.#closedHead < this.#closed.length && this.#closed[this.#closedHead]!.closedAtMs! <= horizon) {
      const shard = this.#closed[this.#closedHead++]!;
      shard.removed = true;
      shard.records = [];
      shard.head = 0;
      this.#byId.delete(shard.id);
      removed = true;
    }
    if (removed) {
      this.#live = this.#live.filter((shard) => !shard.removed);
      if (this.#closedHead > 1024) {
        this.#closed = this.#closed.slice(this.#closedHead);
        this.#closedHead = 0;
      }
    }
  }

  /** Drops the shard's records older than retention (lazily, when the shard is read). */
  trim(shard: Shard): void {
    const horizon = this.#clock.now() - this.#retentionMs;
    const records = shard.records;
    let head = shard.head;
    while (head < records.length && records[head]!.createdAtMs <= horizon) head++;
    if (head === shard.head) return;
    shard.trimmedThrough = records[head - 1]!.seq;
    shard.head = head;
    if (head > 4096 && head * 2 > records.length) {
      shard.records = records.slice(head);
      shard.head = 0;
    }
  }

  /** The highest sequence number the shard has issued so far (its end once closed). */
  lastSequence(shard: Shard): bigint {
    if (shard.end !== undefined) return shard.end;
    const last = shard.records[shard.records.length - 1];
    return last ? last.seq : (shard.trimmedThrough ?? shard.start);
  }

  isTrimmed(shard: Shard, position: Position): boolean {
    const through = shard.trimmedThrough;
    if (through === undefined) return false;
    return position.kind === 'at' ? position.seq <= through : position.seq < through;
  }

  /** Index of the first untrimmed record at or after the position. */
  indexOf(shard: Shard, position: Position): number {
    const records = shard.records;
    let lo = shard.head;
    let hi = records.length;
    const target = position.seq;
    const inclusive = position.kind === 'at';
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const seq = records[mid]!.seq;
      if (inclusive ? seq < target : seq <= target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export function toShardInfo(shard: Shard): ShardInfo {
  const info: ShardInfo = { shardId: shard.id, startingSequenceNumber: shard.startingSequenceNumber };
  if (shard.parentId !== undefined) info.parentShardId = shard.parentId;
  if (shard.endingSequenceNumber !== undefined) info.endingSequenceNumber = shard.endingSequenceNumber;
  return info;
}
