import { describe, expect, it } from 'vitest';
import { LeaseLostError, silentLogger, systemClock } from '@shardline/core';
import { ShardCheckpointer } from '../src/checkpointer.js';
import { MemoryStore, seq } from './fakes.js';

function make(initial = 'TRIM_HORIZON') {
  const store = new MemoryStore();
  const failures: unknown[] = [];
  const checkpointer = new ShardCheckpointer({ shardId: 's1', store, initial, clock: systemClock, logger: silentLogger(), onFailure: (err) => failures.push(err) });
  return { store, checkpointer, failures };
}

describe('ShardCheckpointer', () => {
  it('checkpoint() writes the last delivered record; nothing before any delivery', async () => {
    const { store, checkpointer } = make();
    await checkpointer.checkpoint();
    expect(store.writes).toEqual([]);
    checkpointer.delivered(seq(5));
    await checkpointer.checkpoint();
    expect(store.last).toBe(seq(5));
    expect(checkpointer.lastCheckpoint).toBe(seq(5));
  });

  it('refuses a position past the last record delivered, and a malformed one', () => {
    const { store, checkpointer } = make();
    expect(() => checkpointer.checkpoint(seq(1))).toThrow(RangeError);
    checkpointer.delivered(seq(9));
    expect(() => checkpointer.checkpoint(seq(10))).toThrow(/past the last record delivered/);
    expect(() => checkpointer.checkpoint('12abc')).toThrow(TypeError);
    expect(store.writes).toEqual([]);
  });

  it('compares as integers: a longer sequence number is later even when it sorts first as text', async () => {
    const { store, checkpointer } = make();
    checkpointer.delivered('900000000000000000000');
    checkpointer.delivered('1000000000000000000000');
    await checkpointer.checkpoint('1000000000000000000000');
    await checkpointer.checkpoint('900000000000000000000');
    expect(store.writes.map((w) => w.checkpoint)).toEqual(['1000000000000000000000']);
  });

  it('is monotonic even for concurrent calls (an older write never lands last)', async () => {
    const { store, checkpointer } = make(seq(2));
    checkpointer.delivered(seq(8));
    await Promise.all([checkpointer.checkpoint(seq(7)), checkpointer.checkpoint(seq(3)), checkpointer.checkpoint(seq(2)), checkpointer.checkpoint(seq(8))]);
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(7), seq(8)]);
  });

  it('resumes past LATEST and ends at SHARD_END, after which nothing is written', async () => {
    const { store, checkpointer } = make('LATEST');
    checkpointer.delivered(seq(4));
    await checkpointer.checkpoint();
    await checkpointer.shardEnd();
    await checkpointer.checkpoint(seq(4));
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(4), 'SHARD_END']);
  });

  it('retries a transient failure, but rejects at once with LeaseLostError', async () => {
    const { store, checkpointer, failures } = make();
    checkpointer.delivered(seq(1));
    store.failNext = 1;
    await checkpointer.checkpoint();
    expect(store.last).toBe(seq(1));
    expect(failures).toHaveLength(1);
    store.lost = true;
    checkpointer.delivered(seq(2));
    await expect(checkpointer.checkpoint()).rejects.toBeInstanceOf(LeaseLostError);
    expect(checkpointer.lastCheckpoint).toBe(seq(1));
  });

  it('with a limit (per-key concurrency) never passes the oldest unfinished record', async () => {
    const { store, checkpointer } = make();
    const progress: { safe: string | undefined } = { safe: undefined };
    checkpointer.setLimit(() => progress.safe);
    checkpointer.delivered(seq(10));
    await checkpointer.checkpoint();
    expect(store.writes).toEqual([]);
    progress.safe = seq(4);
    await checkpointer.checkpoint();
    await checkpointer.checkpoint(seq(9));
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(4)]);
  });
});
