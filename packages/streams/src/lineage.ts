import { compareSequenceNumbers, isSequenceNumber, type ShardInfo } from '@shardline/core';

/**
 * The lineage of a stream's shards, built from a DescribeStream shard list. Pure: no I/O, so it
 * is tested on recorded pages.
 *
 * - A shard with an `endingSequenceNumber` is closed; it will get one child (rollover) or two
 *   (split) and no more records.
 * - A `parentShardId` may name a shard trimmed away after 24 h: such a parent is absent from the
 *   graph, `parentsOf` leaves it out, and `readyShards` treats it as finished.
 * - The same shard listed twice (a repeated page) is kept once; the closed copy wins, since a
 *   shard only ever goes from open to closed.
 * - Iterative throughout: a deep history (thousands of generations) cannot overflow the stack,
 *   and a malformed parent cycle cannot loop forever.
 */
export class ShardGraph {
  readonly #shards = new Map<string, ShardInfo>();
  readonly #children = new Map<string, ShardInfo[]>();
  /** Shards in lineage order: every parent before its children. */
  readonly #ordered: ShardInfo[];
  readonly #missingParents = new Set<string>();

  private constructor(shards: Iterable<ShardInfo>) {
    for (const shard of shards) {
      const known = this.#shards.get(shard.shardId);
      if (!known || (!known.endingSequenceNumber && shard.endingSequenceNumber))
        this.#shards.set(shard.shardId, { ...shard });
    }
    for (const shard of this.#shards.values()) {
      const parent = shard.parentShardId;
      if (!parent) continue;
      if (!this.#shards.has(parent)) {
        this.#missingParents.add(parent);
        continue;
      }
      const list = this.#children.get(parent) ?? [];
      list.push(shard);
      this.#children.set(parent, list);
    }
    for (const list of this.#children.values()) list.sort(byStart);
    this.#ordered = this.#lineageOrder();
  }

  static fromShards(shards: Iterable<ShardInfo>): ShardGraph {
    return new ShardGraph(shards);
  }

  get size(): number {
    return this.#shards.size;
  }

  has(shardId: string): boolean {
    return this.#shards.has(shardId);
  }

  get(shardId: string): ShardInfo | undefined {
    return this.#shards.get(shardId);
  }

  /** Every shard once, parents before children, siblings by starting sequence number. */
  shards(): ShardInfo[] {
    return [...this.#ordered];
  }

  /** The parents of `shardId` that are in the graph (DynamoDB gives at most one). */
  parentsOf(shardId: string): string[] {
    const parent = this.#shards.get(shardId)?.parentShardId;
    return parent && this.#shards.has(parent) ? [parent] : [];
  }

  childrenOf(shardId: string): ShardInfo[] {
    return [...(this.#children.get(shardId) ?? [])];
  }

  /** Shards with no parent in the graph: no parent at all, or a parent already trimmed. */
  roots(): ShardInfo[] {
    return this.#ordered.filter((shard) => this.parentsOf(shard.shardId).length === 0);
  }

  /** Parent ids named by some shard but absent from the list (trimmed, or beyond the pages read). */
  missingParentIds(): string[] {
    return [...this.#missingParents].sort();
  }

  isClosed(shardId: string): boolean {
    return Boolean(this.#shards.get(shardId)?.endingSequenceNumber);
  }

  openShards(): ShardInfo[] {
    return this.#ordered.filter((shard) => !shard.endingSequenceNumber);
  }

  /** Ancestors present in the graph, nearest first. */
  ancestorsOf(shardId: string): ShardInfo[] {
    const out: ShardInfo[] = [];
    const seen = new Set([shardId]);
    for (let id = this.parentsOf(shardId)[0]; id && !seen.has(id); id = this.parentsOf(id)[0]) {
      seen.add(id);
      const shard = this.#shards.get(id);
      if (shard) out.push(shard);
    }
    return out;
  }

  /**
   * The shards not yet finished whose parents are all finished or absent from the graph: the
   * ones a worker may read now. In lineage order.
   */
  readyShards(isFinished: (shardId: string) => boolean): ShardInfo[] {
    return this.#ordered.filter(
      (shard) => !isFinished(shard.shardId) && this.parentsOf(shard.shardId).every((parent) => isFinished(parent)),
    );
  }

  #lineageOrder(): ShardInfo[] {
    const ordered: ShardInfo[] = [];
    const placed = new Set<string>();
    const place = (start: ShardInfo) => {
      // Breadth-first from each root; children lists are already sorted.
      const queue = [start];
      for (let i = 0; i < queue.length; i++) {
        const shard = queue[i]!;
        if (placed.has(shard.shardId)) continue;
        placed.add(shard.shardId);
        ordered.push(shard);
        for (const child of this.#children.get(shard.shardId) ?? []) queue.push(child);
      }
    };
    const all = [...this.#shards.values()].sort(byStart);
    for (const shard of all) if (this.parentsOf(shard.shardId).length === 0) place(shard);
    // Whatever is left sits on a parent cycle (malformed input): keep it, in start order.
    for (const shard of all) if (!placed.has(shard.shardId)) place(shard);
    return ordered;
  }
}

function byStart(a: ShardInfo, b: ShardInfo): number {
  const x = a.startingSequenceNumber;
  const y = b.startingSequenceNumber;
  if (isSequenceNumber(x) && isSequenceNumber(y)) {
    const order = compareSequenceNumbers(x, y);
    if (order !== 0) return order;
  } else if (isSequenceNumber(x) !== isSequenceNumber(y)) {
    return isSequenceNumber(x) ? -1 : 1;
  }
  return a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0;
}
