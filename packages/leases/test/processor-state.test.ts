import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { assertProcessorStateFits, MAX_PROCESSOR_STATE_BYTES, ProcessorStateTooLargeError } from '../src/errors.js';
import { toLease } from '../src/items.js';
import { LeaseStore } from '../src/lease-store.js';
import { STREAM_ARN } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

const SEQ = (i: number) => String(100_000_000_000_000_000_000n + BigInt(i));

describe('processor state in the lease item', () => {
  it('goes with the checkpoint that wrote it: kept through an owner change, removed by a checkpoint without it and by SHARD_END', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    await store.createLease({
      itemType: 'lease',
      leaseKey: 's1',
      shardId: 's1',
      streamArn: STREAM_ARN,
      parentShardIds: [],
      checkpoint: 'TRIM_HORIZON',
      leaseOwner: 'w1',
      ownerSession: 'a',
      leaseCounter: 1,
      ownerSwitchesSinceCheckpoint: 0,
    });
    // The largest state a lease item takes, so the 400 KB item limit is met on the real table.
    const big = 'x'.repeat(MAX_PROCESSOR_STATE_BYTES - 2);
    const written = await store.checkpoint('s1', 'w1', 1, SEQ(1), 'a', JSON.stringify(big));
    expect(toLease(written).processorState).toBe(JSON.stringify(big));
    const moved = await store.transfer(written, { workerId: 'w2', sessionId: 'b' });
    expect(toLease(moved)).toMatchObject({ owner: 'w2', checkpoint: SEQ(1), processorState: JSON.stringify(big) });
    const plain = await store.checkpoint('s1', 'w2', moved.leaseCounter, SEQ(2), 'b');
    expect(plain.processorState).toBeUndefined();
    await store.checkpoint('s1', 'w2', moved.leaseCounter, SEQ(3), 'b', '{"n":3}');
    const ended = await store.checkpoint('s1', 'w2', moved.leaseCounter, 'SHARD_END', 'b', '{"n":4}');
    expect(ended).toMatchObject({ checkpoint: 'SHARD_END' });
    expect(ended.processorState).toBeUndefined();
  });

  it('refuses a state over MAX_PROCESSOR_STATE_BYTES (UTF-8 bytes), not retryable', () => {
    expect(() => assertProcessorStateFits('s1', 'x'.repeat(MAX_PROCESSOR_STATE_BYTES))).not.toThrow();
    const err = (() => {
      try {
        assertProcessorStateFits('s1', 'é'.repeat(MAX_PROCESSOR_STATE_BYTES / 2 + 1));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ProcessorStateTooLargeError);
    expect(err).toMatchObject({ retryable: false, bytes: MAX_PROCESSOR_STATE_BYTES + 2 });
  });
});
