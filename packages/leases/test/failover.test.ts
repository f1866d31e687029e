import { LeaseLostError } from '@shardline/core';
import { LEASE_WRITES_IN_FLIGHT } from '../src/concurrency.js';
import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import {
  closeFleetsAfterEach,
  Fleet,
  HEARTBEAT_MS,
  LEASE_MS,
  MARGIN_MS,
  PlainLister,
  rootShards,
  spread,
} from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

let fleet: Fleet | undefined;
closeFleetsAfterEach();

async function balancedFleet(workers: string[], shards: number): Promise<Fleet> {
  const f = new Fleet(db, new PlainLister(rootShards(shards)));
  for (const id of workers) f.add(id);
  await f.start(...workers);
  await f.until(() => f.holders.size === shards && spread(f.counts().values()) <= 1, 4 * HEARTBEAT_MS);
  return f;
}

describe('failures', () => {
  it('a partitioned coordinator fences itself before anyone takes its leases, then rejoins', async () => {
    fleet = await balancedFleet(['w1', 'w2', 'w3'], 12);
    const victim = fleet.coordinators().find((c) => !c.isLeader())!;
    const member = fleet.get(victim.workerId);
    const theirs = victim.heldLeases().map((l) => l.shardId);
    const partitionedAt = fleet.clock.now();
    member.faults.partitioned = true;

    await fleet.until(() => member.lost.length === theirs.length, LEASE_MS + HEARTBEAT_MS);
    expect(member.lost.every((l) => l.reason === 'fenced')).toBe(true);
    const fencedAt = Math.max(...member.lost.map((l) => l.at));
    expect(fencedAt - partitionedAt).toBeLessThanOrEqual(LEASE_MS);
    await expect(victim.checkpoint(theirs[0]!, '12345')).rejects.toBeInstanceOf(LeaseLostError);

    const others = fleet.coordinators().filter((c) => c !== victim);
    await fleet.until(
      () => theirs.every((s) => others.some((c) => c.heldLeases().some((l) => l.shardId === s))),
      LEASE_MS + MARGIN_MS + 2 * HEARTBEAT_MS,
    );
    const takenAt = Math.min(
      ...others.flatMap((c) => theirs.map((s) => fleet!.get(c.workerId).acquiredAt.get(s) ?? Infinity)),
    );
    expect(takenAt).toBeGreaterThan(fencedAt);
    expect(takenAt - fencedAt).toBeGreaterThanOrEqual(MARGIN_MS);

    // The partition heals: the worker heartbeats again, is seen alive and gets its share back.
    member.faults.partitioned = false;
    await fleet.until(
      () => victim.heldLeases().length === 4 && spread(fleet!.counts().values()) === 0,
      4 * HEARTBEAT_MS,
    );
    expect(fleet.overlaps).toEqual([]);
  });

  it('loses no lease while the lease table is throttled for less than a lease duration', async () => {
    fleet = await balancedFleet(['w1', 'w2', 'w3'], 9);
    const before = new Map(
      [...fleet.members].map(([id, m]) => [
        id,
        m.coordinator
          .heldLeases()
          .map((l) => l.shardId)
          .sort(),
      ]),
    );
    for (const m of fleet.members.values()) m.faults.throttled = true;
    await fleet.advance(0.7 * LEASE_MS);
    for (const m of fleet.members.values()) m.faults.throttled = false;
    await fleet.advance(LEASE_MS + MARGIN_MS);
    for (const [id, m] of fleet.members) {
      expect(m.lost).toEqual([]);
      expect(
        m.coordinator
          .heldLeases()
          .map((l) => l.shardId)
          .sort(),
      ).toEqual(before.get(id));
    }
  });

  it('fences a checkpoint after the lease moved, and emits lease:lost', async () => {
    fleet = await balancedFleet(['w1', 'w2'], 4);
    const owner = fleet.get('w1');
    const shardId = owner.coordinator.heldLeases()[0]!.shardId;
    await owner.coordinator.checkpoint(shardId, '1000001');
    expect((await fleet.table()).leases.find((l) => l.shardId === shardId)?.checkpoint).toBe('1000001');
    await expect(owner.coordinator.checkpoint(shardId, '1000000')).rejects.toThrow(/backwards/);
    // Someone (a stale leader, an operator) moves the lease behind the owner's back.
    const { UpdateItemCommand } = await import('@aws-sdk/client-dynamodb');
    await db.dynamodb.send(
      new UpdateItemCommand({
        TableName: fleet.leaseTableName,
        Key: { leaseKey: { S: shardId } },
        UpdateExpression: 'SET leaseCounter = leaseCounter + :one',
        ExpressionAttributeValues: { ':one': { N: '1' } },
      }),
    );
    await expect(owner.coordinator.checkpoint(shardId, '1000002')).rejects.toBeInstanceOf(LeaseLostError);
    expect(owner.lost).toEqual([expect.objectContaining({ shardId, reason: 'checkpoint-conflict' })]);
    expect(owner.coordinator.heldLeases().map((l) => l.shardId)).not.toContain(shardId);
  });

  it('a restarted worker id waits out its previous incarnation before re-taking its leases', async () => {
    fleet = await balancedFleet(['w1', 'w2'], 6);
    const old = fleet.get('w1').coordinator;
    const mine = old
      .heldLeases()
      .map((l) => l.shardId)
      .sort();
    await old.abandon();
    for (const s of mine) fleet.holders.delete(s);
    fleet.members.delete('w1');
    const restarted = fleet.add('w1');
    const startedAt = fleet.clock.now();
    await fleet.start('w1');
    await fleet.until(() => mine.every((s) => fleet!.holders.has(s)), LEASE_MS + MARGIN_MS + 2 * HEARTBEAT_MS);
    const firstTake = Math.min(
      ...[...restarted.acquiredAt.values(), ...mine.map((s) => fleet!.get('w2').acquiredAt.get(s) ?? Infinity)],
    );
    expect(firstTake - startedAt).toBeGreaterThanOrEqual(LEASE_MS + MARGIN_MS);
    expect(fleet.overlaps).toEqual([]);
  });
  it('a restarted worker id re-takes all its leases in one pass, several writes in flight at once', async () => {
    fleet = await balancedFleet(['w1'], 40);
    const old = fleet.get('w1').coordinator;
    await old.abandon();
    fleet.holders.clear();
    fleet.members.delete('w1');
    const restarted = fleet.add('w1');
    let inFlight = 0;
    let mostInFlight = 0;
    const isTransfer = (name: string, input: Record<string, unknown>) =>
      name === 'UpdateItemCommand' &&
      !String((input.Key as { leaseKey?: { S?: string } })?.leaseKey?.S).startsWith('_');
    restarted.faults.reject = (name, input) => {
      if (isTransfer(name, input)) mostInFlight = Math.max(mostInFlight, ++inFlight);
      return false;
    };
    restarted.faults.afterResponse = (name, input) => {
      if (isTransfer(name, input)) inFlight--;
      return Promise.resolve();
    };
    await fleet.start('w1');
    await fleet.until(() => fleet!.holders.size === 40, LEASE_MS + MARGIN_MS + 2 * HEARTBEAT_MS);
    expect(new Set(restarted.acquiredAt.values()).size).toBe(1);
    expect(mostInFlight).toBeGreaterThan(1);
    expect(mostInFlight).toBeLessThanOrEqual(LEASE_WRITES_IN_FLIGHT);
    expect(fleet.overlaps).toEqual([]);
  });
});

