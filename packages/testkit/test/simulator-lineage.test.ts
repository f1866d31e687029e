import { afterEach, describe, expect, it } from 'vitest';
import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import { compareSequenceNumbers, ManualClock } from '@shardline/core';
import { audit } from '../src/audit.js';
import { describeAll, drain, failure, Fixture, iterator, seqOf } from './simulator-helpers.js';

const fx = new Fixture();
afterEach(() => fx.closeAll());

const MINUTE = 60_000;

describe('stream simulator: lineage', () => {
  it('rolls a shard over into one child that takes all its keys', async () => {
    const sim = await fx.sim();
    const parent = sim.openShardIds()[0]!;
    const before = [0, 1, 2].map((i) => sim.put(`k${i}`, { i }));
    const child = sim.rollover(parent);
    const after = [0, 1, 2].map((i) => sim.put(`k${i}`, { i: i + 10 }));
    expect(child.parentShardId).toBe(parent);
    expect(sim.openShardIds()).toEqual([child.shardId]);
    expect(after.every((e) => e.shardId === child.shardId && e.eventName === 'MODIFY')).toBe(true);

    const client = fx.client(sim);
    const { shards } = await describeAll(client, sim.streamArn);
    const closed = shards.find((s) => s.shardId === parent)!;
    expect(closed.endingSequenceNumber).toBe(before[2]!.sequenceNumber);
    expect(
      compareSequenceNumbers(
        shards.find((s) => s.shardId === child.shardId)!.startingSequenceNumber!,
        closed.endingSequenceNumber!,
      ),
    ).toBe(1);
    const fromParent = await drain(client, await iterator(client, sim, parent));
    expect(fromParent.ended).toBe(true);
    expect(fromParent.records.map(seqOf)).toEqual(before.map((e) => e.sequenceNumber));
    const fromChild = await drain(client, await iterator(client, sim, child.shardId));
    expect(fromChild.ended).toBe(false);
    expect(fromChild.records.map(seqOf)).toEqual(after.map((e) => e.sequenceNumber));
  });

  it('splits a shard into two children that divide its keys', async () => {
    const sim = await fx.sim({ shards: 2 });
    const [left, right] = sim.openShardIds() as [string, string];
    const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`);
    const leftKeys = keys.filter((k) => sim.shardFor(k) === left);
    expect(leftKeys.length).toBeGreaterThan(50); // the hash spreads keys over both shards
    const children = sim.split(left);
    expect(children.map((c) => c.parentShardId)).toEqual([left, left]);
    expect(sim.openShardIds()).toEqual([children[0].shardId, children[1].shardId, right]);
    for (const key of keys) sim.put(key, { key });

    const byShard = new Map<string, Set<string>>();
    for (const entry of sim.manifest())
      byShard.set(entry.shardId, (byShard.get(entry.shardId) ?? new Set()).add(entry.key));
    expect(byShard.has(left)).toBe(false); // nothing lands on a closed shard
    const a = byShard.get(children[0].shardId)!;
    const b = byShard.get(children[1].shardId)!;
    expect(a.size).toBeGreaterThan(10);
    expect(b.size).toBeGreaterThan(10);
    expect(new Set([...a, ...b])).toEqual(new Set(leftKeys)); // children own exactly the parent's keys
    expect([...byShard.get(right)!].every((k) => !leftKeys.includes(k))).toBe(true);

    const client = fx.client(sim);
    const filtered = await client.send(
      new DescribeStreamCommand({ StreamArn: sim.streamArn, ShardFilter: { Type: 'CHILD_SHARDS', ShardId: left } }),
    );
    expect(filtered.StreamDescription?.Shards?.map((s) => s.ShardId)).toEqual(children.map((c) => c.shardId));
    const read = await drain(client, await iterator(client, sim, children[1].shardId));
    expect(read.records.map((r) => r.dynamodb?.Keys?.pk?.S)).toEqual(
      sim
        .manifest()
        .filter((e) => e.shardId === children[1].shardId)
        .map((e) => e.key),
    );
  });

  it('a reader following lineage delivers every record, parents first (audit clean)', async () => {
    const sim = await fx.sim({ shards: 2 });
    let n = 0;
    const write = (count: number) => {
      for (let i = 0; i < count; i++, n++) sim.put(`k${n % 37}`, { n });
    };
    write(100);
    const [a, b] = sim.openShardIds() as [string, string];
    sim.split(a);
    write(100);
    sim.rollover(b);
    write(100);
    for (const id of sim.openShardIds())
      if (sim.shards().some((s) => s.parentShardId === a && s.shardId === id)) sim.rollover(id);
    write(100);

    const client = fx.client(sim);
    const { shards } = await describeAll(client, sim.streamArn);
    const delivered: Array<{ shardId: string; sequenceNumber: string }> = [];
    const done = new Set<string>();
    // Breadth-first over lineage: a shard once its parent is done.
    while (done.size < shards.length) {
      for (const shard of shards) {
        if (done.has(shard.shardId) || (shard.parentShardId && !done.has(shard.parentShardId))) continue;
        const { records } = await drain(client, await iterator(client, sim, shard.shardId));
        for (const r of records) delivered.push({ shardId: shard.shardId, sequenceNumber: seqOf(r) });
        done.add(shard.shardId);
      }
    }
    const report = audit(sim.manifest(), delivered, shards);
    expect(report).toMatchObject({
      ok: true,
      lost: [],
      duplicates: [],
      orderViolations: [],
      childBeforeParent: [],
      unknown: [],
    });
    expect(delivered).toHaveLength(400);
  });
});

describe('stream simulator: a stream disabled and enabled again', () => {
  it('keeps the old stream readable (DISABLED, shards closed) beside the new one until retention', async () => {
    const clock = new ManualClock();
    const sim = await fx.sim({ clock, shards: 2, tableName: 'orders', retentionMs: 60 * MINUTE });
    const oldArn = sim.streamArn;
    const before = [1, 2, 3].map((i) => sim.put(`k${i}`, { i }));
    await clock.advance(MINUTE);
    const newArn = sim.recreateStream();
    expect(newArn).not.toBe(oldArn);
    expect(sim.streamArn).toBe(newArn);
    const after = [1, 2, 3].map((i) => sim.put(`k${i}`, { i }));
    expect(after.every((e) => !before.some((b) => b.shardId === e.shardId))).toBe(true);

    const client = fx.client(sim);
    const listed = await client.send(new ListStreamsCommand({ TableName: 'orders' }));
    expect(listed.Streams?.map((s) => s.StreamArn)).toEqual([oldArn, newArn]); // oldest first
    const page = await client.send(new ListStreamsCommand({ TableName: 'orders', Limit: 1 }));
    expect(page.LastEvaluatedStreamArn).toBe(oldArn);
    const next = await client.send(
      new ListStreamsCommand({ TableName: 'orders', Limit: 1, ExclusiveStartStreamArn: oldArn }),
    );
    expect(next.Streams?.map((s) => s.StreamArn)).toEqual([newArn]);

    const old = await client.send(new DescribeStreamCommand({ StreamArn: oldArn }));
    expect(old.StreamDescription?.StreamStatus).toBe('DISABLED');
    expect(old.StreamDescription?.Shards?.every((s) => s.SequenceNumberRange?.EndingSequenceNumber)).toBe(true);
    const fresh = await client.send(new DescribeStreamCommand({ StreamArn: newArn }));
    expect(fresh.StreamDescription?.StreamStatus).toBe('ENABLED');
    // The old stream's records are still there to read, to its shards' ends.
    const oldRecords: string[] = [];
    for (const shard of old.StreamDescription!.Shards!) {
      const it = await client.send(
        new GetShardIteratorCommand({ StreamArn: oldArn, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      const read = await drain(client, it.ShardIterator!);
      expect(read.ended).toBe(true);
      oldRecords.push(...read.records.map(seqOf));
    }
    expect(oldRecords.sort()).toEqual(before.map((e) => e.sequenceNumber).sort());
    expect(sim.manifest()).toEqual([...before, ...after]);

    await clock.advance(60 * MINUTE); // retention after disabling: the old stream is gone
    expect(sim.streams().map((s) => s.streamArn)).toEqual([newArn]);
    expect((await failure(client.send(new DescribeStreamCommand({ StreamArn: oldArn })))).name).toBe(
      'ResourceNotFoundException',
    );
  });
});

describe('stream simulator: time', () => {
  it('expires iterators 15 virtual minutes after issue', async () => {
    const clock = new ManualClock();
    const sim = await fx.sim({ clock });
    const shardId = sim.openShardIds()[0]!;
    sim.put('k', { v: 1 });
    const client = fx.client(sim);
    const fresh = await iterator(client, sim, shardId);
    await clock.advance(15 * MINUTE - 1);
    const out = await client.send(new GetRecordsCommand({ ShardIterator: fresh }));
    expect(out.Records).toHaveLength(1);
    // The iterator handed back is new: its own 15 minutes start now.
    await clock.advance(1);
    const expired = await failure(client.send(new GetRecordsCommand({ ShardIterator: fresh })));
    expect(expired).toBeInstanceOf(ExpiredIteratorException);
    expect(expired.$metadata?.httpStatusCode).toBe(400);
    await clock.advance(15 * MINUTE - 2);
    expect((await client.send(new GetRecordsCommand({ ShardIterator: out.NextShardIterator! }))).Records).toEqual([]);
    await clock.advance(2);
    expect(await failure(client.send(new GetRecordsCommand({ ShardIterator: out.NextShardIterator! })))).toBeInstanceOf(
      ExpiredIteratorException,
    );
  });

  it('trims records past retention and removes closed shards once all of them are gone', async () => {
    const clock = new ManualClock();
    const retentionMs = 60 * MINUTE;
    const sim = await fx.sim({ clock, retentionMs });
    const parent = sim.openShardIds()[0]!;
    const old = [1, 2, 3].map((i) => sim.put(`k${i}`, { i }).sequenceNumber);
    await clock.advance(30 * MINUTE);
    const child = sim.rollover(parent).shardId;
    const early = [4, 5].map((i) => sim.put(`k${i}`, { i }).sequenceNumber);
    const client = fx.client(sim, { maxAttempts: 1 });
    await clock.advance(29 * MINUTE);
    const parentStart = await iterator(client, sim, parent); // fresh, but its records are a minute from retention
    await clock.advance(1 * MINUTE); // the parent's records reach retention; the closed parent stays listed
    const late = [6, 7].map((i) => sim.put(`k${i}`, { i }).sequenceNumber);
    expect(await failure(client.send(new GetRecordsCommand({ ShardIterator: parentStart })))).toBeInstanceOf(
      TrimmedDataAccessException,
    );
    expect(await drain(client, await iterator(client, sim, parent))).toMatchObject({ records: [], ended: true });
    expect((await describeAll(client, sim.streamArn)).shards.map((s) => s.shardId)).toEqual([parent, child]);

    await clock.advance(29 * MINUTE);
    const staleTrimHorizon = await iterator(client, sim, child);
    await clock.advance(1 * MINUTE); // retention after closing: the parent is gone, the child's early records too
    expect(sim.shards().map((s) => s.shardId)).toEqual([child]);
    const { shards } = await describeAll(client, sim.streamArn);
    expect(shards).toEqual([expect.objectContaining({ shardId: child, parentShardId: parent })]);
    expect((await failure(iterator(client, sim, parent))).name).toBe('ResourceNotFoundException');
    const trimmed = await failure(client.send(new GetRecordsCommand({ ShardIterator: staleTrimHorizon })));
    expect(trimmed).toBeInstanceOf(TrimmedDataAccessException);
    expect(await failure(iterator(client, sim, child, 'AT_SEQUENCE_NUMBER', early[0]))).toBeInstanceOf(
      TrimmedDataAccessException,
    );
    expect(
      (await drain(client, await iterator(client, sim, child, 'AFTER_SEQUENCE_NUMBER', early[1]))).records.map(seqOf),
    ).toEqual(late);
    expect((await drain(client, await iterator(client, sim, child))).records.map(seqOf)).toEqual(late);
    // The manifest keeps every record ever written, trimmed ones included.
    expect(sim.manifest().map((e) => e.sequenceNumber)).toEqual([...old, ...early, ...late]);
  });
});
