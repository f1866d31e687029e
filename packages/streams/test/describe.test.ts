import { describe, expect, it } from 'vitest';
import type { StreamStatus, StreamViewType } from '@aws-sdk/client-dynamodb-streams';
import { ManualClock, RetriesExceededError, ThrottledError } from '@shardline/core';
import { listChildShards, listShards, listShardsAfter } from '../src/describe.js';
import { RateLimiter } from '../src/rate-limiter.js';
import { resolveStream } from '../src/resolve-stream.js';
import { ShardGraph } from '../src/lineage.js';
import { FakeStreams, FAKE_ARN, driveUntil } from './helpers/fake-streams.js';
import { loadFixture } from './helpers/fixtures.js';

const zero = () => 0;

describe('listShards paging (recorded pages, fake client)', () => {
  it('reads all 1,000 shards of the deep history, chaining ExclusiveStartShardId, stopping on the empty page', async () => {
    const fixture = loadFixture('deep-history');
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    fake.describeScript = structuredClone(fixture.pages);
    expect(fixture.pages.at(-2)!.StreamDescription!.LastEvaluatedShardId).toBeDefined(); // the quirk is in the fixture
    const shards = await driveUntil(clock, listShards(fake, FAKE_ARN, { clock }));
    expect(shards.length).toBe(1000);
    expect(fake.describeScript).toEqual([]); // every page read, none asked for beyond the empty one
    const inputs = fake.calls.map((c) => c.input);
    expect(inputs[0]!.ExclusiveStartShardId).toBeUndefined();
    for (let i = 1; i < inputs.length; i++) {
      expect(inputs[i]!.ExclusiveStartShardId).toBe(fixture.pages[i - 1]!.StreamDescription!.LastEvaluatedShardId);
      expect(inputs[i]!.Limit).toBe(100);
    }
    expect(ShardGraph.fromShards(shards).size).toBe(1000);
  });

  it('dedupes shards repeated across overlapping pages, keeping the closed copy', async () => {
    const fixture = loadFixture('duplicate-pages');
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    fake.describeScript = structuredClone(fixture.pages);
    const shards = await driveUntil(clock, listShards(fake, FAKE_ARN, { clock }));
    expect(shards.length).toBe(7);
    const reopened = fixture.pages[0]!.StreamDescription!.Shards![1]!.ShardId!;
    expect(shards.find((s) => s.shardId === reopened)!.endingSequenceNumber).toBeDefined();
  });

  it('stops when the service repeats a LastEvaluatedShardId instead of looping forever', async () => {
    const page = loadFixture('split').pages[0]!;
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    const looping = structuredClone(page);
    looping.StreamDescription!.LastEvaluatedShardId = page.StreamDescription!.Shards![0]!.ShardId;
    fake.describeScript = [structuredClone(looping), structuredClone(looping), structuredClone(looping)];
    const shards = await driveUntil(clock, listShards(fake, FAKE_ARN, { clock }));
    expect(shards.length).toBe(3);
    expect(fake.count('DescribeStream')).toBe(2);
  });

  it('backs off on LimitExceededException and then succeeds', async () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    fake.addShard('shardId-1');
    fake.failNext('DescribeStream', 'throttle', 3);
    const started = clock.now();
    const shards = await driveUntil(clock, listShards(fake, FAKE_ARN, { clock, random: () => 0.999 }), 10);
    expect(shards.map((s) => s.shardId)).toEqual(['shardId-1']);
    expect(fake.count('DescribeStream')).toBe(4);
    // Full jitter under ceilings of 100, 200, 400 ms: waited, but not longer than the ceilings.
    const waited = clock.now() - started;
    expect(waited).toBeGreaterThanOrEqual(690);
    expect(waited).toBeLessThanOrEqual(760);
  });

  it('gives up after maxAttempts with RetriesExceededError whose cause is the ThrottledError', async () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    fake.addShard('shardId-1');
    fake.failNext('DescribeStream', 'throttle', 100);
    const err = await driveUntil(
      clock,
      listShards(fake, FAKE_ARN, { clock, random: zero, maxAttempts: 4 }).catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(RetriesExceededError);
    expect((err as RetriesExceededError).cause).toBeInstanceOf(ThrottledError);
    expect(fake.count('DescribeStream')).toBe(4);
  });

  it('keeps DescribeStream at 10 calls in any second, bursting the first 10', async () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    for (let i = 0; i < 35; i++) fake.addShard(`shardId-${String(i).padStart(3, '0')}`);
    const start = clock.now();
    const shards = await driveUntil(clock, listShards(fake, FAKE_ARN, { clock, pageSize: 1 }), 10);
    expect(shards.length).toBe(35);
    const times = fake.calls.map((c) => c.at - start);
    expect(times.slice(0, 10)).toEqual(Array(10).fill(0));
    for (let i = 10; i < times.length; i++) expect(times[i]! - times[i - 10]!).toBeGreaterThanOrEqual(1000);
  });

  it('RateLimiter waits in arrival order and can be aborted', async () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(2, { clock });
    const order: number[] = [];
    const takes = [1, 2, 3, 4].map((n) => limiter.take().then(() => order.push(n)));
    const controller = new AbortController();
    const aborted = limiter.take(controller.signal).then(
      () => 'taken',
      (err: unknown) => (err as Error).name,
    );
    await clock.advance(0);
    expect(order).toEqual([1, 2]);
    await clock.advance(1000);
    expect(order).toEqual([1, 2, 3, 4]);
    controller.abort();
    expect(await aborted).toBe('AbortedError');
    await Promise.all(takes);
  });
});

