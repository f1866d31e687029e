import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from '@shardline/core';
import { IDLE_ALIGN_MS, IDLE_JITTER, IdleBackoff } from '../src/idle-backoff.js';
import { resolveShardReaderTuning, SHARD_READER_DEFAULTS } from '../src/reader-options.js';
import { ShardReader, type RecordBatch } from '../src/shard-reader.js';
import { FakeStreams, FAKE_ARN, driveUntil } from './helpers/fake-streams.js';

const SHARD = 'shardId-00000001795573450519-cf74ccf0';

describe('IdleBackoff (pure)', () => {
  /** Empty reads in a row, each at the time the previous wait ended (a call of no duration). */
  function waits(backoff: IdleBackoff, count: number, start = 0): number[] {
    let now = start;
    return Array.from({ length: count }, () => {
      const wait = backoff.afterEmpty(now);
      now += wait;
      return wait;
    });
  }

  it('doubles from the fast interval to the cap, jittered below the ceiling, and resets after records', () => {
    const top = new IdleBackoff(200, 2000, () => 0); // random 0: the ceiling itself
    expect(waits(top, 7)).toEqual([200, 400, 800, 1600, 2000, 2000, 2000]);
    top.afterRecords();
    expect(top.afterEmpty(0)).toBe(200);
    const low = new IdleBackoff(200, 2000, () => 0.999_999); // the bottom of the jitter band
    expect(waits(low, 5)).toEqual([200, 400, 700, 1300, 1600]);
  });

  it('ends a backed-off wait on the grid: rounded up, or down when up would pass the ceiling', () => {
    // Ceiling 400 after one empty read; random 0.5 draws 360.
    const at = (now: number) => {
      const backoff = new IdleBackoff(200, 2000, () => 0.5);
      backoff.afterEmpty(now);
      return backoff.afterEmpty(now);
    };
    expect(at(1_000)).toBe(400); // 1,360 → 1,400
    expect(at(1_030)).toBe(370); // 1,390 → 1,400
    expect(at(1_070)).toBe(330); // 1,430 → 1,500 is 430 away, past the ceiling: 1,400
    expect((1_070 + at(1_070)) % IDLE_ALIGN_MS).toBe(0);
    // The fast interval after records is never moved: a steady writer keeps its latency.
    expect(new IdleBackoff(200, 2000, () => 0.5).afterEmpty(1_037)).toBe(200);
    // Nor a fixed interval (cap = fast).
    const fixed = new IdleBackoff(150, 150, () => 0.5);
    expect([fixed.afterEmpty(1_037), fixed.afterEmpty(1_037)]).toEqual([150, 150]);
    // Intervals shorter than the grid step keep their jittered draw.
    const tiny = new IdleBackoff(10, 40, () => 0);
    expect(waits(tiny, 3, 1_005)).toEqual([10, 20, 40]);
  });

  it('readers idle since different instants wake on the same few grid slots, still spread by the jitter', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const wakeUps = new Set<number>();
    for (let reader = 0; reader < 1_000; reader++) {
      const backoff = new IdleBackoff(200, 2000, random);
      let now = 5_000 + reader * 7.3; // went idle at scattered instants
      for (let i = 0; i < 8; i++) now += backoff.afterEmpty(now);
      wakeUps.add(now);
    }
    expect([...wakeUps].every((t) => t % IDLE_ALIGN_MS === 0)).toBe(true);
    // 1,000 readers, each at the cap: their wake-ups share a few slots, not 1,000 instants.
    expect(wakeUps.size).toBeGreaterThan(2);
    expect(wakeUps.size).toBeLessThan(120);
  });

  it('property: every wait is within [fast, cap], never above its ceiling, less than a grid step from its jittered draw, and on the grid when it is moved', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.array(
          fc.oneof(
            fc.constant('records' as const),
            fc.record({
              r: fc.double({ min: 0, max: 0.999_999, noNaN: true }),
              late: fc.integer({ min: 0, max: 999 }),
            }),
          ),
          { maxLength: 200 },
        ),
        (fast, extra, start, steps) => {
          const cap = fast + extra;
          let r = 0;
          let now = start;
          const backoff = new IdleBackoff(fast, cap, () => r);
          let first = true;
          for (const step of steps) {
            if (step === 'records') {
              backoff.afterRecords();
              first = true;
              expect(backoff.ceiling()).toBe(fast);
              continue;
            }
            r = step.r;
            now += step.late; // the call took some time
            const ceiling = backoff.ceiling();
            const wait = backoff.afterEmpty(now);
            const drawn =
              first || ceiling <= fast ? ceiling : Math.max(fast, Math.round(ceiling * (1 - IDLE_JITTER * r)));
            expect(wait).toBeGreaterThanOrEqual(fast);
            expect(wait).toBeLessThanOrEqual(Math.min(cap, ceiling));
            expect(Math.abs(wait - drawn)).toBeLessThan(IDLE_ALIGN_MS);
            if (wait !== drawn) expect((now + wait) % IDLE_ALIGN_MS).toBe(0);
            if (first || ceiling <= fast) expect(wait).toBe(ceiling);
            first = false;
            now += wait;
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
