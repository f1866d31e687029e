import { describe, expect, it } from 'vitest';
import { ManualClock } from '@shardline/core';
import { defineProcessor, type StreamRecord } from '../src/processor.js';
import { ShardState } from '../src/shard-state.js';
import { batch, deferred, makeConsumer, seq, until } from './fakes.js';

type Item = { pk: string; n: number };

describe('ShardConsumer lifecycle', () => {
  it('processes a closed shard in order, checkpoints each batch, then shardEnded and SHARD_END (in that order)', async () => {
    const seen: number[] = [];
    const order: string[] = [];
    const h = makeConsumer<Item>({
      batches: [batch('shard-1', 1, 3), batch('shard-1', 4, 4), batch('shard-1', 5, 6, true)],
      processor: defineProcessor<Item>({
        initialize: ({ checkpoint }) => void order.push(`initialize:${checkpoint}`),
        processRecords: ({ records }) => {
          for (const r of records) seen.push(r.newItem!.n);
          order.push(`batch:${records.length}`);
        },
        shardEnded: () => {
          order.push(
            `shardEnded(last checkpoint ${h.store.last === seq(6) ? 'at last record' : String(h.store.last)})`,
          );
        },
      }),
    });
    const result = await h.consumer.run();
    expect(result.reason).toBe('shard-end');
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(order).toEqual([
      'initialize:TRIM_HORIZON',
      'batch:3',
      'batch:1',
      'batch:2',
      'shardEnded(last checkpoint at last record)',
    ]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(3), seq(4), seq(6), 'SHARD_END']);
    expect(h.states).toEqual(['INITIALIZING', 'PROCESSING', 'SHARD_END', 'SHUTTING_DOWN', 'SHUT_DOWN']);
    expect(h.consumer.state).toBe(ShardState.SHUT_DOWN);
  });

  it('gives records with unmarshalled newItem, keys and sequenceNumber', async () => {
    let first: StreamRecord<Item> | undefined;
    const h = makeConsumer<Item>({
      batches: [batch('shard-1', 7, 7, true)],
      processor: { processRecords: ({ records }) => void (first = records[0]) },
    });
    await h.consumer.run();
    expect(first?.newItem).toEqual({ pk: 'k7', n: 7 });
    expect(first?.keys).toEqual({ pk: 'k7' });
    expect(first?.sequenceNumber).toBe(seq(7));
    expect(first?.dynamodb?.SequenceNumber).toBe(seq(7));
  });

  it('resumes after the lease checkpoint and treats a SHARD_END lease as done without reading', async () => {
    const h = makeConsumer({
      batches: [batch('shard-1', 5, 5, true)],
      checkpoint: seq(4),
      processor: { processRecords: () => undefined },
    });
    await h.consumer.run();
    expect(h.reader.starts).toEqual([{ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seq(4) }]);

    let called = false;
    const done = makeConsumer({ checkpoint: 'SHARD_END', processor: { processRecords: () => void (called = true) } });
    const result = await done.consumer.run();
    expect(result.reason).toBe('shard-end');
    expect(called).toBe(false);
    expect(done.reader.starts).toEqual([]);
    expect(done.states).toEqual(['INITIALIZING', 'SHUTTING_DOWN', 'SHUT_DOWN']);
  });

  it('manual mode writes no checkpoint by itself, but still writes SHARD_END at the end', async () => {
    const h = makeConsumer({
      checkpointMode: 'manual',
      batches: [batch('shard-1', 1, 2), batch('shard-1', 3, 4), batch('shard-1', 5, 5, true)],
      processor: {
        processRecords: async ({ records }, ctx) => {
          if (records[0]!.sequenceNumber === seq(3)) await ctx.checkpointer.checkpoint(seq(3));
        },
      },
    });
    await h.consumer.run();
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(3), 'SHARD_END']);
  });
});

