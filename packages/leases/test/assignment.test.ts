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

describe('assignment', () => {
  it('assigns every lease in the first cycle, balanced within one', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(20)));
    for (const id of ['w1', 'w2', 'w3']) fleet.add(id);
    await fleet.start('w1', 'w2', 'w3');
    // The leader waits one heartbeat interval to see who started with it, then one cycle
    // writes every assignment; the others pick theirs up at their next read.
    const took = await fleet.until(() => fleet!.holders.size === 20, 3 * HEARTBEAT_MS);
    expect(took).toBeLessThanOrEqual(2 * HEARTBEAT_MS);
    expect(spread(fleet.counts().values())).toBeLessThanOrEqual(1);
    expect([...fleet.counts().values()].reduce((a, b) => a + b, 0)).toBe(20);
    const table = await fleet.table();
    expect(table.leases).toHaveLength(20);
    expect(table.workers.map((w) => w.workerId)).toEqual(['w1', 'w2', 'w3']);
    expect(table.leader?.workerId).toMatch(/^w[123]$/);
    expect(fleet.overlaps).toEqual([]);
  });

  it('re-owns every lease of a killed coordinator within the lease duration plus one assignment interval', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(12)));
    for (const id of ['w1', 'w2', 'w3']) fleet.add(id);
    await fleet.start('w1', 'w2', 'w3');
    await fleet.until(() => fleet!.holders.size === 12, 3 * HEARTBEAT_MS);
    expect([...fleet.counts().values()]).toEqual([4, 4, 4]);
    await fleet.advance(700);
    // Kill a worker that is not the leader (the leader case is in leader.test.ts).
    const victim = fleet.coordinators().find((c) => !c.isLeader())!;
    const orphans = victim.heldLeases().map((l) => l.shardId);
    expect(orphans.length).toBeGreaterThan(0);
    await victim.abandon();
    for (const s of orphans) fleet.holders.delete(s);
    const took = await fleet.until(() => orphans.every((s) => fleet!.holders.has(s)), 3 * LEASE_MS);
    expect(took).toBeGreaterThanOrEqual(LEASE_MS);
    // Dead = lease duration + margin after the leader saw the victim's last heartbeat (its
    // heartbeat watch reads every quarter interval); it reassigns at once, and the new owners,
    // reading often while a worker is silent, pick the leases up within 250 ms (+ 100 ms steps).
    expect(took).toBeLessThanOrEqual(LEASE_MS + MARGIN_MS + HEARTBEAT_MS / 4 + 250 + 200);
    const survivors = fleet.coordinators().filter((c) => c !== victim);
    expect(spread(survivors.map((c) => c.heldLeases().length))).toBeLessThanOrEqual(1);
    expect(fleet.overlaps).toEqual([]);
  });

  it('rebalances to ±1 through hand-offs when a coordinator joins, never two holders at once', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(13)));
    const handOffs: string[] = [];
    for (const id of ['w1', 'w2'])
      fleet.add(id).coordinator.events.on('lease:handoff', ({ shardId }) => handOffs.push(shardId));
    await fleet.start('w1', 'w2');
    await fleet.until(() => fleet!.holders.size === 13, 3 * HEARTBEAT_MS);
    fleet.add('w3');
    await fleet.start('w3');
    const took = await fleet.until(
      () => fleet!.holders.size === 13 && spread(fleet!.counts().values()) <= 1,
      5 * HEARTBEAT_MS,
      50,
    );
    expect(took).toBeLessThanOrEqual(3 * HEARTBEAT_MS);
    expect(fleet.get('w3').coordinator.heldLeases()).toHaveLength(4);
    expect(handOffs).toHaveLength(4);
    expect(fleet.overlaps).toEqual([]);
    expect([...fleet.members.values()].flatMap((m) => m.lost)).toEqual([]);
  });

  it('hands every lease over before a graceful stop returns', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(12)));
    for (const id of ['w1', 'w2', 'w3']) fleet.add(id);
    await fleet.start('w1', 'w2', 'w3');
    await fleet.until(() => fleet!.holders.size === 12, 3 * HEARTBEAT_MS);
    const leaving = fleet.get('w2').coordinator;
    const released: string[] = [];
    leaving.events.on('lease:released', ({ shardId }) => released.push(shardId));
    const held = leaving
      .heldLeases()
      .map((l) => l.shardId)
      .sort();
    await leaving.stop();
    expect(released.sort()).toEqual(held);
    const table = await fleet.table();
    expect(
      table.leases
        .filter((l) => held.includes(l.shardId))
        .map((l) => l.owner)
        .every((o) => o === 'w1' || o === 'w3'),
    ).toBe(true);
    expect(table.workers.map((w) => w.workerId)).toEqual(['w1', 'w3']);
    await fleet.until(() => fleet!.holders.size === 12, 2 * HEARTBEAT_MS);
    expect(fleet.get('w1').coordinator.heldLeases().length + fleet.get('w3').coordinator.heldLeases().length).toBe(12);
    expect(fleet.get('w2').lost).toEqual([]);
    expect(fleet.overlaps).toEqual([]);
  });

  it('a graceful stop handing off many leases leaves no waits behind: listeners stay flat as leases go', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(24)));
    for (const id of ['w1', 'w2']) fleet.add(id);
    await fleet.start('w1', 'w2');
    await fleet.until(() => fleet!.holders.size === 24, 3 * HEARTBEAT_MS);
    const leaving = fleet.get('w2').coordinator;
    expect(leaving.heldLeases().length).toBe(12);
    // Each round of the stop's wait for releases waits on 'lease:lost' too (with an abort
    // listener on the coordinator's lifetime); a round that ended must take its waits along.
    const lostListeners: number[] = [];
    leaving.events.on('lease:released', () => lostListeners.push(leaving.events.listenerCount('lease:lost')));
    const before = leaving.events.listenerCount('lease:lost');
    // Released one at a time, as shard consumers finishing their batches do.
    fleet.releaseOnHandOff = false;
    const asked: string[] = [];
    leaving.events.on('lease:handoff', ({ shardId }) => asked.push(shardId));
    const stopping = leaving.stop();
    await fleet.until(() => asked.length === 12, 3 * HEARTBEAT_MS);
    for (const shardId of asked) {
      await leaving.release(shardId);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await stopping;
    expect(lostListeners).toHaveLength(12);
    expect(Math.max(...lostListeners)).toBeLessThanOrEqual(before + 1);
    await fleet.until(() => fleet!.get('w1').coordinator.heldLeases().length === 24, LEASE_MS);
  });

  it('leaves leases beyond maxLeasesPerWorker unowned until a worker has room', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(7)), { maxLeasesPerWorker: 3 });
    fleet.add('w1');
    fleet.add('w2');
    await fleet.start('w1', 'w2');
    await fleet.until(() => fleet!.holders.size === 6, 3 * HEARTBEAT_MS);
    await fleet.advance(2 * HEARTBEAT_MS);
    expect(fleet.holders.size).toBe(6);
    fleet.add('w3');
    await fleet.start('w3');
    await fleet.until(() => fleet!.holders.size === 7 && spread(fleet!.counts().values()) <= 1, 4 * HEARTBEAT_MS);
    expect([...fleet.counts().values()].sort()).toEqual([2, 2, 3]);
  });

  it('forces a hand-off the owner does not answer: stops the shard first, then moves it', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(4)), { handOffTimeoutMs: 5_000 });
    fleet.add('w1');
    await fleet.start('w1');
    await fleet.until(() => fleet!.holders.size === 4, 2 * HEARTBEAT_MS);
    fleet.releaseOnHandOff = false; // a worker stuck in its batch
    const w1 = fleet.get('w1');
    const asked: string[] = [];
    w1.coordinator.events.on('lease:handoff', ({ shardId }) => asked.push(shardId));
    fleet.add('w2');
    await fleet.start('w2');
    await fleet.until(() => asked.length === 2, 2 * HEARTBEAT_MS);
    await fleet.advance(4_000);
    expect(fleet.get('w2').coordinator.heldLeases()).toHaveLength(0);
    await fleet.until(() => fleet!.get('w2').coordinator.heldLeases().length === 2, 3 * HEARTBEAT_MS);
    expect(w1.lost.map((l) => [l.shardId, l.reason]).sort()).toEqual(asked.sort().map((s) => [s, 'handoff-timeout']));
    expect(fleet.overlaps).toEqual([]);
  });

  it('stop without hand-off drops the leases, and the others take them at once (no lease-duration wait)', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(6)));
    fleet.add('w1');
    fleet.add('w2');
    await fleet.start('w1', 'w2');
    await fleet.until(() => fleet!.holders.size === 6, 3 * HEARTBEAT_MS);
    const leaving = fleet.get('w2');
    const theirs = leaving.coordinator
      .heldLeases()
      .map((l) => l.shardId)
      .sort();
    const stopping = leaving.coordinator.stop({ handOff: false });
    expect(leaving.coordinator.stop()).toBe(stopping); // idempotent: the same promise
    await stopping;
    expect(leaving.lost.map((l) => l.shardId).sort()).toEqual(theirs);
    expect(leaving.lost.every((l) => l.reason === 'stopped')).toBe(true);
    const took = await fleet.until(() => fleet!.get('w1').coordinator.heldLeases().length === 6, 2 * LEASE_MS);
    expect(took).toBeLessThanOrEqual(2 * HEARTBEAT_MS);
    await leaving.coordinator.stop();
  });

  it('stop before start is a no-op, and start twice is refused', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(1)));
    const member = fleet.add('w1');
    await member.coordinator.stop();
    await expect(member.coordinator.start()).rejects.toThrow(/already started/);
  });

  it('steady state: one write per worker per heartbeat whatever the shard count, and only the leader scans', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(60)));
    for (const id of ['w1', 'w2', 'w3']) fleet.add(id);
    await fleet.start('w1', 'w2', 'w3');
    await fleet.until(() => fleet!.holders.size === 60, 3 * HEARTBEAT_MS);
    await fleet.advance(HEARTBEAT_MS);
    const writesBefore = fleet.writes;
    const scansBefore = new Map([...fleet.members].map(([id, m]) => [id, m.calls.get('ScanCommand') ?? 0]));
    await fleet.advance(10 * HEARTBEAT_MS, 250);
    expect(fleet.writes - writesBefore).toBe(3 * 10);
    for (const [id, m] of fleet.members) {
      const scans = (m.calls.get('ScanCommand') ?? 0) - scansBefore.get(id)!;
      if (m.coordinator.isLeader()) expect(scans).toBe(10);
      else expect(scans).toBe(0);
    }
  });
});
