import { TransientError } from '@shardline/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { closeFleetsAfterEach, Fleet, isHeartbeatWrite, PlainLister, rootShards } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());
closeFleetsAfterEach();

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  unhandled.length = 0;
});

/** Resolves once every callback and timer queued so far (and the microtasks they queue) has run. */
const flushPending = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

describe('a coordinator whose first heartbeat does not get through', () => {
  it('rejects start() with the retryable heartbeat error, leaves nothing running, and nothing else escapes', async () => {
    process.on('unhandledRejection', onUnhandled);
    const fleet = new Fleet(db, new PlainLister(rootShards(2)));
    const member = fleet.add('w1');
    member.faults.reject = isHeartbeatWrite('w1');

    const error = await member.coordinator.start().then(
      () => undefined,
      (err: unknown) => err,
    );

    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).retryable).toBe(true);
    expect((error as TransientError).message).toMatch(/heartbeat of _worker#w1/);
    expect(member.coordinator.lastHeartbeatAt()).toBeUndefined();
    // Stopping a coordinator that never started is immediate, and the table shows nobody.
    await member.coordinator.stop();
    expect(member.coordinator.idle).toBe(true);
    await expect(member.coordinator.start()).rejects.toThrow(/already started or stopped/);
    expect((await fleet.table()).workers).toEqual([]);
    await flushPending();
    expect(unhandled).toEqual([]);
  });
});
