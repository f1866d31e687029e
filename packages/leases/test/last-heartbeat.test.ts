import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { closeFleetsAfterEach, Fleet, HEARTBEAT_MS, LEASE_MS, PlainLister, rootShards } from './fleet.js';

// `lastHeartbeatAt()` feeds the worker's /healthz: it must move only when a heartbeat gets through.
const db = connectTestDynamoDB();
afterAll(() => db.close());

let fleet: Fleet | undefined;
closeFleetsAfterEach();

describe('LeaseCoordinator.lastHeartbeatAt', () => {
  it('is undefined before start, advances with each heartbeat, and stands still while writes fail', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(2)));
    const member = fleet.add('w1');
    const coordinator = member.coordinator;
    expect(coordinator.lastHeartbeatAt()).toBeUndefined();

    const startedAt = fleet.clock.now();
    await fleet.start('w1');
    expect(coordinator.lastHeartbeatAt()).toBe(startedAt);

    await fleet.advance(3 * HEARTBEAT_MS);
    const lastGood = coordinator.lastHeartbeatAt()!;
    expect(lastGood).toBeGreaterThanOrEqual(startedAt + 2 * HEARTBEAT_MS);
    expect(fleet.clock.now() - lastGood).toBeLessThanOrEqual(HEARTBEAT_MS);

    member.faults.partitioned = true;
    await fleet.advance(LEASE_MS + HEARTBEAT_MS);
    expect(coordinator.lastHeartbeatAt()).toBe(lastGood);
    expect(fleet.clock.now() - lastGood).toBeGreaterThan(LEASE_MS);

    member.faults.partitioned = false;
    await fleet.until(() => coordinator.lastHeartbeatAt()! > lastGood, 2 * HEARTBEAT_MS);
    expect(fleet.clock.now() - coordinator.lastHeartbeatAt()!).toBeLessThan(HEARTBEAT_MS);
  });
});
