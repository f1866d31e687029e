import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { LeaseStore } from '../src/lease-store.js';
import { Notices } from '../src/notices.js';
import { closeFleetsAfterEach, Fleet, HEARTBEAT_MS, PlainLister, rootShards } from './fleet.js';

// A worker's inbox (lease keys on the leader item) makes it read those rows alone. Races between
// that read and the leader's writes, each forced with a fault hook on the worker's client.
const db = connectTestDynamoDB();
afterAll(() => db.close());

closeFleetsAfterEach();

const keyOf = (input: Record<string, unknown>) => (input.Key as { leaseKey?: { S?: string } } | undefined)?.leaseKey?.S;

type KeyAttributes = { leaseKey?: { S?: string } };

/** Whether this request reads the row of this lease key (the inbox reads its rows in one BatchGetItem). */
const readsRow = (name: string, input: Record<string, unknown>, leaseKey: string): boolean => {
  if (name === 'GetItemCommand') return keyOf(input) === leaseKey;
  if (name !== 'BatchGetItemCommand') return false;
  const tables = Object.values((input.RequestItems ?? {}) as Record<string, { Keys?: KeyAttributes[] }>);
  return tables.some((t) => (t.Keys ?? []).some((k) => k.leaseKey?.S === leaseKey));
};

/** Two workers holding one lease each; returns the non-leader, its lease, the leader and a store acting as a leader would. */
async function twoWorkers() {
  const f = new Fleet(db, new PlainLister(rootShards(2)));
  f.add('w1');
  f.add('w2');
  await f.start('w1', 'w2');
  await f.until(() => f.holders.size === 2 && [...f.counts().values()].every((n) => n === 1), 5 * HEARTBEAT_MS);
  const leader = f.coordinators().find((c) => c.isLeader())!;
  const worker = f.get(f.coordinators().find((c) => c !== leader)!.workerId);
  const leaseKey = worker.coordinator.heldLeases()[0]!.leaseKey;
  const store = new LeaseStore(db.dynamodb, f.leaseTableName, f.clock);
  const sessionOf = async (workerId: string) =>
    (await store.scan()).workers.find((w) => w.workerId === workerId)!.sessionId;
  return { f, leader, worker, leaseKey, store, sessionOf };
}

describe('inbox', () => {
  it('keys leave the inbox before their rows are read: a change written in between is not lost', async () => {
    const { f, leader, worker, leaseKey, store, sessionOf } = await twoWorkers();
    const handOffs: string[] = [];
    worker.coordinator.events.on('lease:handoff', (e) => handOffs.push(e.leaseKey));
    const leaderRef = { workerId: leader.workerId, sessionId: await sessionOf(leader.workerId) };

    // The inbox names the worker's lease (nothing to do: it holds it). While the worker reads
    // that row, the leader asks for a hand-off of it and names it in the inbox again.
    let changed = false;
    worker.faults.afterResponse = async (name, input) => {
      if (!readsRow(name, input, leaseKey) || changed) return;
      changed = true;
      await store.requestHandOff((await store.getLease(leaseKey))!, leaderRef);
      await store.bumpEpoch(new Notices().add(worker.coordinator.workerId, leaseKey));
    };
    await store.bumpEpoch(new Notices().add(worker.coordinator.workerId, leaseKey));

    // Removed after the read, the second key left with the first: the hand-off waited for the
    // leader's forced move (hand-off timeout + lease duration + margin) or the safety-net read.
    await f.until(() => handOffs.includes(leaseKey), 3 * HEARTBEAT_MS);
    expect(changed).toBe(true);
    await f.until(
      () => f.holders.size === 2 && !f.coordinators().some((c) => c.heldLeases().length === 0),
      3 * HEARTBEAT_MS,
    );
    expect(f.overlaps).toEqual([]);
  });

  it('a row the inbox names that this worker dropped is re-taken with a counter bump: a leader moving it at once wins alone', async () => {
    const { f, leader, worker, leaseKey, store, sessionOf } = await twoWorkers();
    const leaderRef = { workerId: leader.workerId, sessionId: await sessionOf(leader.workerId) };

    // The worker lets the lease go, but its release write loses a race: the row still names it,
    // at the counter it dropped.
    let failRelease = true;
    worker.faults.conflict = (name, input) => failRelease && name === 'UpdateItemCommand' && keyOf(input) === leaseKey;
    await worker.coordinator.release(leaseKey);
    failRelease = false;
    expect(worker.coordinator.heldLeases()).toEqual([]);
    expect((await store.getLease(leaseKey))?.leaseOwner).toBe(worker.coordinator.workerId);
    f.holders.delete(leaseKey); // the worker's shard stopped with the release

    // The inbox names the row; right after the worker read it, the leader moves it (as it does a
    // stuck hand-off) to itself.
    const dropped = (await store.getLease(leaseKey))!.leaseCounter;
    const takenAsRead: number[] = [];
    worker.coordinator.events.on('lease:acquired', ({ lease }) => {
      if (lease.leaseKey === leaseKey && lease.counter === dropped) takenAsRead.push(f.clock.now());
    });
    let leaderTook = false;
    leader.events.on('lease:acquired', ({ lease }) => {
      if (lease.leaseKey === leaseKey) leaderTook = true;
    });
    let moved = false;
    worker.faults.afterResponse = async (name, input) => {
      if (!readsRow(name, input, leaseKey) || moved) return;
      moved = true;
      await store.transfer((await store.getLease(leaseKey))!, leaderRef);
      await store.bumpEpoch(new Notices().add(leader.workerId, leaseKey));
    };
    await store.bumpEpoch(new Notices().add(worker.coordinator.workerId, leaseKey));

    // (The leader may hand the lease back at once to balance the fleet: a hand-off, not an overlap.)
    await f.until(() => leaderTook, 3 * HEARTBEAT_MS);
    expect(moved).toBe(true);
    // Taken up as read (no write), the stale row made the worker a second holder.
    expect(takenAsRead).toEqual([]);
    expect(f.overlaps).toEqual([]);
  });
});
