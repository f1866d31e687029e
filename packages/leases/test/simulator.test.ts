import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { streamsShardLister } from '../src/index.js';
import { connectTestDynamoDB, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
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
});
