import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  IteratorExpiredError,
  ManualClock,
  RetriesExceededError,
  ThrottledError,
  TransientError,
} from '@shardline/core';
import { callStreams, CALL_BACKOFF, type StreamsRetry } from '../src/call.js';
import { driveUntil } from './helpers/fake-streams.js';

/** An error shaped as the AWS SDK throws it. */
function sdkError(name: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(name), { name, ...extra });
}

/** A call failing with `errors` in turn, then answering 'ok'. */
function scripted(...errors: Error[]): { send: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    send: () => {
      const err = errors[calls++];
      return err ? Promise.reject(err) : Promise.resolve('ok');
    },
    calls: () => calls,
  };
}

const context = { operation: 'GetRecords', streamArn: 'arn:stream', shardId: 'shardId-1' };

describe('callStreams (the one retry owner of a Streams call)', () => {
  it("waits with the caller's own backoff and tells its onRetry hook the translated error", async () => {
    const clock = new ManualClock();
    const call = scripted(
      sdkError('LimitExceededException'),
      sdkError('InternalServerError', { $fault: 'server' }),
      // The SDK's name for an attempt cut off by the request timeout: transient, so retried here.
      sdkError('TimeoutError'),
    );
    const retries: StreamsRetry[] = [];
    const started = clock.now();
    const result = await driveUntil(
      clock,
      callStreams(context, undefined, call.send, {
        clock,
        random: () => 0.999,
        maxAttempts: 4,
        backoffBaseMs: 1_000,
        backoffCapMs: 1_000,
        onRetry: (retry) => retries.push(retry),
      }),
      10,
    );
    expect(result).toBe('ok');
    expect(call.calls()).toBe(4);
    expect(retries.map((r) => [r.error.constructor.name, r.attempt, r.delayMs])).toEqual([
      ['ThrottledError', 0, 999],
      ['TransientError', 1, 999],
      ['TransientError', 2, 999],
    ]);
    expect(retries[0]!.error).toBeInstanceOf(ThrottledError);
    expect(retries[2]!.error).toBeInstanceOf(TransientError);
    expect((retries[2]!.error.cause as Error).name).toBe('TimeoutError');
    expect(clock.now() - started).toBeGreaterThanOrEqual(3 * 999);
  });

  it('uses CALL_BACKOFF when the caller sets no backoff, and names the shard when giving up', async () => {
    const clock = new ManualClock();
    const call = scripted(...Array.from({ length: 10 }, () => sdkError('ServiceUnavailable')));
    const started = clock.now();
    const err = await driveUntil(
      clock,
      callStreams(context, undefined, call.send, { clock, random: () => 0.999, maxAttempts: 3 }).catch(
        (e: unknown) => e,
      ),
      10,
    );
    expect(err).toBeInstanceOf(RetriesExceededError);
    expect((err as Error).message).toMatch(/^GetRecords on shard shardId-1 failed after 3 attempts/);
    expect(call.calls()).toBe(3);
    // Two waits under the ceilings CALL_BACKOFF.baseMs and twice that.
    expect(clock.now() - started).toBeLessThanOrEqual(3 * CALL_BACKOFF.baseMs + 20);
    expect(clock.now() - started).toBeGreaterThanOrEqual(3 * CALL_BACKOFF.baseMs - 10);
  });

  it('throws a non-retryable error at once, and hands an expired iterator back without repeating the call', async () => {
    const clock = new ManualClock();
    const refused = scripted(sdkError('ValidationException'));
    await expect(callStreams(context, undefined, refused.send, { clock })).rejects.toBeInstanceOf(ConfigError);
    expect(refused.calls()).toBe(1);
    const expired = scripted(sdkError('ExpiredIteratorException'));
    await expect(callStreams(context, undefined, expired.send, { clock })).rejects.toBeInstanceOf(IteratorExpiredError);
    expect(expired.calls()).toBe(1);
  });
});
