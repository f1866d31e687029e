import { describe, expect, it } from 'vitest';
import { batch, deferred, makeConsumer, seq, until } from './fakes.js';

describe('per-key concurrency', () => {
  it('runs different keys concurrently, one key in order, and never checkpoints past the oldest unfinished record', async () => {
    // Records 1..6, keys a b a c b a.
    const keys = ['', 'a', 'b', 'a', 'c', 'b', 'a'];
    const gateA = deferred();
    const seen: Record<string, number[]> = {};
    let active = 0;
    let maxActive = 0;
    const h = makeConsumer<{ pk: string; n: number }>({
      keyConcurrency: 4,
      checkpointMode: 'manual',
      batches: [batch('shard-1', 1, 6, false, (i) => keys[i]!)],
      processor: {
        processRecords: async ({ records }, ctx) => {
          active++;
          maxActive = Math.max(maxActive, active);
          const key = records[0]!.newItem!.pk;
          expect(records.every((r) => r.newItem!.pk === key)).toBe(true);
          if (key === 'a') await gateA.promise;
          (seen[key] ??= []).push(...records.map((r) => r.newItem!.n));
          active--;
          await ctx.checkpointer.checkpoint();
        },
      },
    });
    const run = h.consumer.run();
    await until(() => seen.b !== undefined && seen.c !== undefined, 2_000, 'keys b and c');
    // a (record 1) is unfinished: nothing may be checkpointed yet.
    expect(h.store.writes).toEqual([]);
    expect(maxActive).toBeGreaterThan(1);
    gateA.resolve();
    await until(() => seen.a !== undefined, 2_000, 'key a');
    await until(() => h.store.last === seq(6), 2_000, 'checkpoint at 6');
    expect(seen).toEqual({ a: [1, 3, 6], b: [2, 5], c: [4] });
    await h.consumer.requestShutdown('shutdown');
    await run;
  });

  it('auto mode checkpoints the batch end once every key group finished', async () => {
    const h = makeConsumer({
      keyConcurrency: 2,
      batches: [batch('shard-1', 1, 4, false, (i) => (i % 2 ? 'x' : 'y')), batch('shard-1', 5, 5, true)],
      processor: { processRecords: () => undefined },
    });
    await h.consumer.run();
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(4), seq(5), 'SHARD_END']);
  });

  it('a stopped key group checkpoints only below its first failed record', async () => {
    const h = makeConsumer<{ pk: string; n: number }>({
      keyConcurrency: 2,
      policy: { maxRetries: 0, onFailure: 'stop' },
      batches: [batch('shard-1', 1, 4, false, (i) => (i === 3 ? 'bad' : `ok${i}`))],
      processor: {
        processRecords: ({ records }) => {
          if (records[0]!.newItem!.pk === 'bad') throw new Error('bad key');
        },
      },
    });
    const result = await h.consumer.run();
    expect(result.reason).toBe('failed');
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2)]);
  });
});
