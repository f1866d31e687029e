import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { LeaseLostError } from '@shardline/core';
import type { LeaseItem } from '../src/items.js';
import { LeaseStore } from '../src/lease-store.js';
import { Notices } from '../src/notices.js';
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  closeFleetsAfterEach,
  Fleet,
  HEARTBEAT_MS,
  LEASE_MS,
  MARGIN_MS,
  leaseRow,
  PlainLister,
  rootShards,
  STREAM_ARN,
} from './fleet.js';

// Races found in review, each forced deterministically with a fault hook on one client.
const db = connectTestDynamoDB();
afterAll(() => db.close());

let fleet: Fleet | undefined;
closeFleetsAfterEach();

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
    const base = {
      itemType: 'lease' as const,
      streamArn: STREAM_ARN,
      parentShardIds: [],
      checkpoint: 'LATEST',
      leaseCounter: 0,
      ownerSwitchesSinceCheckpoint: 0,
    };
    await store.createLease({ ...base, leaseKey: 's-fresh', shardId: 's-fresh' });
    // The first owner of a new application's lease starts at LATEST as asked …
    const first = await store.transfer((await store.getLease('s-fresh'))!, { workerId: 'w1', sessionId: 'a' });
    expect(first.checkpoint).toBe('LATEST');
    // … every later owner (taken over, handed off, released and re-taken) from TRIM_HORIZON.
    const second = await store.transfer(first, { workerId: 'w2', sessionId: 'b' });
    expect(second).toMatchObject({ leaseOwner: 'w2', checkpoint: 'TRIM_HORIZON' });
    const released = await store.transfer(
      await store
        .transfer((await store.getLease('s-fresh'))!, undefined)
        .then(async () => (await store.getLease('s-fresh'))!),
      { workerId: 'w3', sessionId: 'c' },
    );
    expect(released.checkpoint).toBe('TRIM_HORIZON');

    // Created with its owner set (a new application), released to nobody while still at LATEST.
    await store.createLease({
      ...base,
      leaseKey: 's-owned',
      shardId: 's-owned',
      leaseOwner: 'w1',
      ownerSession: 'a',
      leaseCounter: 1,
      ownerSwitchesSinceCheckpoint: 1,
    });
    const toNobody = await store.transfer((await store.getLease('s-owned'))!, undefined);
    expect(toNobody.checkpoint).toBe('TRIM_HORIZON');
  });

  it('replaces a garbage leader item left unchanged for the dead-after time, so election resumes', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(2)));
    await new LeaseStore(db.dynamodb, fleet.leaseTableName).ensureTable();
    await db.dynamodb.send(
      new PutItemCommand({
        TableName: fleet.leaseTableName,
        Item: {
          leaseKey: { S: '_leader' },
          itemType: { S: 'leader' },
          leaseOwner: { N: '42' },
          note: { L: [{ S: 'hand-edited' }] },
        },
      }),
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
      new PutItemCommand({
        TableName: fleet.leaseTableName,
        Item: {
          leaseKey: { S: parent },
          itemType: { S: 'lease' },
          shardId: { S: parent },
          checkpoint: { S: 'half-done?' },
        },
      }),
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

  it('a heartbeat overwritten by another process with the same worker id fences this one at once and for good', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(2)));
    const w1 = fleet.add('w1');
    await fleet.start('w1');
    await fleet.until(() => fleet!.holders.size === 2, 3 * HEARTBEAT_MS);
    let acquired = 0;
    w1.coordinator.events.on('lease:acquired', () => acquired++);
    // A restarted process with the same id writes its heartbeat item while this one still runs.
    const key = { leaseKey: { S: '_worker#w1' } };
    const { Item } = await db.dynamodb.send(
      new GetItemCommand({ TableName: fleet.leaseTableName, Key: key, ConsistentRead: true }),
    );
    await db.dynamodb.send(
      new PutItemCommand({ TableName: fleet.leaseTableName, Item: { ...Item!, sessionId: { S: 'a-newer-process' } } }),
    );
    const at = fleet.clock.now();
    await fleet.until(() => w1.lost.length === 2, HEARTBEAT_MS + 500);
    expect(w1.lost.every((l) => l.reason === 'fenced' && l.at - at <= HEARTBEAT_MS + 500)).toBe(true);
    expect(w1.coordinator.heldLeases()).toEqual([]);
    // The other process goes away (its item deleted): this one stays fenced and takes nothing.
    await db.dynamodb.send(new DeleteItemCommand({ TableName: fleet.leaseTableName, Key: key }));
    await fleet.advance(2 * (LEASE_MS + MARGIN_MS));
    expect(acquired).toBe(0);
    expect(w1.coordinator.heldLeases()).toEqual([]);
    expect(w1.coordinator.isLeader()).toBe(false);
    // The newer process owns a lease under the same worker id: stopping this one leaves it alone.
    const store = new LeaseStore(db.dynamodb, fleet.leaseTableName);
    const row = (await store.getLease('shardId-00000'))!;
    await store.transfer(row, { workerId: 'w1', sessionId: 'a-newer-process' });
    await w1.coordinator.stop({ handOff: false });
    expect(await store.getLease('shardId-00000')).toMatchObject({ leaseOwner: 'w1', ownerSession: 'a-newer-process' });
  });

  it('a lease whose take-over write returns after the fence fell is not taken up', async () => {
    const lister = new PlainLister(rootShards(1));
    fleet = new Fleet(db, lister, { shardSyncIntervalMs: 2 * HEARTBEAT_MS });
    const w1 = fleet.add('w1');
    await fleet.start('w1');
    const parent = 'shardId-00000';
    await fleet.until(() => fleet!.holders.has(parent), 3 * HEARTBEAT_MS);
    const [child] = lister.split(parent, 1) as [string];
    await fleet.until(async () => (await fleet!.table()).leases.some((l) => l.shardId === child), 4 * HEARTBEAT_MS);
    const acquired: string[] = [];
    w1.coordinator.events.on('lease:acquired', ({ lease }) => acquired.push(lease.shardId));

    // The finisher claims the child at once; that write's answer is held back while the process
    // is cut off for longer than a lease duration.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    w1.faults.afterResponse = (name, input) => {
      const target = (input.Key as { leaseKey?: { S?: string } } | undefined)?.leaseKey?.S;
      if (name !== 'UpdateItemCommand' || target !== child || held) return undefined;
      held = true;
      w1.faults.partitioned = true;
      return gate;
    };
    await w1.coordinator.checkpoint(parent, 'SHARD_END');
    await eventually(() => held, 'the held take-over');
    await fleet.clock.advance(LEASE_MS + HEARTBEAT_MS);
    expect(w1.lost.length).toBe(0); // nothing held to lose meanwhile
    release();
    await fleet.settle();
    expect(acquired).toEqual([]);
    expect(w1.coordinator.heldLeases()).toEqual([]);
  });

  it('a checkpoint is conditional on the owner session too (a previous incarnation of the worker id cannot write one)', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    const row = leaseRow('s', {
      leaseOwner: 'w1',
      ownerSession: 'new',
      leaseCounter: 3,
      ownerSwitchesSinceCheckpoint: 1,
    });
    await store.createLease(row);
    await expect(store.checkpoint('s', 'w1', 3, '100', 'old')).rejects.toBeInstanceOf(LeaseLostError);
    await expect(store.checkpoint('s', 'w1', 3, '100', 'new')).resolves.toMatchObject({ checkpoint: '100' });
  });

  it('two blind claims of one free child: exactly one wins, the counter bumped once; owned, finished, LATEST and absent rows are not taken', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    const row = (leaseKey: string, extra: Partial<LeaseItem> = {}) =>
      leaseRow(leaseKey, { parentShardIds: ['p'], ...extra });
    await store.createLease(row('free'));
    const claims = await Promise.all([
      store.claimFree('free', { workerId: 'w1', sessionId: 's1' }),
      store.claimFree('free', { workerId: 'w2', sessionId: 's2' }),
    ]);
    const winners = claims.filter((c) => c !== undefined);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toMatchObject({ leaseCounter: 1, ownerSwitchesSinceCheckpoint: 1, checkpoint: 'TRIM_HORIZON' });
    expect(await store.getLease('free')).toMatchObject({
      leaseOwner: winners[0]!.leaseOwner,
      ownerSession: winners[0]!.ownerSession,
      leaseCounter: 1,
    });

    await store.createLease(row('owned', { leaseOwner: 'w9', ownerSession: 's9', leaseCounter: 4 }));
    await store.createLease(row('finished', { checkpoint: 'SHARD_END', leaseCounter: 2 }));
    await store.createLease(row('latest', { checkpoint: 'LATEST' }));
    for (const key of ['owned', 'finished', 'latest', 'absent']) {
      const before = await store.getRaw(key);
      await expect(store.claimFree(key, { workerId: 'w1', sessionId: 's1' })).resolves.toBeUndefined();
      expect(await store.getRaw(key)).toEqual(before);
    }
  });

  it('a lease put on a worker while its table scan ran is taken up at once, though the scan paged its row before the write', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(2)));
    fleet.add('w1');
    await fleet.start('w1');
    await fleet.until(() => fleet!.holders.size === 2, 3 * HEARTBEAT_MS);
    const w2 = fleet.add('w2');
    await fleet.start('w2');
    await fleet.until(() => [...fleet!.counts().values()].every((n) => n === 1), 20 * HEARTBEAT_MS);
    const leaseKey = [...fleet.holders].find(([, owner]) => owner === 'w1')![0];
    const key = { leaseKey: { S: leaseKey } };
    const stale = (await db.dynamodb.send(new GetItemCommand({ TableName: fleet.leaseTableName, Key: key }))).Item!;

    // The leader's assignment, written while w2's next scan runs: the row moves to w2, then w2's
    // inbox names it; w2 also gets a bare notice (another change), so its next poll is a full read.
    const store = new LeaseStore(db.dynamodb, fleet.leaseTableName, fleet.clock);
    const w2Session = (await store.scan()).workers.find((w) => w.workerId === 'w2')!.sessionId;
    await store.transfer((await store.getLease(leaseKey))!, { workerId: 'w2', sessionId: w2Session });
    await store.bumpEpoch(new Notices().add('w2', leaseKey));
    await store.bumpEpoch(new Notices().add('w2'));
    let staleServed = false;
    w2.faults.editOutput = (name, output) => {
      if (name !== 'ScanCommand' || staleServed) return;
      const items = output.Items as Array<Record<string, { S?: string }>>;
      const at = items.findIndex((item) => item.leaseKey?.S === leaseKey);
      if (at < 0) return;
      items[at] = stale;
      staleServed = true;
    };

    await fleet.until(() => w2.coordinator.heldLeases().some((l) => l.leaseKey === leaseKey), 3 * HEARTBEAT_MS);
    expect(staleServed).toBe(true);
  });
});