describe('ShardConsumer stopping', () => {
  it('on lease loss aborts ctx.signal, calls leaseLost, and checkpoints nothing more', async () => {
    const inFlight = deferred();
    let signal: AbortSignal | undefined;
    let lostReason = '';
    const h = makeConsumer({
      batches: [batch('shard-1', 1, 1), batch('shard-1', 2, 2)],
      processor: {
        processRecords: async ({ records }, ctx) => {
          if (records[0]!.sequenceNumber === seq(2)) {
            signal = ctx.signal;
            inFlight.resolve();
            await new Promise((_, reject) =>
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)),
            );
          }
        },
        leaseLost: ({ reason }) => void (lostReason = reason),
      },
    });
    const run = h.consumer.run();
    await inFlight.promise;
    h.consumer.leaseLost('taken by w2');
    const result = await run;
    expect(result.reason).toBe('lease-lost');
    expect(signal?.aborted).toBe(true);
    expect(lostReason).toBe('taken by w2');
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(1)]);
    expect(h.states).toEqual(['INITIALIZING', 'PROCESSING', 'LEASE_LOST', 'SHUTTING_DOWN', 'SHUT_DOWN']);
  });

  it('a refused checkpoint (LeaseLostError) stops the shard as lease lost', async () => {
    const h = makeConsumer({ batches: [batch('shard-1', 1, 1)], processor: { processRecords: () => undefined } });
    h.store.lost = true;
    const result = await h.consumer.run();
    expect(result.reason).toBe('lease-lost');
    expect(h.states).toContain('LEASE_LOST');
  });

  it('graceful shutdown finishes the batch in flight, checkpoints it, does not deliver the next, calls shutdownRequested', async () => {
    const inFlight = deferred();
    const release = deferred();
    const delivered: string[] = [];
    let shutdownCheckpoint: string | undefined;
    const h = makeConsumer({
      batches: [batch('shard-1', 1, 2), batch('shard-1', 3, 4)],
      processor: {
        processRecords: async ({ records }, ctx) => {
          delivered.push(records[0]!.sequenceNumber);
          inFlight.resolve();
          await release.promise;
          expect(ctx.signal.aborted).toBe(false);
        },
        shutdownRequested: ({ checkpointer }) => void (shutdownCheckpoint = checkpointer.lastCheckpoint),
      },
    });
    const run = h.consumer.run();
    await inFlight.promise;
    const stopped = h.consumer.requestShutdown('shutdown');
    release.resolve();
    const result = await stopped;
    await run;
    expect(result.reason).toBe('shutdown');
    expect(delivered).toEqual([seq(1)]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2)]);
    expect(shutdownCheckpoint).toBe(seq(2));
  });

  it('a forced stop aborts ctx.signal and never checkpoints the unfinished batch', async () => {
    const inFlight = deferred();
    const h = makeConsumer({
      batches: [batch('shard-1', 1, 1), batch('shard-1', 2, 3)],
      processor: {
        processRecords: async ({ records }, ctx) => {
          if (records[0]!.sequenceNumber !== seq(2)) return;
          inFlight.resolve();
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
        },
      },
    });
    const run = h.consumer.run();
    await inFlight.promise;
    void h.consumer.requestShutdown('shutdown');
    h.consumer.abort();
    const result = await run;
    expect(result.reason).toBe('shutdown');
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(1)]);
  });

  it('an unexpected reader error ends the shard with reason error (for a restart)', async () => {
    const h = makeConsumer({
      processor: { processRecords: () => undefined },
      readerFactory: () => ({
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('boom')) }),
      }),
    });
    const result = await h.consumer.run();
    expect(result.reason).toBe('error');
    expect(result.error?.message).toBe('boom');
    expect(h.states.at(-1)).toBe('SHUT_DOWN');
  });
});

