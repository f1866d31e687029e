import { describe, expect, it } from 'vitest';
import { compareSequenceNumbers, type ShardInfo } from '@shardline/core';
import { ShardGraph } from '../src/lineage.js';
import { loadFixture, shardsOf } from './helpers/fixtures.js';

const ids = (shards: ShardInfo[]) => shards.map((s) => s.shardId);

/** Reads a whole graph the way a worker does: ready shards first, each finished in turn. */
function drain(graph: ShardGraph): string[] {
  const finished = new Set<string>();
  const order: string[] = [];
  for (;;) {
    const ready = graph.readyShards((id) => finished.has(id));
    if (ready.length === 0) break;
    for (const shard of ready) {
      order.push(shard.shardId);
      finished.add(shard.shardId);
    }
  }
  return order;
}

describe('ShardGraph on recorded DescribeStream pages', () => {
  it('a rollover chain: one root, one child each, only the last one open, ready one at a time', () => {
    const fixture = loadFixture('rollover-chain');
    const shards = shardsOf(fixture);
    expect(fixture.pages.length).toBe(3);
    const graph = ShardGraph.fromShards(shards);
    expect(graph.size).toBe(6);
    expect(ids(graph.roots())).toEqual([shards[0]!.shardId]);
    expect(ids(graph.openShards())).toEqual([shards[5]!.shardId]);
    for (let i = 0; i < 5; i++) {
      expect(graph.isClosed(shards[i]!.shardId)).toBe(true);
      expect(ids(graph.childrenOf(shards[i]!.shardId))).toEqual([shards[i + 1]!.shardId]);
      expect(graph.parentsOf(shards[i + 1]!.shardId)).toEqual([shards[i]!.shardId]);
    }
    expect(graph.isClosed(shards[5]!.shardId)).toBe(false);
    expect(ids(graph.ancestorsOf(shards[5]!.shardId))).toEqual(ids(shards.slice(0, 5)).reverse());

    const finished = new Set<string>();
    for (let i = 0; i < 6; i++) {
      expect(ids(graph.readyShards((id) => finished.has(id)))).toEqual([shards[i]!.shardId]);
      finished.add(shards[i]!.shardId);
    }
    expect(graph.readyShards((id) => finished.has(id))).toEqual([]);
  });

  it('a split into two: both children wait for the parent, then are ready together', () => {
    const shards = shardsOf(loadFixture('split'));
    const [parent, a, b] = shards as [ShardInfo, ShardInfo, ShardInfo];
    const graph = ShardGraph.fromShards(shards);
    expect(ids(graph.roots())).toEqual([parent.shardId]);
    expect(ids(graph.childrenOf(parent.shardId))).toEqual([a.shardId, b.shardId]);
    expect(ids(graph.readyShards(() => false))).toEqual([parent.shardId]);
    expect(ids(graph.readyShards((id) => id === parent.shardId))).toEqual([a.shardId, b.shardId]);
    expect(ids(graph.openShards())).toEqual([a.shardId, b.shardId]);
  });

  it('a deep history of 1,000 shards: every shard once, parents before children, all reachable by draining', () => {
    const fixture = loadFixture('deep-history');
    const shards = shardsOf(fixture);
    expect(shards.length).toBe(1000);
    const graph = ShardGraph.fromShards(shards);
    expect(graph.size).toBe(1000);
    expect(graph.roots().length).toBe(4);
    expect(graph.missingParentIds()).toEqual([]);

    const ordered = ids(graph.shards());
    expect(new Set(ordered).size).toBe(1000);
    const position = new Map(ordered.map((id, i) => [id, i]));
    for (const shard of shards) {
      if (shard.parentShardId) expect(position.get(shard.parentShardId)!).toBeLessThan(position.get(shard.shardId)!);
    }

    const order = drain(graph);
    expect(order.length).toBe(1000);
    const done = new Set<string>();
    for (const id of order) {
      for (const parent of graph.parentsOf(id)) expect(done.has(parent)).toBe(true);
      done.add(id);
    }
    // Children of a closed shard exist for every closed shard; open shards have none.
    for (const shard of graph.shards()) {
      const children = graph.childrenOf(shard.shardId).length;
      if (graph.isClosed(shard.shardId)) expect([1, 2]).toContain(children);
      else expect(children).toBe(0);
    }
    // The deepest open shard has every generation above it (ancestorsOf is iterative).
    const deepest = Math.max(...graph.openShards().map((s) => graph.ancestorsOf(s.shardId).length));
    expect(deepest).toBeGreaterThan(50);
  });

  it('orders siblings by sequence number as integers, not strings (21 vs 22 digits)', () => {
    const graph = ShardGraph.fromShards(shardsOf(loadFixture('deep-history')));
    const roots = graph.roots();
    for (let i = 1; i < roots.length; i++) {
      expect(
        compareSequenceNumbers(roots[i - 1]!.startingSequenceNumber!, roots[i]!.startingSequenceNumber!),
      ).toBeLessThan(0);
    }
    const lengths = new Set(graph.shards().map((s) => s.startingSequenceNumber!.length));
    expect(lengths).toEqual(new Set([21, 22]));
  });

  it('missing (trimmed) parents: their children are roots and ready at once; the gap is reported', () => {
    const shards = shardsOf(loadFixture('missing-parents'));
    const graph = ShardGraph.fromShards(shards);
    const [a1, a2, b1, b2, b3] = shards as [ShardInfo, ShardInfo, ShardInfo, ShardInfo, ShardInfo];
    expect(graph.missingParentIds()).toEqual([a1.parentShardId!, b1.parentShardId!].sort());
    expect(graph.parentsOf(a1.shardId)).toEqual([]);
    expect(graph.has(a1.parentShardId!)).toBe(false);
    expect(ids(graph.roots())).toEqual([a1.shardId, b1.shardId]);
    expect(ids(graph.readyShards(() => false))).toEqual([a1.shardId, b1.shardId]);
    expect(ids(graph.readyShards((id) => id === b1.shardId))).toEqual([a1.shardId, b2.shardId, b3.shardId]);
    expect(drain(graph)).toEqual([a1.shardId, b1.shardId, a2.shardId, b2.shardId, b3.shardId]);
  });

  it('duplicate pages: each shard once, the closed copy wins over an earlier open one', () => {
    const fixture = loadFixture('duplicate-pages');
    const listed = shardsOf(fixture);
    expect(listed.length).toBe(10);
    const graph = ShardGraph.fromShards(listed);
    expect(graph.size).toBe(7);
    const reopened = listed[1]!;
    expect(graph.isClosed(reopened.shardId)).toBe(true);
    expect(graph.get(reopened.shardId)!.endingSequenceNumber).toBeDefined();
    expect(drain(graph).length).toBe(7);
    // The closed copy listed first is not overwritten by a later open copy either.
    const reversed = ShardGraph.fromShards([...listed].reverse());
    expect(reversed.isClosed(reopened.shardId)).toBe(true);
  });

  it('excludes finished shards from readyShards and survives a malformed parent cycle', () => {
    const a: ShardInfo = { shardId: 'a', parentShardId: 'b', startingSequenceNumber: '100000000000000000001' };
    const b: ShardInfo = { shardId: 'b', parentShardId: 'a', startingSequenceNumber: '100000000000000000002' };
    const c: ShardInfo = { shardId: 'c' };
    const graph = ShardGraph.fromShards([a, b, c]);
    expect(ids(graph.shards()).sort()).toEqual(['a', 'b', 'c']);
    expect(ids(graph.roots())).toEqual(['c']);
    expect(ids(graph.readyShards(() => false))).toEqual(['c']);
    expect(ids(graph.readyShards((id) => id === 'c'))).toEqual([]);
    expect(graph.ancestorsOf('a').map((s) => s.shardId)).toEqual(['b']);
    expect(graph.get('a')).not.toBe(a); // a copy: callers cannot mutate the graph
  });
});
