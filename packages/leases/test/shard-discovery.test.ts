import { describe, expect, it } from 'vitest';
import { ManualClock, type ShardInfo } from '@shardline/core';
import { pino } from 'pino';
import { ShardDiscovery } from '../src/shard-discovery.js';
import { planShardSync } from '../src/shard-sync.js';
import { STREAM_ARN } from './fleet.js';

const AUDIT_MS = 300_000;
const SYNC_MS = 30_000;

/**
 * A stream's DescribeStream answers as plain data, in creation order like the service: what
 * `ShardDiscovery` asked for is recorded, so a test sees full describes and increments apart.
 */
class RecordingLister {
  shards: ShardInfo[] = [];
  readonly asked: string[] = [];
  listShards(): Promise<ShardInfo[]> {
    this.asked.push('all');
    return Promise.resolve(this.shards.map((s) => ({ ...s })));
  }
  listShardsAfter(start: string): Promise<ShardInfo[]> {
    this.asked.push(`after ${start}`);
    const at = this.shards.findIndex((s) => s.shardId === start);
    // A start the service no longer lists answers nothing (what the simulator does).
    return Promise.resolve(at < 0 ? [] : this.shards.slice(at + 1).map((s) => ({ ...s })));
  }
  listChildShards(parentId: string): Promise<ShardInfo[]> {
    return Promise.resolve(this.shards.filter((s) => s.parentShardId === parentId));
  }
  add(shardId: string, parentShardId?: string): void {
    this.shards.push({ shardId, startingSequenceNumber: '1', ...(parentShardId ? { parentShardId } : {}) });
  }
  close(shardId: string): void {
    this.shards.find((s) => s.shardId === shardId)!.endingSequenceNumber = '9';
  }
}

function setUp(count: number) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const lister = new RecordingLister();
  for (let i = 0; i < count; i++) lister.add(id(i));
  const discovery = new ShardDiscovery({
    streamArn: STREAM_ARN,
    lister,
    auditIntervalMs: AUDIT_MS,
    clock,
    log: pino({ level: 'silent' }),
  });
  return { clock, lister, discovery };
}

const id = (n: number) => `shardId-${String(n).padStart(20, '0')}-0000000${n % 10}`;
const ids = (shards: readonly ShardInfo[]) => shards.map((s) => s.shardId);

/** A lease row of this shard, unowned, checkpointed mid-shard, as planShardSync reads them. */
const lease = (shardId: string, extra: Record<string, unknown> = {}) => ({
  leaseKey: shardId,
  itemType: 'lease' as const,
  shardId,
  streamArn: STREAM_ARN,
  leaseCounter: 1,
  checkpoint: '5',
  parentShardIds: [],
  ownerSwitchesSinceCheckpoint: 0,
  ...extra,
});

