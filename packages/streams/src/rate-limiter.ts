import { systemClock, type Clock } from '@shardline/core';

/**
 * At most `limit` calls in any window of `windowMs` (a sliding-window log): a burst of `limit`
 * goes out at once, and no one-second window ever holds more than the service allows (a token
 * bucket refilling at the same rate would let nearly twice that through in its first second).
 * `take()` resolves when a call may go out; waits go through the injected `Clock`, in arrival
 * order.
 */
export class RateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly #clock: Clock;
  /** Start times of the last `limit` calls, oldest first. */
  readonly #sent: number[] = [];
  #tail: Promise<void> = Promise.resolve();

  constructor(limit: number, options: { windowMs?: number; clock?: Clock } = {}) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
    this.limit = limit;
    this.windowMs = options.windowMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Resolves when the call may go out; rejects with AbortedError when `signal` aborts first. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.#tail.then(() => this.#takeNow(signal));
    // The next caller waits for this one's turn, not for its outcome.
    this.#tail = turn.catch(() => undefined);
    return turn;
  }

  async #takeNow(signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      const now = this.#clock.now();
      while (this.#sent.length > 0 && this.#sent[0]! <= now - this.windowMs) this.#sent.shift();
      if (this.#sent.length < this.limit) {
        this.#sent.push(now);
        return;
      }
      await this.#clock.sleep(this.#sent[0]! + this.windowMs - now, signal);
    }
  }
}

/** Calls per second per account and region (DynamoDB Streams API reference). */
export const STREAMS_RATE_LIMITS = {
  DescribeStream: 10,
  ListStreams: 5,
} as const;

export type RateLimitedOperation = keyof typeof STREAMS_RATE_LIMITS;

/** The limiters of one process, per clock: tests on a ManualClock get limiters of their own. */
const limiters = new WeakMap<Clock, Map<RateLimitedOperation, RateLimiter>>();

/** The process-wide limiter for `operation` on `clock`. */
export function rateLimiterFor(operation: RateLimitedOperation, clock: Clock = systemClock): RateLimiter {
  let perClock = limiters.get(clock);
  if (!perClock) {
    perClock = new Map();
    limiters.set(clock, perClock);
  }
  let limiter = perClock.get(operation);
  if (!limiter) {
    limiter = new RateLimiter(STREAMS_RATE_LIMITS[operation], { clock });
    perClock.set(operation, limiter);
  }
  return limiter;
}
