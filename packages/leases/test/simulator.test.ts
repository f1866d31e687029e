import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { resolveStream } from '@shardline/streams';
import { streamsShardLister } from '../src/index.js';
import {
  connectTestDynamoDB,
  SERVICE_RATE_LIMITS,
  startStreamSimulator,
  type StreamSimulator,
} from '@shardline/testkit';
import { closeFleetsAfterEach, Fleet, HEARTBEAT_MS, PlainLister, spread } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

let fleet: Fleet | undefined;
let sim: StreamSimulator | undefined;
let streams: DynamoDBStreamsClient | undefined;
afterEach(async () => {
  streams?.destroy();
  await sim?.stop();
  sim = undefined;
  streams = undefined;
});
// Registered last, so it runs first: the fleet stops before the simulator it reads from.
closeFleetsAfterEach();

describe('on the stream simulator (DescribeStream through @shardline/streams)', () => {
  it('shares the shards of a stream and follows a split as soon as the parent ends', async () => {
    fleet = new Fleet(db, new PlainLister([]));
    sim = await startStreamSimulator({ clock: fleet.clock, shards: 6 });
    streams = new DynamoDBStreamsClient({
      endpoint: sim.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'sim', secretAccessKey: 'sim' },
    });
    for (const id of ['w1', 'w2', 'w3'])
      fleet.add(id, { shardLister: streamsShardLister(streams, sim.streamArn), streamArn: sim.streamArn });
    await fleet.start('w1', 'w2', 'w3');
    await fleet.until(() => fleet!.holders.size === 6, 3 * HEARTBEAT_MS);
    expect(spread(fleet.counts().values())).toBe(0);

    const parent = sim.openShardIds()[0]!;
    const children = sim.split(parent).map((c) => c.shardId);
    const owner = fleet.coordinators().find((c) => c.heldLeases().some((l) => l.shardId === parent))!;
    await owner.checkpoint(parent, 'SHARD_END');
    await fleet.until(() => children.every((c) => fleet!.holders.has(c)), 3 * HEARTBEAT_MS);
    const table = await fleet.table();
    for (const child of children)
      expect(table.leases.find((l) => l.shardId === child)).toMatchObject({
        parentShardIds: [parent],
        checkpoint: 'TRIM_HORIZON',
      });
    expect(spread(fleet.counts().values())).toBeLessThanOrEqual(1);
    expect(fleet.overlaps).toEqual([]);
  });

  it('follows a re-enabled stream: every shard of the old one (split children included) finishes before the new one starts', async () => {
    fleet = new Fleet(db, new PlainLister([]));
    sim = await startStreamSimulator({ clock: fleet.clock, shards: 2 });
    const client = (streams = new DynamoDBStreamsClient({
      endpoint: sim.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'sim', secretAccessKey: 'sim' },
    }));
    const oldArn = sim.streamArn;
    const streamFollowing = {
      // No DynamoDB client: ListStreams(TableName) names the newest stream, as against any endpoint.
      latestStreamArn: async (tableName: string) =>
        (await resolveStream({ streams: client, tableName, allowDisabled: true })).streamArn,
      shardListerFor: (arn: string) => streamsShardLister(client, arn),
    };
    const replaced: string[] = [];
    for (const id of ['w1', 'w2']) {
      const member = fleet.add(id, {
        streams: [{ streamArn: oldArn, shardLister: streamsShardLister(client, oldArn), followTable: true }],
        streamFollowing,
        streamCheckIntervalMs: 5_000,
        shardSyncIntervalMs: 4_000,
      });
      member.coordinator.events.on('stream:replaced', ({ streamArn }) => replaced.push(streamArn));
    }
    await fleet.start('w1', 'w2');
    await fleet.until(() => fleet!.holders.size === 2, 3 * HEARTBEAT_MS);
    const [parent] = sim.openShardIds();
    const children = sim.split(parent!).map((c) => c.shardId);
    const ownerOf = (key: string) => fleet!.coordinators().find((c) => c.heldLeases().some((l) => l.leaseKey === key));
    await ownerOf(parent!)!.checkpoint(parent!, 'SHARD_END');
    await fleet.until(() => children.every((c) => fleet!.holders.has(c)), 3 * HEARTBEAT_MS);

    const newArn = sim.recreateStream();
    await fleet.until(() => replaced.length === 1, 5_000 + 3 * HEARTBEAT_MS);
    expect(replaced).toEqual([newArn]);
    const newKeys = sim.shards().map((s) => `${newArn}#${s.shardId}`);
    await fleet.until(async () => (await fleet!.table()).leases.some((l) => l.streamArn === newArn), 3 * HEARTBEAT_MS);
    // The old stream's three open shards finish one by one; the new stream waits for the last.
    const open = (await fleet.table()).leases.filter((l) => l.streamArn === oldArn && l.checkpoint !== 'SHARD_END');
    expect(open).toHaveLength(3);
    for (const lease of open) {
      for (const key of newKeys) expect(fleet.holders.has(key)).toBe(false);
      await ownerOf(lease.leaseKey)!.checkpoint(lease.leaseKey, 'SHARD_END');
      await fleet.advance(2 * HEARTBEAT_MS);
    }
    await fleet.until(() => newKeys.every((key) => fleet!.holders.has(key)), 3 * HEARTBEAT_MS);
    await fleet.until(async () => (await fleet!.table()).leases.every((l) => l.streamArn === newArn), 10_000);
    expect(fleet.overlaps).toEqual([]);
  });
});

