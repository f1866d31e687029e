import { afterAll, describe, expect, it } from 'vitest';
import type { ShardInfo } from '@shardline/core';
import { connectTestDynamoDB } from '@shardline/testkit';
import { LeaseStore } from '../src/lease-store.js';
import { closeFleetsAfterEach, Fleet, HEARTBEAT_MS, LEASE_MS, PlainLister, rootShards } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());
closeFleetsAfterEach();

const SYNC_MS = 4_000;
const AUDIT_MS = 40_000;

/** PlainLister with increments (shards are kept in creation order), counting what was asked. */
class IncrementalLister extends PlainLister {
  full = 0;
  after: string[] = [];
  children: string[] = [];
  override listShards(): Promise<ShardInfo[]> {
    this.full++;
    return super.listShards();
  }
  listShardsAfter(start: string): Promise<ShardInfo[]> {
    this.after.push(start);
    const at = this.shards.findIndex((s) => s.shardId === start);
    return Promise.resolve(at < 0 ? [] : this.shards.slice(at + 1).map((s) => ({ ...s })));
  }
  override listChildShards(parentId: string): Promise<ShardInfo[]> {
    this.children.push(parentId);
    return super.listChildShards(parentId);
  }
}

async function fleetOf(shards: number): Promise<{ fleet: Fleet; lister: IncrementalLister }> {
  const lister = new IncrementalLister(rootShards(shards));
  const fleet = new Fleet(db, lister, { shardSyncIntervalMs: SYNC_MS, shardAuditIntervalMs: AUDIT_MS });
  fleet.add('w1');
  fleet.add('w2');
  await fleet.start('w1', 'w2');
  await fleet.until(() => fleet.holders.size === shards, 3 * HEARTBEAT_MS);
  return { fleet, lister };
}

const ownerOf = (fleet: Fleet, shardId: string) =>
  fleet.coordinators().find((c) => c.heldLeases().some((l) => l.shardId === shardId))!;

describe('incremental shard sync on the real lease table (fake time)', () => {
  it('a new shard is found by an increment past the newest known shard, not a full describe', async () => {
    const { fleet, lister } = await fleetOf(4);
    const fullBefore = lister.full;
    lister.shards.push({ shardId: 'shardId-00004', startingSequenceNumber: '5000' });
    const took = await fleet.until(() => fleet.holders.has('shardId-00004'), SYNC_MS + 2 * HEARTBEAT_MS);
    expect(took).toBeLessThanOrEqual(SYNC_MS + 2 * HEARTBEAT_MS);
    expect(lister.full).toBe(fullBefore);
    expect(lister.after).toContain('shardId-00003');
    expect(fleet.overlaps).toEqual([]);
  });

  it('a shard end lists children (CHILD_SHARDS) only when the table has no lease for them yet', async () => {
    const { fleet, lister } = await fleetOf(2);
    // Children the leader has not synced yet: the finishing worker asks for them.
    const [a0] = lister.split('shardId-00000', 1);
    const w0 = ownerOf(fleet, 'shardId-00000');
    await w0.checkpoint('shardId-00000', 'SHARD_END');
    await fleet.settle();
    expect(lister.children).toEqual(['shardId-00000']);
    await fleet.until(() => fleet.holders.has(a0!), 2 * HEARTBEAT_MS);

    // Children already leased by a sync (and read by every worker): no DescribeStream at the end.
    const [b0, b1] = lister.split('shardId-00001', 2);
    await fleet.until(
      async () => (await fleet.table()).leases.filter((l) => l.shardId === b0 || l.shardId === b1).length === 2,
      SYNC_MS + 2 * HEARTBEAT_MS,
    );
    // The sync that listed them recorded them on the parent's lease too.
    await fleet.until(
      async () => (await fleet.table()).leases.find((l) => l.shardId === 'shardId-00001')?.childShardIds !== undefined,
      2 * HEARTBEAT_MS,
    );
    expect((await fleet.table()).leases.find((l) => l.shardId === 'shardId-00001')?.childShardIds).toEqual([b0, b1]);
    // Unowned new leases concern no one yet: every worker's safety-net full read has them.
    await fleet.advance(1.25 * AUDIT_MS + HEARTBEAT_MS);
    const w1 = ownerOf(fleet, 'shardId-00001');
    await w1.checkpoint('shardId-00001', 'SHARD_END');
    await fleet.until(() => fleet.holders.has(b0!) && fleet.holders.has(b1!), 2 * HEARTBEAT_MS);
    expect(lister.children).toEqual(['shardId-00000']);
    expect((await fleet.table()).leases.find((l) => l.shardId === 'shardId-00001')?.childShardIds).toEqual([b0, b1]);
    expect(fleet.overlaps).toEqual([]);
  });

  it('the worker ending a split shard claims both children while under its fair share, before any assignment', async () => {
    const { fleet, lister } = await fleetOf(2);
    const ender = fleet.coordinators().find((c) => !c.isLeader())!;
    const [parent] = ender.heldLeases().map((l) => l.shardId);
    const [c0, c1] = lister.split(parent!, 2);
    await fleet.until(
      async () => (await fleet.table()).leases.filter((l) => l.shardId === c0 || l.shardId === c1).length === 2,
      SYNC_MS + 2 * HEARTBEAT_MS,
    );
    // Heartbeats since: the ender knows the leader holds one lease.
    await fleet.advance(2 * HEARTBEAT_MS);
    const calls = fleet.get(ender.workerId).calls;
    const getsBefore = calls.get('GetItemCommand') ?? 0;
    await ender.checkpoint(parent!, 'SHARD_END');
    await fleet.settle();
    // The clock has not moved: no poll of the leader's assigned anything. Share: (1 + 0 + 2) / 2 → 2.
    expect([fleet.holders.get(c0!), fleet.holders.get(c1!)]).toEqual([ender.workerId, ender.workerId]);
    // Each child claimed blind (one write, its row in the answer), not read first.
    expect(calls.get('GetItemCommand') ?? 0).toBe(getsBefore);
    expect(lister.children).toEqual([]);
    expect(fleet.overlaps).toEqual([]);
  });

  it('a restarted fleet starts its shard list from the lease table: no full describe, an increment past the newest lease', async () => {
    const { fleet, lister } = await fleetOf(4);
    for (const coordinator of fleet.coordinators()) await coordinator.stop();
    lister.full = 0;
    lister.after = [];
    lister.shards.push({ shardId: 'shardId-00004', startingSequenceNumber: '5000' });
    const restarted = new Fleet(
      db,
      lister,
      { shardSyncIntervalMs: SYNC_MS, shardAuditIntervalMs: AUDIT_MS },
      fleet.leaseTableName,
    );
    restarted.add('w3');
    await restarted.start('w3');
    // (Rows a stopping worker handed to one stopping after it wait out the dead-after time.)
    await restarted.until(() => restarted.holders.size === 5, LEASE_MS + SYNC_MS + 3 * HEARTBEAT_MS);
    expect(lister.full).toBe(0);
    expect(lister.after[0]).toBe('shardId-00003');
    // The audit still comes, an audit interval later.
    await restarted.until(() => lister.full === 1, AUDIT_MS + SYNC_MS);
    expect(restarted.overlaps).toEqual([]);
  });

  it('a trimmed shard keeps its lease through increments; the audit deletes it', async () => {
    const { fleet, lister } = await fleetOf(3);
    const leaseOf = async (shardId: string) => (await fleet.table()).leases.find((l) => l.shardId === shardId);
    // Trimmed: its records are gone with it (a finished lease would be cleaned up through its children instead).
    lister.shards = lister.shards.filter((s) => s.shardId !== 'shardId-00000');
    const auditsBefore = lister.full;
    await fleet.advance(2 * SYNC_MS);
    expect(await leaseOf('shardId-00000')).toBeDefined();
    expect(lister.full).toBe(auditsBefore);
    await fleet.until(async () => (await leaseOf('shardId-00000')) === undefined, AUDIT_MS + SYNC_MS);
    expect(lister.full).toBe(auditsBefore + 1);
    expect(await leaseOf('shardId-00001')).toBeDefined();
  });
});

