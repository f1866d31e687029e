import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { qualifiedLeaseKey } from '../src/lease-key.js';
import { closeFleetsAfterEach, Fleet, HEARTBEAT_MS, PlainLister, rootShards, spread, STREAM_ARN } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());
closeFleetsAfterEach();

const OTHER_ARN = 'arn:aws:dynamodb:us-east-1:000000000000:table/payments/stream/2026-01-01T00:00:00.000';
const SYNC_MS = 4_000;

/** Two streams whose shard ids collide (as DynamoDB Local's and the simulator's do). */
function twoStreams(orders: number, payments: number) {
  const a = new PlainLister(rootShards(orders));
  const b = new PlainLister(rootShards(payments));
  return {
    a,
    b,
    streams: [
      { streamArn: STREAM_ARN, shardLister: a },
      { streamArn: OTHER_ARN, shardLister: b },
    ],
  };
}

describe('several streams in one lease table', () => {
  it('keys leases by stream, balances all shards of all streams to ±1, and keeps parents before children per stream', async () => {
    const { a, b, streams } = twoStreams(3, 4);
    const fleet = new Fleet(db, a, { streams, shardSyncIntervalMs: SYNC_MS });
    fleet.add('w1');
    fleet.add('w2');
    fleet.add('w3');
    await fleet.start('w1', 'w2', 'w3');
    await fleet.until(() => fleet.holders.size === 7, 3 * HEARTBEAT_MS);
    let table = await fleet.table();
    // A new application with two streams: every key is qualified, so equal shard ids never collide.
    expect(table.leases.map((l) => l.leaseKey).sort()).toEqual(
      [
        ...a.shards.map((s) => qualifiedLeaseKey(STREAM_ARN, s.shardId)),
        ...b.shards.map((s) => qualifiedLeaseKey(OTHER_ARN, s.shardId)),
      ].sort(),
    );
    expect(spread(fleet.counts().values())).toBeLessThanOrEqual(1);

    // A split in one stream: its children wait for their parent, not for the other stream's shard of the same id.
    const parent = 'shardId-00001';
    const children = b.split(parent, 2);
    await fleet.advance(SYNC_MS + HEARTBEAT_MS);
    table = await fleet.table();
    const childKeys = children.map((c) => qualifiedLeaseKey(OTHER_ARN, c));
    for (const key of childKeys) expect(table.leases.find((l) => l.leaseKey === key)?.owner).toBeUndefined();
    // Finishing stream A's shard of the same id releases nothing of stream B.
    const sameIdInA = qualifiedLeaseKey(STREAM_ARN, parent);
    const ownerA = fleet.coordinators().find((c) => c.heldLeases().some((l) => l.leaseKey === sameIdInA))!;
    await ownerA.checkpoint(sameIdInA, 'SHARD_END');
    await fleet.advance(2 * HEARTBEAT_MS);
    for (const key of childKeys) expect(fleet.holders.has(key)).toBe(false);

    const parentKey = qualifiedLeaseKey(OTHER_ARN, parent);
    const owner = fleet.coordinators().find((c) => c.heldLeases().some((l) => l.leaseKey === parentKey))!;
    await owner.checkpoint(parentKey, '1000500');
    await owner.checkpoint(parentKey, 'SHARD_END');
    await fleet.until(() => childKeys.every((k) => fleet.holders.has(k)), 3 * HEARTBEAT_MS);
    const held = fleet.coordinators().flatMap((c) => c.heldLeases());
    expect(held.filter((l) => childKeys.includes(l.leaseKey)).map((l) => l.streamArn)).toEqual([OTHER_ARN, OTHER_ARN]);
    expect(spread(fleet.counts().values())).toBeLessThanOrEqual(1);
    expect(fleet.overlaps).toEqual([]);
  });

  it('keeps consuming a single-stream table written before multi-stream support, with its plain keys, when a stream is added', async () => {
    const { a, b, streams } = twoStreams(2, 2);
    // Today's single-stream application: plain shard-id keys.
    const before = new Fleet(db, a, { shardSyncIntervalMs: SYNC_MS });
    before.add('old');
    await before.start('old');
    await before.until(() => before.holders.size === 2, 3 * HEARTBEAT_MS);
    const old = before.get('old').coordinator;
    await old.checkpoint('shardId-00000', '1000100');
    await before.close();

    // The upgraded application on the same table, with a second stream.
    const after = new Fleet(db, a, { streams, shardSyncIntervalMs: SYNC_MS }, before.leaseTableName);
    after.add('w1');
    after.add('w2');
    await after.start('w1', 'w2');
    await after.until(() => after.holders.size === 4, 4 * (HEARTBEAT_MS + 10_000));
    const table = await after.table();
    const keys = table.leases.map((l) => l.leaseKey).sort();
    expect(keys).toEqual(
      ['shardId-00000', 'shardId-00001', ...b.shards.map((s) => qualifiedLeaseKey(OTHER_ARN, s.shardId))].sort(),
    );
    expect(table.leases.find((l) => l.leaseKey === 'shardId-00000')?.checkpoint).toBe('1000100');
    expect(spread(after.counts().values())).toBeLessThanOrEqual(1);
    // A child of a plain-keyed shard stays plain: one stream's keys never change style.
    const [child] = a.split('shardId-00001', 1);
    const owner = after.coordinators().find((c) => c.heldLeases().some((l) => l.leaseKey === 'shardId-00001'))!;
    await owner.checkpoint('shardId-00001', 'SHARD_END');
    await after.until(() => after.holders.has(child!), 3 * HEARTBEAT_MS);
    expect(after.overlaps).toEqual([]);
  });
});