describe('a stream of a few hundred shards on the simulator, service rate limits on', () => {
  it('one full describe, then increments: a split is found with one DescribeStream call', async () => {
    fleet = new Fleet(db, new PlainLister([]), { shardSyncIntervalMs: 4_000, shardAuditIntervalMs: 40_000 });
    sim = await startStreamSimulator({ clock: fleet.clock, shards: 20 });
    // 20 roots, split once (40 open), then rolled over until 300 shards: 260 closed, 40 open.
    for (const id of sim.openShardIds()) sim.split(id);
    while (sim.shards().length < 300)
      for (const id of sim.openShardIds().slice(0, 300 - sim.shards().length)) sim.rollover(id);
    sim.faults.limits(SERVICE_RATE_LIMITS);
    streams = new DynamoDBStreamsClient({
      endpoint: sim.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'sim', secretAccessKey: 'sim' },
      maxAttempts: 1,
    });
    const lister = streamsShardLister(streams, sim.streamArn, { clock: fleet.clock });
    for (const id of ['w1', 'w2', 'w3']) fleet.add(id, { shardLister: lister, streamArn: sim.streamArn });
    const syncs = { audits: 0, increments: 0 };
    for (const c of fleet.coordinators())
      c.events.on('shardsync:done', ({ audit }) => void (audit ? syncs.audits++ : syncs.increments++));
    await fleet.start('w1', 'w2', 'w3');
    // TRIM_HORIZON: every shard gets a lease; the 20 roots may start (their parents are not in the stream).
    await fleet.until(async () => (await fleet!.table()).leases.length === 300, 6 * HEARTBEAT_MS);
    await fleet.until(() => fleet!.holders.size === 20, 3 * HEARTBEAT_MS);
    expect(spread(fleet.counts().values())).toBeLessThanOrEqual(1);
    const described = sim.calls().DescribeStream;
    // One audit (300 shards: 3 full pages of 100 and the empty page a full one points to), then one
    // call per increment (one may be in flight): no shard sync describes the stream again.
    expect(syncs.audits).toBe(1);
    expect(described - 4 - syncs.increments).toBeGreaterThanOrEqual(0);
    expect(described - 4 - syncs.increments).toBeLessThanOrEqual(1);

    // A new split of an open shard: the next sync reads only the pages after the newest shard.
    const children = sim.split(sim.openShardIds()[0]!).map((c) => c.shardId);
    await fleet.until(
      async () => (await fleet!.table()).leases.filter((l) => children.includes(l.shardId)).length === 2,
      4_000 + 2 * HEARTBEAT_MS,
    );
    expect(sim.calls().DescribeStream - described).toBeLessThanOrEqual(2);
    expect(fleet.overlaps).toEqual([]);
  });
});
