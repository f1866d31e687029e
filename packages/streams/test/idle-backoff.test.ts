import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from '@shardline/core';
import { IDLE_JITTER, IdleBackoff } from '../src/idle-backoff.js';
import { resolveShardReaderTuning, SHARD_READER_DEFAULTS } from '../src/reader-options.js';
import { ShardReader, type RecordBatch } from '../src/shard-reader.js';
import { FakeStreams, FAKE_ARN, driveUntil } from './helpers/fake-streams.js';

const SHARD = 'shardId-00000001795573450519-cf74ccf0';

describe('IdleBackoff (pure)', () => {
  it('doubles from the fast interval to the cap, jittered below the ceiling, and resets after records', () => {
    const top = new IdleBackoff(200, 2000, () => 0); // random 0: the ceiling itself
    expect(Array.from({ length: 7 }, () => top.afterEmpty())).toEqual([200, 400, 800, 1600, 2000, 2000, 2000]);
    top.afterRecords();
    expect(top.afterEmpty()).toBe(200);
    const low = new IdleBackoff(200, 2000, () => 0.999_999); // the bottom of the jitter band
    expect(Array.from({ length: 5 }, () => low.afterEmpty())).toEqual([200, 320, 640, 1280, 1600]);
  });

  it('property: every wait is within [fast, cap], never above its ceiling, never below (1 − jitter) of it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.array(fc.oneof(fc.constant('records' as const), fc.double({ min: 0, max: 0.999_999, noNaN: true })), {
          maxLength: 200,
        }),
        (fast, extra, steps) => {
          const cap = fast + extra;
          let r = 0;
          const backoff = new IdleBackoff(fast, cap, () => r);
          for (const step of steps) {
            if (step === 'records') {
              backoff.afterRecords();
              expect(backoff.ceiling()).toBe(fast);
              continue;
            }
            r = step;
            const ceiling = backoff.ceiling();
            const wait = backoff.afterEmpty();
            expect(wait).toBeGreaterThanOrEqual(fast);
            expect(wait).toBeLessThanOrEqual(Math.min(cap, ceiling));
            expect(wait).toBeGreaterThanOrEqual(Math.min(ceiling, Math.floor(ceiling * (1 - IDLE_JITTER))));
          }
        },
      ),
    );
  });
});

describe('reader options: the idle cap', () => {
  it('defaults to 2 s, rises with an explicit fast interval above it, and refuses a cap below the fast interval', () => {
    expect(resolveShardReaderTuning({}).maxIdleIntervalMs).toBe(SHARD_READER_DEFAULTS.maxIdleIntervalMs);
    expect(resolveShardReaderTuning({ idleIntervalMs: 5_000 }).maxIdleIntervalMs).toBe(5_000);
    expect(() => resolveShardReaderTuning({ idleIntervalMs: 500, maxIdleIntervalMs: 400 })).toThrow(
      /maxIdleIntervalMs \(400\) must not be below idleIntervalMs \(500\)/,
    );
    expect(() => resolveShardReaderTuning({ maxIdleIntervalMs: 13 * 60_000 })).toThrow(
      /maxIdleIntervalMs .* must be below iteratorRefreshMs/,
    );
  });
});

describe('ShardReader adaptive polling (fake client, fake clock)', () => {
  function setup(options: { idleIntervalMs?: number; maxIdleIntervalMs?: number } = {}) {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    fake.addShard(SHARD);
    const reader = new ShardReader({
      client: fake,
      streamArn: FAKE_ARN,
      shardId: SHARD,
      start: { type: 'TRIM_HORIZON' },
      clock,
      random: () => 0,
      ...options,
    });
    const batches: RecordBatch[] = [];
    const loop = (async () => {
      for await (const batch of reader) batches.push(batch);
    })();
    const pollTimes = () => fake.calls.filter((c) => c.operation === 'GetRecords').map((c) => c.at);
    const gaps = () => {
      const t = pollTimes();
      return t.slice(1).map((at, i) => at - t[i]!);
    };
    return { clock, fake, reader, batches, loop, pollTimes, gaps };
  }

  it('an idle shard backs off to the cap and averages at most 1 GetRecords a second over 10 minutes', async () => {
    const { clock, reader, loop, pollTimes, gaps } = setup();
    await clock.advance(10 * 60_000);
    expect(gaps().slice(0, 6)).toEqual([200, 400, 800, 1600, 2000, 2000]);
    const polls = pollTimes().length;
    expect(polls / 600).toBeLessThanOrEqual(1);
    expect(polls).toBeGreaterThan(290); // ~0.5/s at a 2 s cap: it keeps polling
    await reader.close();
    await loop;
  });

  it('returns to the fast interval as soon as a batch has records, and the first record after a long idle waits at most the cap', async () => {
    const { clock, fake, reader, batches, loop, pollTimes, gaps } = setup();
    await clock.advance(60 * 60_000); // long idle: at the cap
    const putAt = clock.now() + 1; // just after a poll at worst
    await clock.advance(1);
    const put = fake.put(SHARD, 2);
    await driveUntil(
      clock,
      (async () => {
        while (!batches.some((b) => b.records.length > 0)) await new Promise((r) => setImmediate(r));
      })(),
      10,
    );
    const delivered = pollTimes().at(-1)!;
    expect(delivered - putAt).toBeLessThanOrEqual(2000);
    expect(batches.find((b) => b.records.length > 0)!.records.map((r) => r.dynamodb!.SequenceNumber)).toEqual(
      put.map((r) => r.dynamodb!.SequenceNumber),
    );
    const before = gaps().length;
    await clock.advance(3_000);
    // After the records: an empty read waits the fast interval, then doubles again.
    expect(gaps().slice(before, before + 3)).toEqual([200, 400, 800]);
    await reader.close();
    await loop;
  });

  it('a steady writer keeps the fast interval: a record between any two fast polls never lets the wait grow past 200 ms', async () => {
    const { clock, fake, reader, loop, gaps } = setup();
    for (let i = 0; i < 50; i++) {
      fake.put(SHARD, 1);
      await clock.advance(150);
    }
    expect(Math.max(...gaps().slice(1))).toBeLessThanOrEqual(200);
    await reader.close();
    await loop;
  });
});
