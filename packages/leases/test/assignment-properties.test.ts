import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eligibleLeases, planAssignment } from '../src/assignment.js';
import { type LeaseItem } from '../src/items.js';

const WORKERS = ['a', 'b', 'c', 'd', 'e'];

/** A random lease table: owners among live, dead and unknown workers, some hand-offs, some lineage. */
const table = fc
  .record({
    alive: fc.subarray(WORKERS, { minLength: 1 }),
    leases: fc.array(
      fc.record({
        owner: fc.option(fc.constantFrom(...WORKERS, 'dead'), { nil: undefined }),
        pending: fc.option(fc.constantFrom(...WORKERS), { nil: undefined, freq: 4 }),
        finished: fc.boolean(),
        parent: fc.option(fc.nat(40), { nil: undefined, freq: 3 }),
      }),
      { maxLength: 40 },
    ),
    max: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
  })
  .map(({ alive, leases, max }) => ({
    alive,
    max: max ?? Number.POSITIVE_INFINITY,
    leases: leases.map((l, i): LeaseItem => ({
      leaseKey: `s${String(i).padStart(2, '0')}`,
      itemType: 'lease',
      shardId: `s${String(i).padStart(2, '0')}`,
      streamArn: 'arn',
      leaseCounter: 1,
      checkpoint: l.finished ? 'SHARD_END' : 'TRIM_HORIZON',
      parentShardIds: l.parent !== undefined && l.parent < i ? [`s${String(l.parent).padStart(2, '0')}`] : [],
      ownerSwitchesSinceCheckpoint: 0,
      leaseOwner: l.finished ? undefined : l.owner,
      pendingOwner: l.owner !== undefined && !l.finished && l.pending !== l.owner ? l.pending : undefined,
    })),
  }));

describe('planAssignment properties', () => {
  it('places only eligible leases, each at most once, never takes from a live owner, and balances to ±1 within the cap', () => {
    fc.assert(
      fc.property(table, ({ alive, leases, max }) => {
        const isGone = (id: string) => !alive.includes(id);
        const actions = planAssignment({ leases, alive, isGone, maxLeasesPerWorker: max });
        const eligible = new Set(eligibleLeases(leases).map((l) => l.shardId));
        const keys = actions.map((a) => a.lease.shardId);
        expect(new Set(keys).size).toBe(keys.length);
        for (const action of actions) {
          expect(eligible.has(action.lease.shardId)).toBe(true);
          expect(alive).toContain(action.to);
          const owner = action.lease.leaseOwner;
          if (action.kind === 'take') expect(owner === undefined || !alive.includes(owner)).toBe(true);
          else expect(owner !== undefined && alive.includes(owner) && owner !== action.to).toBe(true);
        }
        // Apply the plan, let every hand-off complete, plan once more: the fleet is balanced.
        // (One cycle balances any table this leader produced; a table whose in-flight hand-offs
        // all point at one worker, as a previous leader might leave it, needs the second.)
        const settle = (rows: LeaseItem[], plan: ReturnType<typeof planAssignment>): LeaseItem[] => {
          const byKey = new Map(plan.map((a) => [a.lease.shardId, a]));
          return rows.map((row) => {
            const a = byKey.get(row.shardId);
            const pending = a?.kind === 'handoff' ? a.to : row.pendingOwner;
            const owner =
              a?.kind === 'take'
                ? a.to
                : pending !== undefined &&
                    alive.includes(pending) &&
                    row.leaseOwner !== undefined &&
                    alive.includes(row.leaseOwner)
                  ? pending
                  : row.leaseOwner;
            return { ...row, leaseOwner: owner, pendingOwner: undefined };
          });
        };
        const once = settle(leases, actions);
        const twice = settle(once, planAssignment({ leases: once, alive, isGone, maxLeasesPerWorker: max }));
        const final = eligibleLeases(twice);
        const counts = alive.map((id) => final.filter((l) => l.leaseOwner === id).length);
        const unplaced = final.filter((l) => l.leaseOwner === undefined || !alive.includes(l.leaseOwner)).length;
        // Whatever stays unplaced does so only because every live worker is at its cap.
        if (unplaced > 0) expect(counts.every((c) => c >= max)).toBe(true);
        if (max === Number.POSITIVE_INFINITY) expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 500 },
    );
  });

  it('gives a draining worker nothing and leaves its leases to it (it hands them off itself)', () => {
    fc.assert(
      fc.property(table, fc.subarray(WORKERS), ({ alive, leases, max }, stopping) => {
        const draining = new Set(stopping.filter((id) => alive.includes(id)));
        const isGone = (id: string) => !alive.includes(id);
        for (const action of planAssignment({ leases, alive, draining, isGone, maxLeasesPerWorker: max })) {
          expect(draining.has(action.to)).toBe(false);
          expect(action.lease.leaseOwner === undefined || !draining.has(action.lease.leaseOwner)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
