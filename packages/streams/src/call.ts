import { retry, silentLogger, systemClock, ThrottledError, type Clock, type Logger } from '@shardline/core';
import { translateStreamsError, type StreamsErrorContext } from './errors.js';
import { rateLimiterFor, type RateLimitedOperation } from './rate-limiter.js';

/** Options shared by the one-shot Streams calls (`listShards`, `resolveStream`, …). */
export interface StreamsCallOptions {
  /** Cancels waits and in-flight requests. */
  signal?: AbortSignal;
  /** @defaultValue systemClock */
  clock?: Clock;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Attempts per call, the first included, for throttled and transient failures. @defaultValue 8 */
  maxAttempts?: number;
  /** Randomness of the backoff jitter, in [0, 1). @defaultValue Math.random */
  random?: () => number;
}

export const CALL_BACKOFF = { baseMs: 100, capMs: 5_000, maxAttempts: 8 } as const;

/**
 * Runs one Streams call: waits for the process-wide rate limit of `limit` (if any), translates
 * SDK errors at this edge, and retries throttled and transient failures with full jitter.
 */
export async function callStreams<T>(
  context: StreamsErrorContext,
  limit: RateLimitedOperation | undefined,
  fn: (signal: AbortSignal | undefined) => Promise<T>,
  options: StreamsCallOptions,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? silentLogger();
  const limiter = limit ? rateLimiterFor(limit, clock) : undefined;
  return retry(
    context.operation,
    async () => {
      await limiter?.take(options.signal);
      try {
        return await fn(options.signal);
      } catch (err) {
        throw translateStreamsError(err, context);
      }
    },
    {
      baseMs: CALL_BACKOFF.baseMs,
      capMs: CALL_BACKOFF.capMs,
      maxAttempts: options.maxAttempts ?? CALL_BACKOFF.maxAttempts,
      clock,
      ...(options.random ? { random: options.random } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onRetry: ({ err, attempt, delayMs }) => {
        const level = err instanceof ThrottledError ? 'info' : 'warn';
        log[level](
          { err, operation: context.operation, streamArn: context.streamArn, attempt, delayMs },
          'streams call failed; retrying',
        );
      },
    },
  );
}
