import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { readLeaseTable } from '../src/lease-table.js';
import { closeFleetsAfterEach, Fleet, HEARTBEAT_MS, PlainLister, rootShards, spread } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

let fleet: Fleet | undefined;
closeFleetsAfterEach();

const SYNC_MS = 4_000;

async function twoWorkers(shards: number): Promise<Fleet> {
  const f = new Fleet(db, new PlainLister(rootShards(shards)), { shardSyncIntervalMs: SYNC_MS });
  f.add('w1');
  f.add('w2');
  await f.start('w1', 'w2');
  await f.until(() => f.holders.size === shards, 3 * HEARTBEAT_MS);
  return f;
}

function ownerOf(fleet: Fleet, shardId: string) {
  return fleet.coordinators().find((c) => c.heldLeases().some((l) => l.shardId === shardId));
}

describe('lineage', () => {
  it('keeps split children waiting until the parent is finished, then starts them without a poll', async () => {
    fleet = await twoWorkers(2);
    const parent = 'shardId-00000';
    const children = fleet.lister.split(parent, 2);
    // Shard sync finds the children and records their parent; they stay unowned meanwhile.
    await fleet.advance(SYNC_MS + HEARTBEAT_MS);
    let table = await fleet.table();
    for (const child of children) {
      const lease = table.leases.find((l) => l.shardId === child);
      expect(lease).toMatchObject({ parentShardIds: [parent], checkpoint: 'TRIM_HORIZON' });
      expect(lease?.owner).toBeUndefined();
    }

    const owner = ownerOf(fleet, parent)!;
    await owner.checkpoint(parent, '1000500');
    await owner.checkpoint(parent, 'SHARD_END');
    expect(owner.heldLeases().map((l) => l.shardId)).not.toContain(parent);
    // The finishing worker claims a child in the same instant (no clock movement at all); when
    // it is the leader it also places the other one at once …
    await fleet.settle();
    expect(children.filter((c) => fleet!.holders.has(c)).length).toBeGreaterThanOrEqual(owner.isLeader() ? 2 : 1);
    expect(children.some((c) => ownerOf(fleet!, c) === owner)).toBe(true);
    table = await fleet.table();
    expect(table.leases.find((l) => l.shardId === parent)).toMatchObject({
      checkpoint: 'SHARD_END',
      childShardIds: children,
    });
    // … otherwise the leader places it at its next cycle.
    const took = await fleet.until(() => children.every((c) => fleet!.holders.has(c)), 3 * HEARTBEAT_MS);
    expect(took).toBeLessThanOrEqual(2 * HEARTBEAT_MS);
    expect(spread(fleet.counts().values())).toBeLessThanOrEqual(1);
    expect(fleet.overlaps).toEqual([]);
  });

  it('creates child leases at SHARD_END even before shard sync has seen them (rollover)', async () => {
    fleet = await twoWorkers(2);
    const parent = 'shardId-00001';
    const [child] = fleet.lister.split(parent, 1);
    const owner = ownerOf(fleet, parent)!;
    await owner.checkpoint(parent, 'SHARD_END');
    await fleet.settle();
    expect(ownerOf(fleet, child!)).toBe(owner);
    expect(owner.heldLeases().find((l) => l.shardId === child)).toMatchObject({
      checkpoint: 'TRIM_HORIZON',
      parentShardIds: [parent],
    });
  });

  it('deletes a finished lease once its children started, and never recreates it', async () => {
    fleet = await twoWorkers(1);
    const parent = 'shardId-00000';
    const [child] = fleet.lister.split(parent, 1);
    const owner = ownerOf(fleet, parent)!;
    await owner.checkpoint(parent, 'SHARD_END');
    await fleet.until(() => fleet!.holders.has(child!), HEARTBEAT_MS);
    await fleet.advance(SYNC_MS + HEARTBEAT_MS);
    const table = await fleet.table();
    expect(table.leases.map((l) => l.shardId)).toEqual([child]);
    await fleet.advance(SYNC_MS + HEARTBEAT_MS);
    expect((await fleet.table()).leases.map((l) => l.shardId)).toEqual([child]);
  });

  it('treats a parent trimmed from the stream as finished', async () => {
    fleet = await twoWorkers(1);
    const parent = 'shardId-00000';
    const [child] = fleet.lister.split(parent, 1);
    await fleet.advance(SYNC_MS + HEARTBEAT_MS);
    expect(fleet.holders.has(child!)).toBe(false);
    // 24 h later the parent is gone from DescribeStream without ever having been finished.
    fleet.lister.shards = fleet.lister.shards.filter((s) => s.shardId !== parent);
    await fleet.until(() => fleet!.holders.has(child!) && !fleet!.holders.has(parent), SYNC_MS + 2 * HEARTBEAT_MS);
    expect(fleet.members.get('w1')!.lost.concat(fleet.members.get('w2')!.lost)).toEqual([
      expect.objectContaining({ shardId: parent, reason: 'deleted' }),
    ]);
  });

  it('starts a brand-new application at LATEST on open shards only, and children at TRIM_HORIZON', async () => {
    const lister = new PlainLister([
      { shardId: 'old', startingSequenceNumber: '1', endingSequenceNumber: '9' },
      { shardId: 'open', parentShardId: 'old', startingSequenceNumber: '10' },
    ]);
    fleet = new Fleet(db, lister, { initialPosition: 'LATEST', shardSyncIntervalMs: SYNC_MS });
    fleet.add('w1');
    await fleet.start('w1');
    await fleet.until(() => fleet!.holders.has('open'), 2 * HEARTBEAT_MS);
    expect(fleet.get('w1').coordinator.heldLeases()).toEqual([
      expect.objectContaining({ shardId: 'open', checkpoint: 'LATEST' }),
    ]);
    // The closed history has nothing to deliver at LATEST: no lease written for it.
    expect((await readLeaseTable(db.dynamodb, fleet.leaseTableName)).leases.map((l) => l.shardId)).toEqual(['open']);
    const [child] = lister.split('open', 1);
    await fleet.get('w1').coordinator.checkpoint('open', 'SHARD_END');
    await fleet.settle();
    expect(fleet.get('w1').coordinator.heldLeases()).toEqual([
      expect.objectContaining({ shardId: child, checkpoint: 'TRIM_HORIZON' }),
    ]);
  });
});
