import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import {
  ConfigError,
  LeaseLostError,
  RetriesExceededError,
  ThrottledError,
  TransientError,
  type Clock,
} from '@shardline/core';
import { describe, expect, it } from 'vitest';
import { LeaseConflictError, translateLeaseError } from '../src/errors.js';
import type { LeaseItem } from '../src/items.js';
import { LeaseStore, ONE_SHOT_RETRY } from '../src/lease-store.js';

const TABLE = { tableName: 'leases', operation: 'transfer', leaseKey: 'shardId-1' };

const throttle = () =>
  Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
    name: 'ThrottlingException',
    $metadata: { httpStatusCode: 400 },
  });
const conditionFailed = () =>
  Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });

describe('translateLeaseError', () => {
  it('makes throttling and transient faults retryable', () => {
    const throttled = translateLeaseError(throttle(), TABLE);
    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled.retryable).toBe(true);
    const reset = translateLeaseError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), TABLE);
    expect(reset).toBeInstanceOf(TransientError);
    expect(reset.retryable).toBe(true);
    const server = translateLeaseError(
      Object.assign(new Error('boom'), { name: 'InternalServerError', $metadata: { httpStatusCode: 500 } }),
      TABLE,
    );
    expect(server.retryable).toBe(true);
  });

  it('makes a call aborted by its own deadline a passing fault, and one aborted by a stop not', () => {
    // The retry middleware's AbortError: no cause, nothing says why the signal fired.
    const aborted = () => Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    const deadline = new AbortController();
    // What AbortSignal.timeout's signal holds once it fired.
    deadline.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    const timedOut = translateLeaseError(aborted(), { ...TABLE, signal: deadline.signal });
    expect(timedOut).toBeInstanceOf(TransientError);
    expect(timedOut.retryable).toBe(true);
    expect(timedOut.message).toMatch(/transfer of shardId-1 on lease table leases got no answer in time/);
    const stop = new AbortController();
    stop.abort();
    const stopped = translateLeaseError(aborted(), { ...TABLE, signal: stop.signal });
    expect(stopped).not.toBeInstanceOf(TransientError);
    expect(stopped.retryable).toBe(false);
    // An answer that came back before the deadline passed stays what it was.
    expect(translateLeaseError(conditionFailed(), { ...TABLE, signal: deadline.signal })).toBeInstanceOf(
      LeaseConflictError,
    );
  });

  it('turns a failed condition into LeaseLostError or LeaseConflictError, never retryable', () => {
    const lost = translateLeaseError(conditionFailed(), { ...TABLE, lostOnConflict: true });
    expect(lost).toBeInstanceOf(LeaseLostError);
    expect(lost.retryable).toBe(false);
    const conflict = translateLeaseError(conditionFailed(), TABLE);
    expect(conflict).toBeInstanceOf(LeaseConflictError);
    expect(conflict.retryable).toBe(false);
  });

  it('makes configuration faults and unknown errors non-retryable', () => {
    const missing = translateLeaseError(
      Object.assign(new Error('no table'), { name: 'ResourceNotFoundException' }),
      TABLE,
    );
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing.retryable).toBe(false);
    expect(translateLeaseError(new Error('something else'), TABLE).retryable).toBe(false);
  });
});

/** A client that answers each send from a script: an error to throw, or attributes to return. */
function scriptedClient(script: Array<Error | Record<string, unknown>>) {
  const sent: string[] = [];
  const client = {
    send: (command: { constructor: { name: string } }) => {
      sent.push(command.constructor.name);
      const next = script.shift();
      if (next === undefined) throw new Error('script exhausted');
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  };
  return { client: client as unknown as DynamoDBClient, sent };
}

/** Retry waits resolve at once: the test counts attempts, not time. */
const instantClock: Clock = { now: () => 0, sleep: () => Promise.resolve() };

const lease: LeaseItem = {
  leaseKey: 'shardId-1',
  itemType: 'lease',
  shardId: 'shardId-1',
  streamArn: 'arn:stream',
  leaseOwner: 'w1',
  ownerSession: 's1',
  leaseCounter: 4,
  checkpoint: '100',
  parentShardIds: [],
  ownerSwitchesSinceCheckpoint: 0,
};
const moved = {
  Attributes: marshall({ ...lease, leaseOwner: undefined, leaseCounter: 5 }, { removeUndefinedValues: true }),
};

describe('LeaseStore one-shot writes', () => {
  it('retries a one-shot transfer on throttling, up to ONE_SHOT_RETRY.maxAttempts', async () => {
    const ok = scriptedClient([throttle(), throttle(), moved]);
    const store = new LeaseStore(ok.client, 'leases', instantClock);
    await expect(store.transfer(lease, undefined, { oneShot: true })).resolves.toMatchObject({ leaseCounter: 5 });
    expect(ok.sent).toHaveLength(3);

    const down = scriptedClient(Array.from({ length: ONE_SHOT_RETRY.maxAttempts }, throttle));
    const failing = new LeaseStore(down.client, 'leases', instantClock);
    await expect(failing.transfer(lease, undefined, { oneShot: true })).rejects.toBeInstanceOf(RetriesExceededError);
    expect(down.sent).toHaveLength(ONE_SHOT_RETRY.maxAttempts);
  });

  it('makes one attempt for a lost condition, and for writes a next cycle repeats', async () => {
    const lost = scriptedClient([conditionFailed()]);
    const store = new LeaseStore(lost.client, 'leases', instantClock);
    await expect(store.transfer(lease, undefined, { lostOnConflict: true, oneShot: true })).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect(lost.sent).toHaveLength(1);

    const leader = scriptedClient([throttle()]);
    await expect(
      new LeaseStore(leader.client, 'leases', instantClock).transfer(lease, undefined),
    ).rejects.toBeInstanceOf(ThrottledError);
    expect(leader.sent).toHaveLength(1);

    const checkpoint = scriptedClient([throttle()]);
    await expect(
      new LeaseStore(checkpoint.client, 'leases', instantClock).checkpoint('shardId-1', 'w1', 4, '200', 's1'),
    ).rejects.toBeInstanceOf(ThrottledError);
    expect(checkpoint.sent).toHaveLength(1);
  });
});
