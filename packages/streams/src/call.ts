import {
  AbortedError,
  IteratorExpiredError,
  retry,
  silentLogger,
  systemClock,
  ThrottledError,
  type Clock,
  type Logger,
  type ShardlineError,
} from '@shardline/core';
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

/** A retry `callStreams` is about to make: the translated error and the wait before it. */
export interface StreamsRetry {
  error: ShardlineError;
  /** The attempt that failed, from 0. */
  attempt: number;
  delayMs: number;
}

/** What a caller inside this package sets on top of the shared options: the shard reader's own backoff and hook. */
export interface StreamsCallPolicy extends StreamsCallOptions {
  /** @defaultValue CALL_BACKOFF.baseMs */
  backoffBaseMs?: number;
  /** @defaultValue CALL_BACKOFF.capMs */
  backoffCapMs?: number;
  /** Replaces the default log line before each wait (for the caller's metrics, events and logs). */
  onRetry?: (retry: StreamsRetry) => void;
}

export const CALL_BACKOFF = { baseMs: 100, capMs: 5_000, maxAttempts: 8 } as const;

/**
 * Runs one Streams call, and is the only place that retries one: waits for the process-wide
 * rate limit of `limit` (if any), translates SDK errors at this edge, and retries what
 * `isRetryable` accepts (throttled and transient failures) with full jitter. The clients
 * shardline builds have the SDK's own retry off (`maxAttempts: 1`), so an attempt here is one
 * request. An expired iterator is handed back: repeating the call cannot help, the caller gets
 * a new iterator.
 */
export async function callStreams<T>(
  context: StreamsErrorContext,
  limit: RateLimitedOperation | undefined,
  fn: (signal: AbortSignal | undefined) => Promise<T>,
  options: StreamsCallPolicy,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const limiter = limit ? rateLimiterFor(limit, clock) : undefined;
  const { signal } = options;
  const onRetry = options.onRetry ?? logRetry(context, options.logger ?? silentLogger());
  return retry(
    context.shardId ? `${context.operation} on shard ${context.shardId}` : context.operation,
    async () => {
      await limiter?.take(signal);
      try {
        return await fn(signal);
      } catch (err) {
        if (signal?.aborted) throw new AbortedError(`${context.operation} aborted`, { cause: err });
        throw translateStreamsError(err, context);
      }
    },
    {
      baseMs: options.backoffBaseMs ?? CALL_BACKOFF.baseMs,
      capMs: options.backoffCapMs ?? CALL_BACKOFF.capMs,
      maxAttempts: options.maxAttempts ?? CALL_BACKOFF.maxAttempts,
      clock,
      ...(options.random ? { random: options.random } : {}),
      ...(signal ? { signal } : {}),
      shouldRetry: (err) => !(err instanceof IteratorExpiredError),
      // Every error reaching here was translated, so it is a ShardlineError.
      onRetry: ({ err, attempt, delayMs }) => onRetry({ error: err as ShardlineError, attempt, delayMs }),
    },
  );
}

function logRetry(context: StreamsErrorContext, log: Logger): (retry: StreamsRetry) => void {
  return ({ error, attempt, delayMs }) => {
    const level = error instanceof ThrottledError ? 'info' : 'warn';
    log[level](
      { err: error, operation: context.operation, streamArn: context.streamArn, attempt, delayMs },
      'streams call failed; retrying',
    );
  };
}
