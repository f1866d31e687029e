import { ConfigError } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import { Membership } from '../src/membership.js';
import { planAssignment } from '../src/assignment.js';
import { planDrainTargets } from '../src/drain-targets.js';
import { planShardSync } from '../src/shard-sync.js';
import { resolveLeaseOptions } from '../src/options.js';
import { type LeaseItem } from '../src/items.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000';

function lease(shardId: string, fields: Partial<LeaseItem> = {}): LeaseItem {
  return {
    leaseKey: shardId,
    itemType: 'lease',
    shardId,
    streamArn: ARN,
    leaseCounter: 1,
    checkpoint: 'TRIM_HORIZON',
    parentShardIds: [],
    ownerSwitchesSinceCheckpoint: 0,
    ...fields,
  };
}

function counts(
  leases: LeaseItem[],
  actions: ReturnType<typeof planAssignment>,
  workers: string[],
): Map<string, number> {
  const owner = new Map(leases.map((l) => [l.leaseKey, l.pendingOwner ?? l.leaseOwner]));
  for (const a of actions) owner.set(a.lease.leaseKey, a.to);
  const out = new Map(workers.map((w) => [w, 0]));
  for (const o of owner.values()) if (o !== undefined && out.has(o)) out.set(o, out.get(o)! + 1);
  return out;
}

describe('invalid rows in lineage', () => {
  it('an invalid parent key is not a finished parent; an invalid child key keeps its ancestors from being recreated', () => {
    const child = lease('c', { parentShardIds: ['p'] });
    expect(
      planAssignment({
        leases: [child],
        alive: ['w1'],
        isGone: () => false,
        maxLeasesPerWorker: Infinity,
        unfinishedKeys: new Set(['p']),
      }),
    ).toEqual([]);
    expect(
      planAssignment({ leases: [child], alive: ['w1'], isGone: () => false, maxLeasesPerWorker: Infinity }),
    ).toHaveLength(1);
    const plan = planShardSync({
      streamArn: ARN,
      shards: [
        { shardId: 'p', startingSequenceNumber: '1', endingSequenceNumber: '2' },
        { shardId: 'c', parentShardId: 'p', startingSequenceNumber: '3' },
      ],
      leases: [],
      invalidKeys: new Set(['c']),
      initialPosition: 'TRIM_HORIZON',
      now: new Date(0).toISOString(),
    });
    expect(plan.create).toEqual([]);
  });
});