describe('listChildShards', () => {
  function topology(clock: ManualClock) {
    const fake = new FakeStreams(clock);
    fake.addShard('shardId-parent');
    fake.put('shardId-parent', 3);
    fake.close('shardId-parent');
    fake.addShard('shardId-child-a', 'shardId-parent');
    fake.addShard('shardId-child-b', 'shardId-parent');
    fake.addShard('shardId-other');
    return fake;
  }

  it('uses ShardFilter CHILD_SHARDS when the service honours it (one call)', async () => {
    const clock = new ManualClock();
    const fake = topology(clock);
    const children = await driveUntil(clock, listChildShards(fake, FAKE_ARN, 'shardId-parent', { clock }));
    expect(children.map((s) => s.shardId)).toEqual(['shardId-child-a', 'shardId-child-b']);
    expect(fake.calls.map((c) => c.input.ShardFilter)).toEqual([{ Type: 'CHILD_SHARDS', ShardId: 'shardId-parent' }]);
  });

  it('falls back to the pages after the parent, filtered on ParentShardId, when the filter answers [] (DynamoDB Local)', async () => {
    const clock = new ManualClock();
    const fake = topology(clock);
    fake.shardFilterAlwaysEmpty = true;
    const children = await driveUntil(clock, listChildShards(fake, FAKE_ARN, 'shardId-parent', { clock, pageSize: 2 }));
    expect(children.map((s) => s.shardId)).toEqual(['shardId-child-a', 'shardId-child-b']);
    expect(fake.calls[0]!.input.ShardFilter).toBeDefined();
    const rest = fake.calls.slice(1);
    expect(rest.every((c) => c.input.ShardFilter === undefined)).toBe(true);
    // The 3 shards created after the parent, in pages of 2; the parent's own page is never asked for.
    expect(rest.map((c) => c.input.ExclusiveStartShardId)).toEqual(['shardId-parent', 'shardId-child-b']);
  });

  it('listShardsAfter reads only the pages after the given shard', async () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    for (let i = 0; i < 250; i++) fake.addShard(`shardId-${String(i).padStart(3, '0')}`);
    const after = await driveUntil(clock, listShardsAfter(fake, FAKE_ARN, 'shardId-239', { clock }));
    expect(after.map((s) => s.shardId)).toEqual(
      Array.from({ length: 10 }, (_, i) => `shardId-${String(240 + i).padStart(3, '0')}`),
    );
    expect(fake.count('DescribeStream')).toBe(1);
  });

  it('answers [] for an open shard without children', async () => {
    const clock = new ManualClock();
    const fake = topology(clock);
    expect(await driveUntil(clock, listChildShards(fake, FAKE_ARN, 'shardId-other', { clock }))).toEqual([]);
  });
});

describe('resolveStream with a fake client', () => {
  const arn = (label: string) => `arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/${label}`;
  const describeOf = (
    label: string,
    status: StreamStatus = 'ENABLED',
    viewType: StreamViewType = 'NEW_AND_OLD_IMAGES',
  ) => ({
    $metadata: {},
    StreamDescription: {
      StreamArn: arn(label),
      StreamLabel: label,
      StreamStatus: status,
      StreamViewType: viewType,
      TableName: 'orders',
      Shards: [],
    },
  });

  it('pages ListStreams (trailing LastEvaluatedStreamArn, empty page) and lists older streams oldest first', async () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    const labels = ['2026-11-20T00:00:00.000', '2026-11-24T10:00:00.000', '2026-11-24T12:00:00.000'];
    const entry = (label: string) => ({ StreamArn: arn(label), StreamLabel: label, TableName: 'orders' });
    fake.listStreamsScript = [
      { $metadata: {}, Streams: [entry(labels[2]!), entry(labels[0]!)], LastEvaluatedStreamArn: arn(labels[0]!) },
      { $metadata: {}, Streams: [entry(labels[1]!)], LastEvaluatedStreamArn: arn(labels[1]!) },
      { $metadata: {}, Streams: [] },
    ];
    fake.describeScript = [describeOf(labels[2]!)];
    fake.failNext('ListStreams', 'throttle', 1);
    const resolved = await driveUntil(
      clock,
      resolveStream({ streams: fake, tableName: 'orders', clock, random: zero }),
    );
    expect(resolved).toEqual({
      streamArn: arn(labels[2]!),
      tableName: 'orders',
      viewType: 'NEW_AND_OLD_IMAGES',
      streamLabel: labels[2],
      status: 'ENABLED',
      previousStreamArns: [arn(labels[0]!), arn(labels[1]!)],
    });
    expect(fake.count('ListStreams')).toBe(4); // one throttled, three pages
  });

  it('refuses a view type that cannot serve the processor, and a DISABLED stream', async () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    fake.describeScript = [describeOf('2026-11-24T00:00:00.000', 'ENABLED', 'NEW_IMAGE')];
    await expect(
      driveUntil(
        clock,
        resolveStream({
          streams: fake,
          streamArn: arn('2026-11-24T00:00:00.000'),
          requiredViewType: 'OLD_IMAGE',
          clock,
        }),
      ),
    ).rejects.toThrow(/view type NEW_IMAGE.*OLD_IMAGE/);
    fake.describeScript = [describeOf('2026-11-24T00:00:00.000', 'DISABLED')];
    await expect(
      driveUntil(clock, resolveStream({ streams: fake, streamArn: arn('2026-11-24T00:00:00.000'), clock })),
    ).rejects.toThrow(/DISABLED/);
    await expect(resolveStream({ streams: fake })).rejects.toThrow(/table name or a stream ARN/);
  });
});
