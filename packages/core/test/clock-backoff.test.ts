import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  ManualClock,
  RetriesExceededError,
  ThrottledError,
  fullJitterDelay,
  retry,
  systemClock,
} from '../src/index.js';

describe('ManualClock', () => {
  it('wakes sleepers in due order and only when time reaches them', async () => {
    const clock = new ManualClock(0);
    const woke: string[] = [];
    void clock.sleep(300).then(() => woke.push('b'));
    void clock.sleep(100).then(() => woke.push('a'));
    await clock.advance(99);
    expect(woke).toEqual([]);
    await clock.advance(1);
    expect(woke).toEqual(['a']);
    await clock.advance(500);
    expect(woke).toEqual(['a', 'b']);
    expect(clock.now()).toBe(600);
  });

  it('runs a loop of sleeps as real time would', async () => {
    const clock = new ManualClock(0);
    const ticks: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 5; i++) {
        await clock.sleep(10);
        ticks.push(clock.now());
      }
    })();
    await clock.advance(50);
    await loop;
    expect(ticks).toEqual([10, 20, 30, 40, 50]);
  });

  it('rejects a sleep when its signal aborts', async () => {
    const clock = new ManualClock(0);
    const controller = new AbortController();
    const sleeping = clock.sleep(1000, controller.signal);
    controller.abort();
    await expect(sleeping).rejects.toBeInstanceOf(AbortedError);
    expect(clock.pendingSleeps).toBe(0);
  });
});

describe('systemClock.sleep', () => {
  it('rejects promptly on abort and leaves no timer', async () => {
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    controller.abort();
    await expect(sleeping).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('fullJitterDelay', () => {
  it('stays below min(cap, base * 2^attempt)', () => {
    const policy = { baseMs: 100, capMs: 1000 };
    expect(fullJitterDelay(0, policy, () => 0.999)).toBe(99);
    expect(fullJitterDelay(3, policy, () => 0.999)).toBe(799);
    expect(fullJitterDelay(10, policy, () => 0.999)).toBe(999);
    expect(fullJitterDelay(10, policy, () => 0)).toBe(0);
  });
});

describe('retry', () => {
  it('retries retryable errors with jittered waits, then succeeds', async () => {
    const clock = new ManualClock(0);
    const waits: number[] = [];
    let calls = 0;
    const result = retry(
      'GetRecords',
      () => {
        calls++;
        if (calls < 3) return Promise.reject(new ThrottledError('slow down'));
        return Promise.resolve('ok');
      },
      {
        maxAttempts: 5,
        baseMs: 100,
        capMs: 1000,
        clock,
        random: () => 0.5,
        onRetry: ({ delayMs }) => waits.push(delayMs),
      },
    );
    await clock.advance(1000);
    await expect(result).resolves.toBe('ok');
    expect(calls).toBe(3);
    expect(waits).toEqual([50, 100]);
  });

  it('never retries a TypeError', async () => {
    let calls = 0;
    await expect(
      retry(
        'x',
        () => {
          calls++;
          return Promise.reject(new TypeError('bug'));
        },
        { maxAttempts: 5, baseMs: 1, capMs: 1 },
      ),
    ).rejects.toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
  });

  it('gives up with RetriesExceededError carrying the last error', async () => {
    const last = new ThrottledError('still throttled');
    const err = await retry('DescribeStream', () => Promise.reject(last), {
      maxAttempts: 3,
      baseMs: 0,
      capMs: 0,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetriesExceededError);
    expect((err as RetriesExceededError).attempts).toBe(3);
    expect((err as RetriesExceededError).cause).toBe(last);
  });
});

describe('systemClock.now', () => {
  it('reads close to the wall time (not a bare monotonic counter)', () => {
    const now = systemClock.now();
    expect(Math.abs(now - Date.now())).toBeLessThan(60_000);
  });

  it('does not follow a wall-clock step', () => {
    const realNow = Date.now;
    const before = systemClock.now();
    try {
      Date.now = () => realNow() - 3_600_000; // an NTP step back by an hour
      expect(systemClock.now()).toBeGreaterThanOrEqual(before);
    } finally {
      Date.now = realNow;
    }
  });
});
