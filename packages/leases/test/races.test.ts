import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { LeaseStore } from '@shardline/leases';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { Fleet, HEARTBEAT_MS, LEASE_MS, MARGIN_MS, PlainLister, rootShards, STREAM_ARN } from './fleet.js';

// Races found in review, each forced deterministically with a fault hook on one client.
const db = connectTestDynamoDB();
afterAll(() => db.close());

let fleet: Fleet | undefined;
afterEach(async (context) => {
  if (context.task.result?.state === 'fail') console.log(fleet?.logs.join('\n'));
  await fleet?.close();
  fleet = undefined;
});

/** Waits (real time, bounded) for a condition the test cannot drive with the clock. */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}

describe('races', () => {
  it('a table read started before checkpoint(SHARD_END) does not re-acquire the finished shard', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(1)));
    const w1 = fleet.add('w1');
    await fleet.start('w1');
    const shard = 'shardId-00000';
    await fleet.until(() => fleet!.holders.has(shard), 3 * HEARTBEAT_MS);
    let acquired = 0;
    w1.coordinator.events.on('lease:acquired', ({ lease }) => {
      if (lease.shardId === shard) acquired++;
    });

    // The next scan's answer (the lease still ours, not finished) is held back until the shard is finished.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let scanHeld = false;
    w1.faults.afterResponse = (name) => {
      if (name !== 'ScanCommand' || scanHeld) return undefined;
      scanHeld = true;
      return gate;
    };
    void fleet.clock.advance(HEARTBEAT_MS);
    await eventually(() => scanHeld, 'the held scan');
    await w1.coordinator.checkpoint(shard, 'SHARD_END');
    w1.faults.afterResponse = undefined;
    release();
    await fleet.settle();
    await fleet.advance(2 * HEARTBEAT_MS);
    expect(acquired).toBe(0);
    expect(w1.coordinator.heldLeases()).toEqual([]);
    expect((await fleet.table()).leases.find((l) => l.shardId === shard)).toMatchObject({ checkpoint: 'SHARD_END' });
  });

  it('a lease still at LATEST that changes owner moves at TRIM_HORIZON, so nothing written meanwhile is lost', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    const base = { itemType: 'lease' as const, streamArn: STREAM_ARN, parentShardIds: [], checkpoint: 'LATEST', leaseCounter: 0, ownerSwitchesSinceCheckpoint: 0 };
    await store.createLease({ ...base, leaseKey: 's-fresh', shardId: 's-fresh' });
    // The first owner of a new application's lease starts at LATEST as asked …
    const first = await store.transfer((await store.getLease('s-fresh'))!, { workerId: 'w1', sessionId: 'a' });
    expect(first.checkpoint).toBe('LATEST');
    // … every later owner (taken over, handed off, released and re-taken) from TRIM_HORIZON.
    const second = await store.transfer(first, { workerId: 'w2', sessionId: 'b' });
    expect(second).toMatchObject({ leaseOwner: 'w2', checkpoint: 'TRIM_HORIZON' });
    const released = await store.transfer(
      await store.transfer((await store.getLease('s-fresh'))!, undefined).then(async () => (await store.getLease('s-fresh'))!),
      { workerId: 'w3', sessionId: 'c' },
    );
    expect(released.checkpoint).toBe('TRIM_HORIZON');

    // Created with its owner set (a new application), released to nobody while still at LATEST.
    await store.createLease({ ...base, leaseKey: 's-owned', shardId: 's-owned', leaseOwner: 'w1', ownerSession: 'a', leaseCounter: 1, ownerSwitchesSinceCheckpoint: 1 });
    const toNobody = await store.transfer((await store.getLease('s-owned'))!, undefined);
    expect(toNobody.checkpoint).toBe('TRIM_HORIZON');
  });

  it('replaces a garbage leader item left unchanged for the dead-after time, so election resumes', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(2)));
    await new LeaseStore(db.dynamodb, fleet.leaseTableName).ensureTable();
    await db.dynamodb.send(
      new PutItemCommand({ TableName: fleet.leaseTableName, Item: { leaseKey: { S: '_leader' }, itemType: { S: 'leader' }, leaseOwner: { N: '42' }, note: { L: [{ S: 'hand-edited' }] } } }),
    );
    const w1 = fleet.add('w1');
    await fleet.start('w1');
    const took = await fleet.until(() => w1.coordinator.isLeader(), LEASE_MS + MARGIN_MS + 3 * HEARTBEAT_MS);
    expect(took).toBeGreaterThanOrEqual(LEASE_MS + MARGIN_MS);
    await fleet.until(() => fleet!.holders.size === 2, 3 * HEARTBEAT_MS);
    expect(fleet.logs.some((line) => line.includes('the leader item is invalid'))).toBe(true);
    expect((await fleet.table()).invalid).toEqual([]);
  });

  it('a garbage parent row holds its children back until its shard left the stream, and is never recreated', async () => {
    const parent = 'shardId-00000';
    const child = 'shardId-00000-c0';
    const lister = new PlainLister([
      { shardId: parent, startingSequenceNumber: '1000', endingSequenceNumber: '1999' },
      { shardId: child, parentShardId: parent, startingSequenceNumber: '2000' },
    ]);
    fleet = new Fleet(db, lister, { shardSyncIntervalMs: 2 * HEARTBEAT_MS });
    await new LeaseStore(db.dynamodb, fleet.leaseTableName).ensureTable();
    await db.dynamodb.send(
      new PutItemCommand({ TableName: fleet.leaseTableName, Item: { leaseKey: { S: parent }, itemType: { S: 'lease' }, shardId: { S: parent }, checkpoint: { S: 'half-done?' } } }),
    );
    fleet.add('w1');
    await fleet.start('w1');
    await fleet.advance(4 * HEARTBEAT_MS);
    let table = await fleet.table();
    expect(table.leases.find((l) => l.shardId === child)).toMatchObject({ parentShardIds: [parent] });
    expect(fleet.holders.has(child)).toBe(false);
    expect(table.invalid.map((r) => r.leaseKey)).toEqual([parent]);
    // The parent's shard is trimmed from the stream: nothing is left to read, the child starts.
    lister.shards = lister.shards.filter((s) => s.shardId !== parent);
    await fleet.until(() => fleet!.holders.has(child), 3 * HEARTBEAT_MS);
    table = await fleet.table();
    expect(table.invalid.map((r) => r.leaseKey)).toEqual([parent]);
  });
});