describe('planAssignment', () => {
  it('places every unowned lease in one cycle, balanced within one', () => {
    const leases = Array.from({ length: 1000 }, (_, i) => lease(`shard-${String(i).padStart(4, '0')}`));
    const workers = Array.from({ length: 7 }, (_, i) => `w${i}`);
    const actions = planAssignment({ leases, alive: workers, isGone: () => false, maxLeasesPerWorker: Infinity });
    expect(actions).toHaveLength(1000);
    expect(actions.every((a) => a.kind === 'take')).toBe(true);
    const c = [...counts(leases, actions, workers).values()];
    expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
  });

  it('moves leases off live workers only through hand-offs, and only as many as needed', () => {
    const leases = Array.from({ length: 12 }, (_, i) =>
      lease(`s${String(i).padStart(2, '0')}`, { leaseOwner: i < 6 ? 'a' : 'b' }),
    );
    const actions = planAssignment({
      leases,
      alive: ['a', 'b', 'c'],
      isGone: () => false,
      maxLeasesPerWorker: Infinity,
    });
    expect(actions).toHaveLength(4);
    expect(actions.every((a) => a.kind === 'handoff' && a.to === 'c')).toBe(true);
    expect([...counts(leases, actions, ['a', 'b', 'c']).values()]).toEqual([4, 4, 4]);
  });

  it('counts a lease in hand-off for its new owner and does not move it again', () => {
    const leases = [lease('s1', { leaseOwner: 'a', pendingOwner: 'b' }), lease('s2', { leaseOwner: 'a' })];
    expect(planAssignment({ leases, alive: ['a', 'b'], isGone: () => false, maxLeasesPerWorker: Infinity })).toEqual(
      [],
    );
  });

  it('takes the leases of a gone owner, keeps those of an owner not yet judged gone', () => {
    const leases = [
      lease('s1', { leaseOwner: 'dead' }),
      lease('s2', { leaseOwner: 'silent' }),
      lease('s3', { leaseOwner: 'a' }),
    ];
    const actions = planAssignment({
      leases,
      alive: ['a', 'b'],
      isGone: (id) => id === 'dead',
      maxLeasesPerWorker: Infinity,
    });
    expect(actions.map((a) => [a.kind, a.lease.shardId, a.to])).toEqual([['take', 's1', 'b']]);
  });

  it('assigns a child only after every parent is SHARD_END or gone', () => {
    const leases = [
      lease('p', { leaseOwner: 'a', checkpoint: '100' }),
      lease('c1', { parentShardIds: ['p'] }),
      lease('c2', { parentShardIds: ['gone'] }),
    ];
    const actions = planAssignment({ leases, alive: ['a', 'b'], isGone: () => false, maxLeasesPerWorker: Infinity });
    expect(actions.map((a) => a.lease.shardId)).toEqual(['c2']);
    const finished = [lease('p', { checkpoint: 'SHARD_END' }), lease('c1', { parentShardIds: ['p'] })];
    expect(
      planAssignment({ leases: finished, alive: ['a'], isGone: () => false, maxLeasesPerWorker: Infinity }).map(
        (a) => a.lease.shardId,
      ),
    ).toEqual(['c1']);
  });

  it('respects maxLeasesPerWorker and leaves the rest unowned', () => {
    const leases = Array.from({ length: 10 }, (_, i) => lease(`s${i}`));
    const actions = planAssignment({ leases, alive: ['a', 'b'], isGone: () => false, maxLeasesPerWorker: 3 });
    expect(actions).toHaveLength(6);
    expect([...counts(leases, actions, ['a', 'b']).values()]).toEqual([3, 3]);
  });

  it('a draining worker gets no new lease, its leases stay put and count in the fair share (no rebalance around it)', () => {
    const owned = (owner: string, n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => lease(`${owner}-${from + i}`, { leaseOwner: owner }));
    // w1 5, w2 3, w3 (draining) 4: the 12 leases make a fair share of 6 each for w1 and w2, so
    // w3's hand-offs alone balance the fleet; balancing w1 and w2 first would move a lease twice.
    const leases = [...owned('w1', 5), ...owned('w2', 3), ...owned('w3', 4)];
    const alive = ['w1', 'w2', 'w3'];
    const draining = new Set(['w3']);
    expect(planAssignment({ leases, alive, draining, isGone: () => false, maxLeasesPerWorker: Infinity })).toEqual([]);
    // A free lease goes to a worker that stays, however few leases the draining one has.
    const few = [...owned('w1', 4), ...owned('w2', 4), ...owned('w3', 1), lease('free')];
    const actions = planAssignment({ leases: few, alive, draining, isGone: () => false, maxLeasesPerWorker: Infinity });
    expect(actions.map((a) => [a.kind, a.lease.leaseKey, a.to])).toEqual([['take', 'free', 'w1']]);
    // A hand-off of w3's towards w2 already counts for w2.
    const moving = [...owned('w1', 5), ...owned('w2', 3), lease('w3-0', { leaseOwner: 'w3', pendingOwner: 'w2' })];
    expect(
      planAssignment({ leases: moving, alive, draining, isGone: () => false, maxLeasesPerWorker: Infinity }),
    ).toEqual([]);
  });

  it('does nothing without live workers', () => {
    expect(
      planAssignment({ leases: [lease('s1')], alive: [], isGone: () => true, maxLeasesPerWorker: Infinity }),
    ).toEqual([]);
  });
});