describe('ShardDiscovery (fake time, recorded listings)', () => {
  it('audits first, then finds a new shard with one increment past the newest known shard', async () => {
    const { clock, lister, discovery } = setUp(300);
    const first = await discovery.sync();
    expect(first).toMatchObject({ complete: true, added: 300, removed: 0 });
    expect(lister.asked).toEqual(['all']);

    await clock.advance(SYNC_MS);
    lister.close(id(299));
    lister.add(id(300), id(299));
    const next = await discovery.sync();
    expect(lister.asked).toEqual(['all', `after ${id(299)}`]);
    expect(next).toMatchObject({ complete: false, added: 1 });
    expect(ids(next.shards)).toEqual([...ids(first.shards), id(300)]);

    // The next increment starts past the shard just found; nothing new, nothing added.
    await clock.advance(SYNC_MS);
    const quiet = await discovery.sync();
    expect(lister.asked.at(-1)).toBe(`after ${id(300)}`);
    expect(quiet).toMatchObject({ complete: false, added: 0 });
    expect(quiet.shards).toHaveLength(301);
  });

  it('describes in full again once the audit interval has passed, and when asked to', async () => {
    const { clock, lister, discovery } = setUp(5);
    await discovery.sync();
    await clock.advance(AUDIT_MS - 1);
    await discovery.sync();
    expect(lister.asked).toEqual(['all', `after ${id(4)}`]);
    await clock.advance(1);
    expect(await discovery.sync()).toMatchObject({ complete: true });
    expect(lister.asked.at(-1)).toBe('all');
    discovery.requestAudit();
    expect(await discovery.sync()).toMatchObject({ complete: true });
    expect(lister.asked.filter((a) => a === 'all')).toHaveLength(3);
  });

  it('the audit finds a shard the increments cannot see (listed before the cursor) and notices trimmed ones', async () => {
    const { clock, lister, discovery } = setUp(4);
    await discovery.sync();
    // A shard that sorts before the newest known one: past the cursor there is nothing new.
    lister.shards.splice(1, 0, { shardId: `${id(0)}-late`, startingSequenceNumber: '1' });
    lister.shards.shift(); // id(0) trimmed
    await clock.advance(SYNC_MS);
    const increment = await discovery.sync();
    expect(increment).toMatchObject({ complete: false, added: 0 });
    expect(ids(increment.shards)).toContain(id(0)); // still known: only an audit says it is gone
    expect(ids(increment.shards)).not.toContain(`${id(0)}-late`);

    await clock.advance(AUDIT_MS);
    const audit = await discovery.sync();
    expect(audit).toMatchObject({ complete: true, added: 1, removed: 1 });
    expect(ids(audit.shards)).toContain(`${id(0)}-late`);
    expect(ids(audit.shards)).not.toContain(id(0));
  });

  it('an increment leaves a new shard whose parent it never saw to the audit, rather than leasing it as a root', async () => {
    const { clock, lister, discovery } = setUp(3);
    await discovery.sync();
    // The parent is listed before the cursor (against the creation order), its child after it.
    const parent = `${id(0)}-late`;
    const child = id(3);
    lister.shards.splice(1, 0, { shardId: parent, startingSequenceNumber: '1', endingSequenceNumber: '9' });
    lister.add(child, parent);
    await clock.advance(SYNC_MS);
    const increment = await discovery.sync();
    expect(ids(increment.shards)).not.toContain(child);
    const base = { streamArn: STREAM_ARN, invalidKeys: new Set<string>(), initialPosition: 'LATEST' as const };
    const now = new Date(0).toISOString();
    const leases = [id(0), id(1), id(2)].map((shardId) => lease(shardId));
    expect(planShardSync({ ...base, shards: increment.shards, listingComplete: false, leases, now }).create).toEqual(
      [],
    );

    // The next sync describes the stream in full: the parent first, its child behind it.
    await clock.advance(SYNC_MS);
    const audit = await discovery.sync();
    expect(audit).toMatchObject({ complete: true });
    expect(lister.asked.at(-1)).toBe('all');
    const plan = planShardSync({ ...base, shards: audit.shards, leases, now });
    expect(plan.create.map((l) => [l.shardId, l.checkpoint, l.parentShardIds])).toEqual([
      [parent, 'TRIM_HORIZON', []],
      [child, 'TRIM_HORIZON', [parent]],
    ]);
  });

  it('seeded from the lease table, lists only past its newest lease, and audits an interval later', async () => {
    const { clock, lister, discovery } = setUp(200);
    // The leases of a running application name the newest shards (their history cleaned up).
    discovery.seed(lister.shards.slice(150).map((s) => ({ shardId: s.shardId })));
    expect(discovery.audited).toBe(false);
    lister.add(id(200), id(199));
    const first = await discovery.sync();
    expect(lister.asked).toEqual([`after ${id(199)}`]);
    expect(first).toMatchObject({ complete: false, added: 1 });
    expect([...first.fresh]).toEqual([id(200)]);
    expect(first.shards).toHaveLength(51);
    // Known now: a second seed (a new leader would make a new discovery) changes nothing.
    discovery.seed([{ shardId: id(0) }]);
    await clock.advance(SYNC_MS);
    expect(await discovery.sync()).toMatchObject({ complete: false, added: 0 });
    await clock.advance(AUDIT_MS);
    const audit = await discovery.sync();
    expect(audit).toMatchObject({ complete: true });
    expect(audit.shards).toHaveLength(201);
    expect(discovery.audited).toBe(true);
    expect(lister.asked.filter((a) => a === 'all')).toHaveLength(1);
  });

  it('seeded, audits at once when a new shard names a parent it does not know (its lease first)', async () => {
    const { lister, discovery } = setUp(10);
    // A leader died while writing a new application's leases: shard 5 was never leased.
    discovery.seed(lister.shards.filter((_, i) => i !== 5).map((s) => ({ shardId: s.shardId })));
    lister.add(id(10), id(5));
    const first = await discovery.sync();
    expect(lister.asked).toEqual([`after ${id(9)}`, 'all']);
    expect(first).toMatchObject({ complete: true });
    expect(ids(first.shards)).toContain(id(5));
  });

  it('an empty seed (a new application) leaves the first sync an audit', async () => {
    const { lister, discovery } = setUp(3);
    discovery.seed([]);
    expect(await discovery.sync()).toMatchObject({ complete: true, added: 3 });
    expect(lister.asked).toEqual(['all']);
  });

  it('an increment that fails makes the next sync an audit', async () => {
    const { clock, lister, discovery } = setUp(3);
    await discovery.sync();
    lister.listShardsAfter = () => Promise.reject(new Error('ValidationException: bad ExclusiveStartShardId'));
    await clock.advance(SYNC_MS);
    await expect(discovery.sync()).rejects.toThrow('ValidationException');
    expect(await discovery.sync()).toMatchObject({ complete: true });
  });

  it('a lister without listShardsAfter is described in full every sync', async () => {
    const { clock, lister } = setUp(3);
    const plain = { listShards: () => lister.listShards(), listChildShards: () => Promise.resolve([]) };
    const discovery = new ShardDiscovery({
      streamArn: STREAM_ARN,
      lister: plain,
      auditIntervalMs: AUDIT_MS,
      clock,
      log: pino({ level: 'silent' }),
    });
    await discovery.sync();
    await clock.advance(SYNC_MS);
    expect(await discovery.sync()).toMatchObject({ complete: true });
    expect(lister.asked).toEqual(['all', 'all']);
  });
});

