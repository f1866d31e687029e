import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { qualifiedLeaseKey } from '../src/lease-key.js';
import type { StreamFollowing } from '../src/options.js';
import { closeFleetsAfterEach, Fleet, HEARTBEAT_MS, PlainLister, rootShards } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());
closeFleetsAfterEach();

const OLD = 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-01T00:00:00.000';
const NEW = 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-02T00:00:00.000';
const SYNC_MS = 4_000;
const CHECK_MS = 6_000;

describe('a re-enabled stream', () => {
  it('is noticed by the leader, drained behind the old one (whose shards all finish first), and the old stream retired', async () => {
    const oldShards = new PlainLister(rootShards(2));
    // The new stream's shards have the same ids as the old one's (DynamoDB Local's do not, ours may).
    const newShards = new PlainLister(rootShards(2));
    let latest = OLD;
    const asked: string[] = [];
    const following: StreamFollowing = {
      latestStreamArn: (table) => {
        asked.push(table);
        return Promise.resolve(latest);
      },
      shardListerFor: (arn) => {
        if (arn !== NEW) throw new Error(`unexpected stream ${arn}`);
        return newShards;
      },
    };
    const fleet = new Fleet(db, oldShards, {
      streams: [{ streamArn: OLD, shardLister: oldShards, followTable: true }],
      streamFollowing: following,
      streamCheckIntervalMs: CHECK_MS,
      shardSyncIntervalMs: SYNC_MS,
      // The new stream is read from its start anyway: nothing written after the switch is skipped.
      initialPosition: 'LATEST',
    });
    fleet.add('w1');
    fleet.add('w2');
    const replaced: unknown[] = [];
    for (const m of fleet.members.values()) m.coordinator.events.on('stream:replaced', (e) => replaced.push(e));
    await fleet.start('w1', 'w2');
    await fleet.until(() => fleet.holders.size === 2, 3 * HEARTBEAT_MS);

    // The stream is disabled (its shards close) and enabled again (a new stream).
    for (const shard of oldShards.shards) shard.endingSequenceNumber = '999999';
    latest = NEW;
    await fleet.until(() => replaced.length === 1, CHECK_MS + 2 * HEARTBEAT_MS);
    expect(replaced).toEqual([{ tableName: 'orders', streamArn: NEW, previousStreamArns: [OLD] }]);
    const newKeys = newShards.shards.map((s) => qualifiedLeaseKey(NEW, s.shardId));
    await fleet.until(
      async () => (await fleet.table()).leases.filter((l) => l.streamArn === NEW).length === 2,
      2 * HEARTBEAT_MS,
    );
    let table = await fleet.table();
    expect(table.leases.filter((l) => l.streamArn === NEW).map((l) => [l.leaseKey, l.checkpoint, l.owner])).toEqual(
      newKeys.map((key) => [key, 'TRIM_HORIZON', undefined]),
    );

    // One old shard finished: the new stream still waits (its keys may be in the other one).
    const ownerOf = (key: string) => fleet.coordinators().find((c) => c.heldLeases().some((l) => l.leaseKey === key))!;
    await ownerOf('shardId-00000').checkpoint('shardId-00000', 'SHARD_END');
    await fleet.advance(SYNC_MS + 3 * HEARTBEAT_MS);
    for (const key of newKeys) expect(fleet.holders.has(key)).toBe(false);

    // The last one finished: the new stream starts, balanced, and the old stream is retired.
    await ownerOf('shardId-00001').checkpoint('shardId-00001', 'SHARD_END');
    await fleet.until(() => newKeys.every((key) => fleet.holders.has(key)), SYNC_MS + 3 * HEARTBEAT_MS);
    expect(new Set(newKeys.map((key) => fleet.holders.get(key))).size).toBe(2);
    await fleet.until(async () => (await fleet.table()).leases.every((l) => l.streamArn === NEW), 2 * SYNC_MS);
    table = await fleet.table();
    expect(table.leases).toHaveLength(2);
    expect(asked.length).toBeGreaterThan(0);
    expect(fleet.overlaps).toEqual([]);

    // A worker started now knows only the new stream, and takes its share of it.
    fleet.add('w3', { streams: [{ streamArn: NEW, shardLister: newShards, followTable: true }] });
    await fleet.start('w3');
    expect(fleet.overlaps).toEqual([]);
  });
});
