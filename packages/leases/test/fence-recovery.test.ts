import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import {
  closeFleetsAfterEach,
  Fleet,
  HEARTBEAT_MS,
  isHeartbeatWrite,
  LEASE_MS,
  PlainLister,
  rootShards,
} from './fleet.js';

// Issue #10, defect 1: a worker that fenced itself and whose heartbeat gets through again must be
// back to work (or have let others take its leases) within about one heartbeat interval, whichever
// of its table scan and its heartbeat gets through first. Seen before the fix: ~30 s, the
// shardSyncIntervalMs safety net, when the scan came first.
const db = connectTestDynamoDB();
afterAll(() => db.close());
closeFleetsAfterEach();

const SHARDS = 4;
/** Wide enough that the fenced worker's scan and its recovery both land before anyone may take over. */
const MARGIN_MS = 4 * HEARTBEAT_MS;
const SHARD_SYNC_MS = 30_000;

type Order = 'scan before heartbeat' | 'heartbeat before scan';
type Role = 'a follower' | 'the leader';

describe('recovery from a self-fence', () => {
  it.each<[Role, Order]>([
    ['a follower', 'scan before heartbeat'],
    ['a follower', 'heartbeat before scan'],
    ['the leader', 'scan before heartbeat'],
    ['the leader', 'heartbeat before scan'],
  ])('%s recovers with its %s within a heartbeat interval', async (role, order) => {
    const fleet = new Fleet(db, new PlainLister(rootShards(SHARDS)), {
      takeoverMarginMs: MARGIN_MS,
      shardSyncIntervalMs: SHARD_SYNC_MS,
    });
    fleet.add('w1');
    fleet.add('w2');
    await fleet.start('w1', 'w2');
    await fleet.until(() => fleet.holders.size === SHARDS && fleet.counts().get('w1') === SHARDS / 2, 4 * HEARTBEAT_MS);
    const victim = fleet.coordinators().find((c) => c.isLeader() === (role === 'the leader'))!;
    const member = fleet.get(victim.workerId);
    const scans = () => member.calls.get('ScanCommand') ?? 0;

    if (order === 'scan before heartbeat') {
      // Only its heartbeat writes fail: reads get through, so a scan lands while it is fenced.
      member.faults.reject = isHeartbeatWrite(victim.workerId);
      await fleet.until(() => victim.isFenced(), LEASE_MS + HEARTBEAT_MS);
      const scansAtFence = scans();
      await fleet.until(() => scans() > scansAtFence, 2 * HEARTBEAT_MS);
      member.faults.reject = undefined;
    } else {
      // Everything fails; when the partition heals, scans stay blocked until the heartbeat got through.
      member.faults.partitioned = true;
      await fleet.until(() => victim.isFenced(), LEASE_MS + HEARTBEAT_MS);
      member.faults.reject = (name) => name === 'ScanCommand';
      member.faults.partitioned = false;
      await fleet.until(() => !victim.isFenced(), HEARTBEAT_MS);
      member.faults.reject = undefined;
    }
    expect(member.lost.length).toBe(SHARDS / 2);
    expect(member.lost.every((l) => l.reason === 'fenced')).toBe(true);

    await fleet.until(() => !victim.isFenced(), HEARTBEAT_MS);
    const back = await fleet.until(
      () => fleet.holders.size === SHARDS && fleet.coordinators().some((c) => c.isLeader()),
      SHARD_SYNC_MS + 2 * HEARTBEAT_MS,
    );
    expect(back).toBeLessThanOrEqual(HEARTBEAT_MS);
    // Nobody else could take over yet: the recovered worker re-took its own leases.
    expect(victim.heldLeases().length).toBe(SHARDS / 2);
    if (role === 'the leader') expect(victim.isLeader()).toBe(true);
    expect(fleet.overlaps).toEqual([]);
  });
});