describe('ShardConsumer events', () => {
  it('emits shard:start, batch:start/end, checkpoint, shard:end', async () => {
    const h = makeConsumer({ batches: [batch('shard-1', 1, 2, true)], processor: { processRecords: () => undefined } });
    const names: string[] = [];
    for (const name of ['shard:start', 'batch:start', 'batch:end', 'checkpoint', 'shard:end'] as const)
      h.events.on(name, () => names.push(name));
    await h.consumer.run();
    expect(names).toEqual(['shard:start', 'batch:start', 'batch:end', 'checkpoint', 'checkpoint', 'shard:end']);
  });
});

describe('ShardConsumer checkpoint bounds (manual mode)', () => {
  it('with bisection, checkpoint() in a half stops at the end of that half, never past the bad record', async () => {
    const h = makeConsumer({
      checkpointMode: 'manual',
      batches: [batch('shard-1', 1, 8)],
      policy: { maxRetries: 0, bisectOnError: true, onFailure: 'stop' },
      processor: {
        processRecords: async ({ records }, ctx) => {
          if (records.some((r) => r.sequenceNumber === seq(6))) throw new Error('record 6 is bad');
          await ctx.checkpointer.checkpoint();
        },
      },
    });
    const result = await h.consumer.run();
    expect(result.reason).toBe('failed');
    // Halves 1-4 and 5 succeeded; 6 stopped the shard, so 6-8 must be read again after a restart.
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(4), seq(5)]);
  });

  it('after a forced stop, checkpoint() in shutdownRequested stops at the last completed batch', async () => {
    const inFlight = deferred();
    const h = makeConsumer({
      checkpointMode: 'manual',
      batches: [batch('shard-1', 1, 1), batch('shard-1', 2, 3)],
      processor: {
        processRecords: async ({ records }, ctx) => {
          if (records[0]!.sequenceNumber !== seq(2)) return;
          inFlight.resolve();
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
        },
        shutdownRequested: async ({ checkpointer }) => {
          await checkpointer.checkpoint();
        },
      },
    });
    const run = h.consumer.run();
    await inFlight.promise;
    void h.consumer.requestShutdown('shutdown');
    h.consumer.abort();
    const result = await run;
    expect(result.reason).toBe('shutdown');
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(1)]);
  });
});

describe('ShardConsumer exit paths', () => {
  it('an error other than the stop itself, thrown while stopping, is surfaced (reason error), not taken for the stop', async () => {
    const h = makeConsumer({
      processor: { processRecords: () => undefined },
      readerFactory: ({ signal }) => ({
        [Symbol.asyncIterator]: () => ({
          next: () =>
            new Promise<never>((_, reject) =>
              signal.addEventListener('abort', () => reject(new TypeError('reader bug')), { once: true }),
            ),
        }),
      }),
    });
    const run = h.consumer.run();
    await until(() => h.states.includes('PROCESSING'), 2_000, 'PROCESSING');
    const result = await h.consumer.requestShutdown('shutdown');
    await run;
    expect(result.reason).toBe('error');
    expect(result.error).toBeInstanceOf(TypeError);
    expect(result.error?.message).toBe('reader bug');
  });

  it('on lease loss, a checkpoint write still retrying is settled before SHUT_DOWN and never lands later', async () => {
    const clock = new ManualClock();
    const inFlight = deferred();
    const h = makeConsumer({
      clock,
      batches: [batch('shard-1', 1, 1), batch('shard-1', 2, 2)],
      processor: {
        processRecords: async ({ records }, ctx) => {
          if (records[0]!.sequenceNumber !== seq(2)) return;
          inFlight.resolve();
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
        },
      },
    });
    h.store.failNext = 1; // the background write of seq(1) fails once and waits to retry
    const run = h.consumer.run();
    await inFlight.promise;
    await until(() => h.store.failNext === 0, 2_000, 'first write attempt');
    h.consumer.leaseLost('taken by w2');
    const result = await run;
    expect(result.reason).toBe('lease-lost');
    await clock.advance(60_000); // a retry still pending would now write under a lease we no longer hold
    expect(h.store.writes).toEqual([]);
  });
});