describe('planShardSync after an increment', () => {
  it('keeps the lease of a shard missing from an incremental listing; deletes it after an audit', () => {
    const shards: ShardInfo[] = [{ shardId: id(1), startingSequenceNumber: '1' }];
    const input = {
      streamArn: STREAM_ARN,
      shards,
      leases: [
        lease(id(0), { leaseCounter: 3, updatedAt: new Date(0).toISOString() }),
        lease(id(1), { leaseCounter: 3, updatedAt: new Date(0).toISOString() }),
      ],
      invalidKeys: new Set<string>(),
      initialPosition: 'TRIM_HORIZON' as const,
      now: new Date(0).toISOString(),
    };
    expect(planShardSync({ ...input, listingComplete: false }).delete).toEqual([]);
    expect(planShardSync({ ...input, listingComplete: true }).delete.map((l) => l.shardId)).toEqual([id(0)]);
  });

  it('records the children just listed on their parent lease (not finished, none recorded yet)', () => {
    const shards: ShardInfo[] = [
      { shardId: 'p', startingSequenceNumber: '1', endingSequenceNumber: '9' },
      { shardId: 'q', startingSequenceNumber: '1' },
      { shardId: 'done', startingSequenceNumber: '1', endingSequenceNumber: '9' },
      { shardId: 'p-a', parentShardId: 'p', startingSequenceNumber: '10' },
      { shardId: 'p-b', parentShardId: 'p', startingSequenceNumber: '10' },
      { shardId: 'done-a', parentShardId: 'done', startingSequenceNumber: '10' },
    ];
    const plan = planShardSync({
      streamArn: STREAM_ARN,
      shards,
      listingComplete: false,
      freshShardIds: new Set(['p-a', 'p-b', 'done-a']),
      leases: [lease('p', { leaseOwner: 'w1' }), lease('q'), lease('done', { checkpoint: 'SHARD_END' })],
      invalidKeys: new Set<string>(),
      initialPosition: 'TRIM_HORIZON',
      now: new Date(0).toISOString(),
    });
    expect(plan.recordChildren.map((r) => [r.lease.shardId, r.childShardIds])).toEqual([['p', ['p-a', 'p-b']]]);
    // Nothing fresh (a quiet increment): nothing to record, even where children are known.
    expect(
      planShardSync({
        streamArn: STREAM_ARN,
        shards,
        leases: [lease('p')],
        invalidKeys: new Set<string>(),
        initialPosition: 'TRIM_HORIZON',
        now: new Date(0).toISOString(),
      }).recordChildren,
    ).toEqual([]);
  });
});