describe('planDrainTargets', () => {
  it("plans a stopping worker's leases by the leader's rule: fair share, nobody draining, the cap", () => {
    const owned = (owner: string, n: number) =>
      Array.from({ length: n }, (_, i) => lease(`${owner}-${i}`, { leaseOwner: owner }));
    const mine = owned('w3', 4);
    const input = {
      me: 'w3',
      mine,
      others: [...owned('w1', 5), ...owned('w2', 1), ...owned('w4', 2), ...mine],
      alive: ['w1', 'w2', 'w3', 'w4'],
      draining: new Set(['w4']),
      isGone: () => false,
      maxLeasesPerWorker: Infinity,
    };
    // 12 leases over w1 and w2 (w4 drains too): 6 each, so w2 takes 3 and w1 one.
    const targets = planDrainTargets(input);
    expect([...targets.values()].sort()).toEqual(['w1', 'w2', 'w2', 'w2']);
    // With room for 2 leases a worker, w2 takes one and the rest go to nobody (the leader places them).
    expect([...planDrainTargets({ ...input, maxLeasesPerWorker: 2 }).values()]).toEqual(['w2']);
  });
});

describe('planShardSync', () => {
  const base = { streamArn: ARN, invalidKeys: new Set<string>(), now: '2026-01-01T00:00:00.000Z' };
  const shards = [
    { shardId: 'root', startingSequenceNumber: '100', endingSequenceNumber: '199' },
    { shardId: 'left', parentShardId: 'root', startingSequenceNumber: '200' },
    { shardId: 'right', parentShardId: 'root', startingSequenceNumber: '201' },
  ];

  it('creates every lease at TRIM_HORIZON with parents recorded, parents first', () => {
    const plan = planShardSync({ ...base, shards, leases: [], initialPosition: 'TRIM_HORIZON' });
    expect(plan.newApplication).toBe(true);
    expect(plan.create.map((l) => [l.shardId, l.checkpoint, l.parentShardIds])).toEqual([
      ['root', 'TRIM_HORIZON', []],
      ['left', 'TRIM_HORIZON', ['root']],
      ['right', 'TRIM_HORIZON', ['root']],
    ]);
  });

  it('applies LATEST only to a brand-new application: open shards LATEST, closed history without a lease', () => {
    const fresh = planShardSync({ ...base, shards, leases: [], initialPosition: 'LATEST' });
    expect(fresh.create.map((l) => [l.shardId, l.checkpoint])).toEqual([
      ['left', 'LATEST'],
      ['right', 'LATEST'],
    ]);
    // The next sync does not take the closed parent for a new shard: its children are leased.
    const next = planShardSync({ ...base, shards, leases: fresh.create, initialPosition: 'LATEST' });
    expect(next.create).toEqual([]);
    // A closed shard without children listed (a disabled stream's last shard) is written finished,
    // or a later sync would read it from TRIM_HORIZON.
    const leaf = [{ shardId: 'last', startingSequenceNumber: '1', endingSequenceNumber: '9' }, ...shards];
    const disabled = planShardSync({ ...base, shards: leaf, leases: [], initialPosition: 'LATEST' });
    expect(disabled.create.map((l) => [l.shardId, l.checkpoint])).toEqual([
      ['last', 'SHARD_END'],
      ['left', 'LATEST'],
      ['right', 'LATEST'],
    ]);
    const later = planShardSync({
      ...base,
      shards,
      leases: [lease('root', { checkpoint: '150' })],
      initialPosition: 'LATEST',
    });
    expect(later.create.map((l) => [l.shardId, l.checkpoint])).toEqual([
      ['left', 'TRIM_HORIZON'],
      ['right', 'TRIM_HORIZON'],
    ]);
  });

  it('never recreates a finished shard whose descendants have leases, nor overwrites an invalid row', () => {
    const plan = planShardSync({
      ...base,
      shards,
      leases: [lease('left'), lease('right')],
      invalidKeys: new Set(['right']),
      initialPosition: 'TRIM_HORIZON',
    });
    expect(plan.create).toEqual([]);
  });

  it('deletes a finished lease only when all children started or the shard left the stream', () => {
    const waiting = planShardSync({
      ...base,
      shards,
      leases: [
        lease('root', { checkpoint: 'SHARD_END' }),
        lease('left', { leaseOwner: 'a' }),
        lease('right', { parentShardIds: ['root'] }),
      ],
      initialPosition: 'TRIM_HORIZON',
    });
    expect(waiting.delete).toEqual([]);
    const started = planShardSync({
      ...base,
      shards,
      leases: [
        lease('root', { checkpoint: 'SHARD_END' }),
        lease('left', { leaseOwner: 'a' }),
        lease('right', { checkpoint: '300' }),
      ],
      initialPosition: 'TRIM_HORIZON',
    });
    expect(started.delete.map((l) => l.shardId)).toEqual(['root']);
    const trimmed = planShardSync({
      ...base,
      shards: shards.slice(1),
      leases: [lease('root', { checkpoint: '150' }), lease('left')],
      initialPosition: 'TRIM_HORIZON',
    });
    expect(trimmed.delete.map((l) => l.shardId)).toEqual(['root']);
    const emptyListing = planShardSync({
      ...base,
      shards: [],
      leases: [lease('left')],
      initialPosition: 'TRIM_HORIZON',
    });
    expect(emptyListing.delete).toEqual([]);
  });
});