describe('leader', () => {
  it('elects exactly one leader among candidates starting together', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(10)));
    const elected: string[] = [];
    for (const id of ['a', 'b', 'c', 'd', 'e'])
      fleet.add(id).coordinator.events.on('leader:elected', ({ workerId }) => elected.push(workerId));
    await fleet.start('a', 'b', 'c', 'd', 'e');
    await fleet.advance(3 * HEARTBEAT_MS);
    const leaders = fleet.coordinators().filter((c) => c.isLeader());
    expect(leaders).toHaveLength(1);
    expect(elected).toEqual([leaders[0]!.workerId]);
    expect((await fleet.table()).leader?.workerId).toBe(leaders[0]!.workerId);
    expect(fleet.lister.calls).toBe(1);
  });

  it('replaces a killed leader within a lease duration of its death being noticed, and re-owns its leases', async () => {
    fleet = await balancedFleet(['w1', 'w2', 'w3'], 9);
    const leader = fleet.coordinators().find((c) => c.isLeader())!;
    const theirs = leader.heldLeases().map((l) => l.shardId);
    await leader.abandon();
    for (const s of theirs) fleet.holders.delete(s);
    const took = await fleet.until(() => fleet!.coordinators().some((c) => c !== leader && c.isLeader()), 2 * LEASE_MS);
    // Lease duration + margin after the last heartbeat was *seen*, which is up to one
    // heartbeat interval after it was written (plus the 100 ms test step).
    expect(took).toBeLessThanOrEqual(LEASE_MS + MARGIN_MS + HEARTBEAT_MS + 500);
    await fleet.until(() => theirs.every((s) => fleet!.holders.has(s)), HEARTBEAT_MS);
    expect(fleet.coordinators().filter((c) => c.isLeader())).toHaveLength(1);
    expect(fleet.overlaps).toEqual([]);
  });

  it('a graceful stop of the leader hands leadership over at the next poll', async () => {
    fleet = await balancedFleet(['w1', 'w2'], 4);
    const leader = fleet.coordinators().find((c) => c.isLeader())!;
    await leader.stop();
    const took = await fleet.until(
      () => fleet!.coordinators().some((c) => c !== leader && c.isLeader()),
      2 * HEARTBEAT_MS,
    );
    expect(took).toBeLessThanOrEqual(HEARTBEAT_MS);
    await fleet.until(() => fleet!.holders.size === 4, HEARTBEAT_MS);
  });
});