describe('notices: a change costs the workers it concerns a read of its rows, not of the table', () => {
  it('a new lease placed on a worker reaches it through its inbox: no worker but the leader scans', async () => {
    // w1 leads and keeps the +1 slots with w2 (2, 2, 1): the next lease goes to w3, not the leader.
    const lister = new IncrementalLister(rootShards(5));
    const fleet = new Fleet(db, lister, { shardSyncIntervalMs: SYNC_MS, shardAuditIntervalMs: AUDIT_MS });
    for (const id of ['w1', 'w2', 'w3']) fleet.add(id);
    await fleet.start('w1');
    await fleet.until(() => fleet.holders.size === 5, 3 * HEARTBEAT_MS);
    await fleet.start('w2', 'w3');
    await fleet.until(() => [...fleet.counts().values()].sort().join() === '1,2,2', 10 * HEARTBEAT_MS);
    await fleet.advance(2 * HEARTBEAT_MS); // hand-offs settle
    const store = new LeaseStore(db.dynamodb, fleet.leaseTableName, fleet.clock);
    const leader = async () => (await store.getLeaderAndWorkers([])).leader!;
    const scans = (id: string) => fleet.get(id).calls.get('ScanCommand') ?? 0;
    const before = await leader();
    const scansBefore = { w2: scans('w2'), w3: scans('w3') };

    lister.shards.push({ shardId: 'shardId-00005', startingSequenceNumber: '7000' });
    await fleet.until(() => fleet.holders.has('shardId-00005'), SYNC_MS + 2 * HEARTBEAT_MS);
    await fleet.advance(HEARTBEAT_MS);
    const after = await leader();
    expect(before.leaseOwner).toBe('w1');
    expect(fleet.holders.get('shardId-00005')).toBe('w3');
    expect({ w2: scans('w2'), w3: scans('w3') }).toEqual(scansBefore);
    expect(after.inboxes?.w3 ?? []).toEqual([]); // read and cleared
    // No bump for everyone, no bare notice: w2's light reads see nothing meant for it.
    expect(after.epoch - after.targetedEpoch).toBe(before.epoch - before.targetedEpoch);
    expect(after.notices ?? {}).toEqual(before.notices ?? {});
    expect(fleet.overlaps).toEqual([]);
  });
});
