import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { closeFleetsAfterEach, Fleet, HEARTBEAT_MS, PlainLister, rootShards } from './fleet.js';

// A graceful stop hands its leases to the workers the leader's rule picks from a read made at
// stop time, not from the last periodic one.
const db = connectTestDynamoDB();
afterAll(() => db.close());

let fleet: Fleet | undefined;
closeFleetsAfterEach();

describe('graceful stop', () => {
  it('hands nothing to a worker that stopped since its last full read: every lease goes to a live one at once', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(12)));
    for (const id of ['w1', 'w2', 'w3']) fleet.add(id);
    await fleet.start('w1', 'w2', 'w3');
    await fleet.until(() => fleet!.holders.size === 12, 3 * HEARTBEAT_MS);
    const leader = fleet.coordinators().find((c) => c.isLeader())!;
    const others = fleet.coordinators().filter((c) => c !== leader);
    const first = others[0]!;
    const second = others[1]!;

    // `first` stops; `second` picks up what it was handed through its inbox (light reads: it
    // never reads the heartbeat item of `first` again, so it still counts `first` as alive).
    await first.stop();
    await fleet.until(
      () => fleet!.holders.size === 12 && leader.heldLeases().length + second.heldLeases().length === 12,
      3 * HEARTBEAT_MS,
    );

    await second.stop();
    const table = await fleet.table();
    // Handed to `first` (its heartbeat item gone), a lease would wait there until the leader
    // judged `first` gone: a lease duration and the margin.
    expect(table.leases.map((l) => l.owner).filter((owner) => owner !== leader.workerId)).toEqual([]);
    await fleet.until(() => leader.heldLeases().length === 12, HEARTBEAT_MS);
    expect(fleet.overlaps).toEqual([]);
  });
});
