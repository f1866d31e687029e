import { afterEach, describe, expect, it } from 'vitest';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { compareSequenceNumbers, ManualClock } from '@shardline/core';
import { describeAll, drain, failure, Fixture, iterator, seqOf } from './simulator-helpers.js';

const fx = new Fixture();
afterEach(() => fx.closeAll());

describe('stream simulator: the four operations through the real SDK client', () => {
  it('ListStreams finds the stream by table name, with the full-page quirk', async () => {
    const sim = await fx.sim({ tableName: 'orders' });
    const client = fx.client(sim);
    const all = await client.send(new ListStreamsCommand({}));
    expect(all.Streams).toEqual([{ StreamArn: sim.streamArn, TableName: 'orders', StreamLabel: sim.streamLabel }]);
    expect(sim.streamArn).toMatch(
      /^arn:aws:dynamodb:us-east-1:000000000000:table\/orders\/stream\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/,
    );
    expect((await client.send(new ListStreamsCommand({ TableName: 'other' }))).Streams).toEqual([]);
    const page = await client.send(new ListStreamsCommand({ TableName: 'orders', Limit: 1 }));
    expect(page.LastEvaluatedStreamArn).toBe(sim.streamArn);
    const after = await client.send(
      new ListStreamsCommand({ TableName: 'orders', ExclusiveStartStreamArn: sim.streamArn }),
    );
    expect(after.Streams).toEqual([]);
    expect(after.LastEvaluatedStreamArn).toBeUndefined();
  });

  it('DescribeStream reports the stream and its shards in the service shape', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const sim = await fx.sim({ clock, shards: 3, viewType: 'NEW_IMAGE', tableName: 'orders' });
    const out = await fx.client(sim).send(new DescribeStreamCommand({ StreamArn: sim.streamArn }));
    const description = out.StreamDescription!;
    expect(description).toMatchObject({
      StreamArn: sim.streamArn,
      StreamLabel: '2023-11-14T22:13:20.000',
      StreamStatus: 'ENABLED',
      StreamViewType: 'NEW_IMAGE',
      TableName: 'orders',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    });
    expect(description.CreationRequestDateTime).toEqual(new Date(1_700_000_000_000));
    expect(description.LastEvaluatedShardId).toBeUndefined();
    expect(description.Shards).toHaveLength(3);
    for (const shard of description.Shards!) {
      expect(shard.ShardId).toMatch(/^shardId-00000001700000000000-[0-9a-f]{8}$/);
      expect(shard.SequenceNumberRange?.StartingSequenceNumber).toMatch(/^\d{21,}$/);
      expect(shard.SequenceNumberRange?.EndingSequenceNumber).toBeUndefined();
      expect(shard.ParentShardId).toBeUndefined();
    }
    expect(description.Shards!.map((s) => s.ShardId)).toEqual(sim.shards().map((s) => s.shardId));
  });

  it('pages DescribeStream by 100 with ExclusiveStartShardId, setting LastEvaluatedShardId on every full page', async () => {
    const sim = await fx.sim({ shards: 200 });
    const client = fx.client(sim);
    const { shards, pages } = await describeAll(client, sim.streamArn);
    // 200 shards: two full pages, each naming its last shard, then an empty third page.
    expect(pages).toBe(3);
    expect(shards.map((s) => s.shardId)).toEqual(sim.shards().map((s) => s.shardId));
    expect(new Set(shards.map((s) => s.shardId)).size).toBe(200);
    const small = await describeAll(client, sim.streamArn, 7);
    expect(small.pages).toBe(Math.ceil(200 / 7));
    expect(small.shards).toEqual(shards);
    await expect(
      client.send(new DescribeStreamCommand({ StreamArn: sim.streamArn, Limit: 101 })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('answers ShardFilter CHILD_SHARDS with the children of one shard only', async () => {
    const sim = await fx.sim({ shards: 2 });
    const [a, b] = sim.openShardIds() as [string, string];
    const children = sim.split(a);
    const child = sim.rollover(b);
    const client = fx.client(sim);
    const ofA = await client.send(
      new DescribeStreamCommand({ StreamArn: sim.streamArn, ShardFilter: { Type: 'CHILD_SHARDS', ShardId: a } }),
    );
    expect(ofA.StreamDescription?.Shards?.map((s) => s.ShardId).sort()).toEqual(children.map((c) => c.shardId).sort());
    for (const shard of ofA.StreamDescription!.Shards!) expect(shard.ParentShardId).toBe(a);
    const ofB = await client.send(
      new DescribeStreamCommand({ StreamArn: sim.streamArn, ShardFilter: { Type: 'CHILD_SHARDS', ShardId: b } }),
    );
    expect(ofB.StreamDescription?.Shards?.map((s) => s.ShardId)).toEqual([child.shardId]);
    const none = await client.send(
      new DescribeStreamCommand({
        StreamArn: sim.streamArn,
        ShardFilter: { Type: 'CHILD_SHARDS', ShardId: child.shardId },
      }),
    );
    expect(none.StreamDescription?.Shards).toEqual([]);
  });

  it('serves records with the real fields and images for NEW_AND_OLD_IMAGES', async () => {
    const clock = new ManualClock(1_700_000_000_500);
    const sim = await fx.sim({ clock });
    const shardId = sim.openShardIds()[0]!;
    sim.put('a', { n: 1, tags: new Set(['x']), nested: { ok: true } });
    await clock.advance(1000);
    sim.put('a', { n: 2 });
    sim.remove('a');
    expect(sim.remove('a')).toBeUndefined(); // deleting nothing writes no record, as in DynamoDB
    const client = fx.client(sim);
    const { records, ended } = await drain(client, await iterator(client, sim, shardId));
    expect(ended).toBe(false);
    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    const [insert, modify, remove] = records as [(typeof records)[0], (typeof records)[0], (typeof records)[0]];
    expect(insert).toMatchObject({ eventSource: 'aws:dynamodb', eventVersion: '1.1', awsRegion: 'us-east-1' });
    expect(insert.eventID).toMatch(/^[0-9a-f]{32}$/);
    expect(insert.dynamodb?.ApproximateCreationDateTime).toEqual(new Date(1_700_000_000_000));
    expect(insert.dynamodb?.Keys).toEqual({ pk: { S: 'a' } });
    expect(unmarshall(insert.dynamodb!.NewImage!)).toEqual({
      pk: 'a',
      n: 1,
      tags: new Set(['x']),
      nested: { ok: true },
    });
    expect(insert.dynamodb?.OldImage).toBeUndefined();
    expect(insert.dynamodb?.StreamViewType).toBe('NEW_AND_OLD_IMAGES');
    expect(insert.dynamodb?.SizeBytes).toBeGreaterThan(0);
    expect(unmarshall(modify.dynamodb!.OldImage!)).toMatchObject({ n: 1 });
    expect(unmarshall(modify.dynamodb!.NewImage!)).toEqual({ pk: 'a', n: 2 });
    expect(remove.dynamodb?.NewImage).toBeUndefined();
    expect(remove.userIdentity).toBeUndefined();
    expect(unmarshall(remove.dynamodb!.OldImage!)).toEqual({ pk: 'a', n: 2 });
    const seqs = records.map(seqOf);
    for (const seq of seqs) expect(seq).toMatch(/^\d{21,}$/);
    expect(compareSequenceNumbers(seqs[0]!, seqs[1]!)).toBe(-1);
    expect(compareSequenceNumbers(seqs[1]!, seqs[2]!)).toBe(-1);
    expect(sim.manifest()).toEqual(
      records.map((r) => ({ shardId, sequenceNumber: seqOf(r), key: 'a', eventName: r.eventName })),
    );
  });

  it('marks Time to Live deletes with the service identity', async () => {
    const sim = await fx.sim();
    sim.put('session', { expiresAt: 1 });
    sim.remove('session', { ttl: true });
    const client = fx.client(sim);
    const { records } = await drain(client, await iterator(client, sim, sim.openShardIds()[0]!));
    expect(records.map((r) => [r.eventName, r.userIdentity])).toEqual([
      ['INSERT', undefined],
      ['REMOVE', { PrincipalId: 'dynamodb.amazonaws.com', Type: 'Service' }],
    ]);
  });

  it.each([
    ['KEYS_ONLY', false, false],
    ['NEW_IMAGE', true, false],
    ['OLD_IMAGE', false, true],
  ] as const)('follows the %s view type', async (viewType, hasNew, hasOld) => {
    const sim = await fx.sim({ viewType });
    sim.put('k', { v: 1 });
    sim.put('k', { v: 2 });
    const client = fx.client(sim);
    const { records } = await drain(client, await iterator(client, sim, sim.openShardIds()[0]!));
    const modify = records[1]!.dynamodb!;
    expect(modify.StreamViewType).toBe(viewType);
    expect(modify.Keys).toEqual({ pk: { S: 'k' } });
    expect(modify.NewImage !== undefined).toBe(hasNew);
    expect(modify.OldImage !== undefined).toBe(hasOld);
  });

  it('positions iterators at TRIM_HORIZON, LATEST, AT_ and AFTER_SEQUENCE_NUMBER', async () => {
    const sim = await fx.sim();
    const shardId = sim.openShardIds()[0]!;
    const written = [1, 2, 3, 4, 5].map((n) => sim.put(`k${n}`, { n }).sequenceNumber);
    const client = fx.client(sim);
    const read = async (type: Parameters<typeof iterator>[3], seq?: string) =>
      (await drain(client, await iterator(client, sim, shardId, type, seq))).records.map(seqOf);
    expect(await read('TRIM_HORIZON')).toEqual(written);
    expect(await read('AT_SEQUENCE_NUMBER', written[2])).toEqual(written.slice(2));
    expect(await read('AFTER_SEQUENCE_NUMBER', written[2])).toEqual(written.slice(3));
    expect(await read('AFTER_SEQUENCE_NUMBER', written[4])).toEqual([]);
    const latest = await iterator(client, sim, shardId, 'LATEST');
    expect((await drain(client, latest)).records).toEqual([]);
    const newer = sim.put('k6', { n: 6 }).sequenceNumber;
    expect((await drain(client, latest)).records.map(seqOf)).toEqual([newer]);
  });

  it('pages GetRecords by Limit and hands out a fresh iterator each call', async () => {
    const sim = await fx.sim();
    const shardId = sim.openShardIds()[0]!;
    for (let i = 0; i < 25; i++) sim.put(`k${i}`, { i });
    const client = fx.client(sim);
    const first = await client.send(
      new GetRecordsCommand({ ShardIterator: await iterator(client, sim, shardId), Limit: 10 }),
    );
    expect(first.Records).toHaveLength(10);
    const { records, calls } = await drain(client, first.NextShardIterator!, 10);
    expect(records.map(seqOf)).toEqual(
      sim
        .manifest()
        .slice(10)
        .map((e) => e.sequenceNumber),
    );
    expect(calls).toBe(3); // 10 + 5 + the empty poll of an open shard
    await expect(
      client.send(new GetRecordsCommand({ ShardIterator: first.NextShardIterator!, Limit: 1001 })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('caps a GetRecords answer at 1 MB', async () => {
    const sim = await fx.sim({ viewType: 'NEW_IMAGE' });
    const blob = 'x'.repeat(100_000);
    for (let i = 0; i < 25; i++) sim.put(`k${i}`, { blob });
    const client = fx.client(sim);
    const out = await client.send(
      new GetRecordsCommand({ ShardIterator: await iterator(client, sim, sim.openShardIds()[0]!) }),
    );
    const count = out.Records!.length;
    expect(count).toBeGreaterThanOrEqual(9);
    expect(count).toBeLessThan(11);
    const rest = await drain(client, out.NextShardIterator!);
    expect(count + rest.records.length).toBe(25);
  });

  it('ends a closed shard with a null NextShardIterator once fully read', async () => {
    const sim = await fx.sim();
    const shardId = sim.openShardIds()[0]!;
    for (let i = 0; i < 5; i++) sim.put(`k${i}`, { i });
    const client = fx.client(sim);
    const it3 = await client.send(
      new GetRecordsCommand({ ShardIterator: await iterator(client, sim, shardId), Limit: 3 }),
    );
    sim.rollover(shardId);
    const last = await client.send(new GetRecordsCommand({ ShardIterator: it3.NextShardIterator!, Limit: 3 }));
    expect(last.Records).toHaveLength(2);
    expect(last.NextShardIterator).toBeUndefined();
    // LATEST of a closed shard: nothing to read, and the shard ends at once.
    const latest = await client.send(
      new GetRecordsCommand({ ShardIterator: await iterator(client, sim, shardId, 'LATEST') }),
    );
    expect(latest.Records).toEqual([]);
    expect(latest.NextShardIterator).toBeUndefined();
  });

  it('answers bad input with the service errors', async () => {
    const sim = await fx.sim();
    const shardId = sim.openShardIds()[0]!;
    const seq = sim.put('k', { v: 1 }).sequenceNumber;
    const client = fx.client(sim, { maxAttempts: 1 });
    const otherArn = sim.streamArn.replace('shardline-sim', 'nope');
    const missingStream = await failure(client.send(new DescribeStreamCommand({ StreamArn: otherArn })));
    expect(missingStream).toBeInstanceOf(ResourceNotFoundException);
    expect(missingStream.$metadata?.httpStatusCode).toBe(400);
    const missingShard = await failure(iterator(client, sim, 'shardId-00000001700000000000-00000000'));
    expect(missingShard).toBeInstanceOf(ResourceNotFoundException);
    for (const bad of ['abc', '1', (BigInt(seq) + 1000n).toString()]) {
      const err = await failure(iterator(client, sim, shardId, 'AT_SEQUENCE_NUMBER', bad));
      expect(err.name).toBe('ValidationException');
      expect(err.$fault).toBe('client');
    }
    expect((await failure(iterator(client, sim, shardId, 'AFTER_SEQUENCE_NUMBER'))).name).toBe('ValidationException');
    const badType = await failure(
      client.send(
        new GetShardIteratorCommand({
          StreamArn: sim.streamArn,
          ShardId: shardId,
          ShardIteratorType: 'SOMEWHERE' as 'LATEST',
        }),
      ),
    );
    expect(badType.name).toBe('ValidationException');
    for (const token of ['garbage', Buffer.from('1|x|y|at|5|0').toString('base64url')]) {
      expect((await failure(client.send(new GetRecordsCommand({ ShardIterator: token })))).name).toBe(
        'ValidationException',
      );
    }
  });
});