describe('Membership', () => {
  const worker = (workerId: string, heartbeat: number, sessionId = 's1') => ({
    leaseKey: `_worker#${workerId}`,
    itemType: 'worker' as const,
    workerId,
    sessionId,
    heartbeat,
    leaseCount: 0,
  });

  it('judges death on the observer clock only, from the first sighting of the current heartbeat', () => {
    const m = new Membership(11_000);
    expect(m.observe([worker('a', 1)], 0).joined).toEqual(['a']);
    expect(m.observe([worker('a', 1)], 10_999).left).toEqual([]);
    expect(m.observe([worker('a', 1)], 11_000).left).toEqual(['a']);
    expect(m.isGone('a', 11_000)).toBe(true);
    // A heartbeat after the verdict brings it back.
    expect(m.observe([worker('a', 2)], 11_500).joined).toEqual(['a']);
  });

  it('waits the full duration for an owner it never saw heartbeat', () => {
    const m = new Membership(1_000);
    m.observe([], 0);
    expect(m.isGone('ghost', 5_000)).toBe(false);
    expect(m.isGone('ghost', 5_999)).toBe(false);
    expect(m.isGone('ghost', 6_000)).toBe(true);
  });
});

describe('resolveLeaseOptions', () => {
  const required = {
    dynamodb: {} as DynamoDBClient,
    streamArn: ARN,
    leaseTableName: 'leases',
    workerId: 'w1',
    shardLister: { listShards: () => Promise.resolve([]), listChildShards: () => Promise.resolve([]) },
  };

  it('fills documented defaults', () => {
    expect(resolveLeaseOptions(required)).toMatchObject({
      leaseDurationMs: 10_000,
      heartbeatIntervalMs: 1_000,
      assignmentIntervalMs: 1_000,
      initialPosition: 'TRIM_HORIZON',
    });
  });

  it('refuses a heartbeat interval of half the lease duration or more, with advice', () => {
    expect(() => resolveLeaseOptions({ ...required, heartbeatIntervalMs: 5_000 })).toThrow(ConfigError);
    expect(() => resolveLeaseOptions({ ...required, heartbeatIntervalMs: 5_000 })).toThrow(/lower heartbeatIntervalMs/);
  });

  it('refuses unknown keys, reserved worker ids and bad table names', () => {
    expect(() => resolveLeaseOptions({ ...required, leaseDuration: 5 } as never)).toThrow(
      /unknown lease coordinator option/,
    );
    expect(() => resolveLeaseOptions({ ...required, workerId: '_leader' })).toThrow(ConfigError);
    expect(() => resolveLeaseOptions({ ...required, leaseTableName: 'a b' })).toThrow(ConfigError);
    expect(() => resolveLeaseOptions({ ...required, shardLister: undefined })).toThrow(/shardLister is required/);
    expect(() => resolveLeaseOptions({ ...required, streams: [] })).toThrow(/not both/);
    const { streamArn, shardLister, ...rest } = required;
    expect(() => resolveLeaseOptions({ ...rest, streams: [] })).toThrow(/at least one stream/);
    expect(() =>
      resolveLeaseOptions({
        ...rest,
        streams: [
          { streamArn, shardLister },
          { streamArn, shardLister },
        ],
      }),
    ).toThrow(/given twice/);
    expect(resolveLeaseOptions({ ...rest, streams: [{ streamArn, shardLister }] }).streams).toHaveLength(1);
  });
});
