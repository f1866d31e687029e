import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { systemClock } from '@shardline/core';
import { connectTestDynamoDB } from '@shardline/testkit';
import type { LeaseItem } from '../src/items.js';
import { LeaseStore } from '../src/lease-store.js';
import { Membership } from '../src/membership.js';
import { ShardEnd, type ShardEndDeps } from '../src/shard-end.js';
import { leaseRow } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

describe('a shard end on the real lease table', () => {
  it('a child claimed blind whose other parent is unfinished is given back unread, never taken up', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    const me = { workerId: 'w1', sessionId: 's1' };
    // A merge (two parents; DynamoDB Streams has none, a hand-edited or imported row may): the
    // ender finished p, q is still being read.
    const parent = leaseRow('p', { checkpoint: 'SHARD_END', childShardIds: ['c'], leaseCounter: 3 });
    await store.createLease(parent);
    await store.createLease(leaseRow('q', { leaseOwner: 'w2', ownerSession: 's2', leaseCounter: 5 }));
    await store.createLease(leaseRow('c', { parentShardIds: ['p', 'q'] }));
    const takenUp: LeaseItem[] = [];
    const calls: string[] = [];
    const counting = new Proxy(store, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(name));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const deps = {
      held: { size: 0 },
      store: counting,
      streams: {},
      membership: new Membership(10_000),
      options: { maxLeasesPerWorker: 100 },
      clock: systemClock,
      log: pino({ level: 'silent' }),
      me,
      status: { isRunning: () => true, isFenced: () => false },
      takeUp: (r: LeaseItem) => takenUp.push(r),
      lastSnapshot: () => undefined,
      requestAssignment: () => undefined,
    } as unknown as ShardEndDeps;

    await new ShardEnd(deps).startChildren(parent);

    expect(calls).toEqual(expect.arrayContaining(['claimFree', 'getLease', 'transfer']));
    expect(takenUp).toEqual([]);
    // Claimed (counter 1) and given back (counter 2): free again for whoever may start it later.
    const child = await store.getLease('c');
    expect(child?.leaseOwner).toBeUndefined();
    expect(child?.leaseCounter).toBe(2);
  });
});
