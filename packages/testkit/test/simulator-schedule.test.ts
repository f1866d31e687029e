import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '@shardline/core';
import { audit } from '../src/audit.js';
import { describeAll, drain, Fixture, iterator, seqOf } from './simulator-helpers.js';

const fx = new Fixture();
afterEach(() => fx.closeAll());

describe('stream simulator: schedules', () => {
  it('writes traffic at a rate of virtual time over a set of keys', async () => {
    const clock = new ManualClock();
    const sim = await fx.sim({ clock });
    const traffic = sim.schedule({ writesPerSecond: 50, keys: 5, removeRatio: 0 });
    await clock.advance(10_000);
    expect(traffic.written).toBe(500);
    const manifest = sim.manifest();
    expect(manifest).toHaveLength(500);
    expect(new Set(manifest.map((e) => e.key))).toEqual(new Set(['key-0', 'key-1', 'key-2', 'key-3', 'key-4']));
    expect(manifest.filter((e) => e.eventName === 'INSERT')).toHaveLength(5);
    await traffic.stop();
    await clock.advance(10_000);
    expect(sim.manifest()).toHaveLength(500);
  });

  it('rolls shards over by age and splits the widest shard on schedule', async () => {
    const clock = new ManualClock();
    const sim = await fx.sim({ clock, shards: 2 });
    const topology = sim.schedule({ rolloverEveryMs: 60_000, splitEveryMs: 25_000, writesPerSecond: 20, keys: 50 });
    await clock.advance(60_000);
    // At 25 s and 50 s the two original shards split (the widest first); at 60 s no open shard
    // is a minute old yet, so nothing rolled over.
    const shards = sim.shards();
    const roots = shards.filter((s) => s.parentShardId === undefined);
    expect(roots).toHaveLength(2);
    expect(roots.every((s) => s.endingSequenceNumber !== undefined)).toBe(true);
    expect(sim.openShardIds().length).toBe(4);
    await clock.advance(60_000);
    await topology.stop();
    const after = sim.shards();
    const open = after.filter((s) => s.endingSequenceNumber === undefined);
    expect(open.length).toBe(sim.openShardIds().length);
    // Every open shard is younger than a minute (shard ids carry their creation time).
    const createdAt = (shardId: string) => Number(shardId.slice('shardId-'.length, 'shardId-'.length + 20));
    for (const shard of open) expect(createdAt(shard.shardId)).toBeGreaterThanOrEqual(1_700_000_060_000);
    expect(after.length).toBeGreaterThan(shards.length);

    // Reading the whole lineage parents-first delivers every record written.
    const client = fx.client(sim);
    const { shards: listed } = await describeAll(client, sim.streamArn);
    const delivered: Array<{ shardId: string; sequenceNumber: string }> = [];
    const done = new Set<string>();
    while (done.size < listed.length) {
      for (const shard of listed) {
        if (done.has(shard.shardId) || (shard.parentShardId && !done.has(shard.parentShardId))) continue;
        const { records } = await drain(client, await iterator(client, sim, shard.shardId));
        for (const r of records) delivered.push({ shardId: shard.shardId, sequenceNumber: seqOf(r) });
        done.add(shard.shardId);
      }
    }
    const report = audit(sim.manifest(), delivered, listed);
    expect(report.ok).toBe(true);
    expect(delivered.length).toBe(sim.manifest().length);
    expect(delivered.length).toBeGreaterThan(1000);
  });

  it('refuses bad schedule options', async () => {
    const sim = await fx.sim({ clock: new ManualClock() });
    expect(() => sim.schedule({ writesPerSecond: -1 })).toThrow(RangeError);
    expect(() => sim.schedule({ keys: 0 })).toThrow(RangeError);
    expect(() => sim.schedule({ removeRatio: 2 })).toThrow(RangeError);
  });
});

describe('stream simulator: bulk reads', () => {
  // How fast is measured by `npm run bench` (scripts/bench-simulator.mjs), never by a test.
  it('serves 40,000 records across 4 shards to the SDK client, none lost', async () => {
    const sim = await fx.sim({ shards: 4 });
    for (let i = 0; i < 40_000; i++) sim.put(`key-${i % 1000}`, { i, payload: 'x'.repeat(100) });
    const client = fx.client(sim);
    let total = 0;
    for (const shardId of sim.openShardIds())
      total += (await drain(client, await iterator(client, sim, shardId))).records.length;
    expect(total).toBe(40_000);
  });
});
