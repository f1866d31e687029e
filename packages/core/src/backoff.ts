import { systemClock, type Clock } from './clock.js';
import { AbortedError, RetriesExceededError, isRetryable, toError } from './errors.js';

export interface BackoffPolicy {
  /** First delay ceiling in ms. */
  baseMs: number;
  /** Largest delay ceiling in ms. */
  capMs: number;
}

/**
 * "Full jitter" (AWS Architecture Blog, Exponential Backoff And Jitter): a uniform delay in
 * [0, min(cap, base * 2^attempt)). Spreads retries of many workers hit by one throttle.
 * `attempt` starts at 0. `random` returns [0, 1).
 */
export function fullJitterDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

export interface RetryOptions extends BackoffPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  clock?: Clock;
  random?: () => number;
  signal?: AbortSignal;
  /**
   * Narrows `isRetryable`, never widens it: an error is retried only when both accept it. For a
   * caller that recovers some retryable errors itself (the shard reader moves past an expired
   * iterator instead of repeating the call).
   */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** Called before each wait, for logs, events and metrics. */
  onRetry?: (info: { err: unknown; attempt: number; delayMs: number }) => void;
}

/**
 * Runs `fn` until it succeeds, a non-retryable error is thrown (as it is, at once), or attempts
 * run out (then `RetriesExceededError` with the last error as cause). What is retryable is
 * decided by `isRetryable` alone: a shardline error's `retryable`, and for raw SDK and network
 * errors `classifyAwsError`; TypeError and friends are bugs and never retried.
 */
export async function retry<T>(
  operation: string,
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const shouldRetry = (err: unknown, attempt: number) =>
    isRetryable(err) && (options.shouldRetry?.(err, attempt) ?? true);
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw new AbortedError(`${operation} aborted`, { cause: options.signal.reason });
    try {
      return await fn(attempt);
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      if (!shouldRetry(err, attempt)) throw err;
      if (attempt + 1 >= options.maxAttempts)
        throw new RetriesExceededError(operation, attempt + 1, { cause: toError(err) });
      const delayMs = fullJitterDelay(attempt, options, options.random);
      options.onRetry?.({ err, attempt, delayMs });
      await clock.sleep(delayMs, options.signal);
    }
  }
}
