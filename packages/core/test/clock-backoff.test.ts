import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  IteratorExpiredError,
  LeaseLostError,
  ManualClock,
  RetriesExceededError,
  ShardlineError,
  ThrottledError,
  TransientError,
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

/** Fails with `errors` in turn, then answers 'ok'; counts the calls. */
function failing(...errors: Error[]): { fn: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    fn: () => {
      const err = errors[calls++];
      return err === undefined ? Promise.resolve('ok') : Promise.reject(err);
    },
    calls: () => calls,
  };
}

const NO_WAIT = { maxAttempts: 5, baseMs: 0, capMs: 0 };

/** An error shaped as the AWS SDK throws it (a name, `$fault`, `$metadata`), no SDK import. */
function sdkError(name: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(name), { name, ...extra });
}

describe('retry decides retryability from the hierarchy and classifyAwsError', () => {
  it('throws a non-retryable ShardlineError at once, as it is', async () => {
    const lost = new LeaseLostError('shardId-1');
    const op = failing(lost, lost);
    await expect(retry('checkpoint', op.fn, NO_WAIT)).rejects.toBe(lost);
    expect(op.calls()).toBe(1);
    const unknown = new ShardlineError('refused', { retryable: false });
    const op2 = failing(unknown);
    await expect(retry('checkpoint', op2.fn, NO_WAIT)).rejects.toBe(unknown);
    expect(op2.calls()).toBe(1);
  });

  it('retries a retryable ShardlineError', async () => {
    const op = failing(new TransientError('503'), new ThrottledError('slow down'));
    await expect(retry('checkpoint', op.fn, NO_WAIT)).resolves.toBe('ok');
    expect(op.calls()).toBe(3);
  });

  it('retries a raw transient or throttling SDK error, and a timed-out attempt', async () => {
    const op = failing(
      sdkError('InternalServerError', { $fault: 'server', $metadata: { httpStatusCode: 500 } }),
      sdkError('ProvisionedThroughputExceededException', { $fault: 'client' }),
      sdkError('TimeoutError'),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    );
    await expect(retry('PutItem', op.fn, NO_WAIT)).resolves.toBe('ok');
    expect(op.calls()).toBe(5);
  });

  it('never retries an unknown raw error, nor a raw SDK error that is not transient', async () => {
    for (const err of [
      new Error('boom'),
      sdkError('ValidationException', { $fault: 'client' }),
      sdkError('ConditionalCheckFailedException', { $metadata: { httpStatusCode: 400 } }),
    ]) {
      const op = failing(err);
      await expect(retry('PutItem', op.fn, NO_WAIT)).rejects.toBe(err);
      expect(op.calls()).toBe(1);
    }
  });

  it('shouldRetry narrows the rule and never widens it', async () => {
    const expired = new IteratorExpiredError('shardId-1');
    const narrowed = failing(expired);
    await expect(
      retry('GetRecords', narrowed.fn, { ...NO_WAIT, shouldRetry: (err) => !(err instanceof IteratorExpiredError) }),
    ).rejects.toBe(expired);
    expect(narrowed.calls()).toBe(1);
    const lost = new LeaseLostError('shardId-1');
    const widened = failing(lost);
    await expect(retry('checkpoint', widened.fn, { ...NO_WAIT, shouldRetry: () => true })).rejects.toBe(lost);
    expect(widened.calls()).toBe(1);
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
