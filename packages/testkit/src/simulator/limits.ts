import type { Clock } from '@shardline/core';
import { ServiceError } from './errors.js';
import { OPERATIONS, type Operation } from './types.js';

/**
 * Calls per second the simulator admits before answering LimitExceededException, per
 * operation; GetShardIterator and GetRecords count per shard. Unset: unlimited.
 */
export type CallRateLimits = Partial<Record<Operation, number>>;

/**
 * The service's documented rates: ListStreams 5/s and DescribeStream 10/s (per account and
 * region), GetRecords 5/s per shard (Kinesis' figure; DynamoDB Streams says "no more than two
 * readers per shard", which a reader polling at most every 250 ms respects).
 */
export const SERVICE_RATE_LIMITS: Readonly<CallRateLimits> = Object.freeze({
  ListStreams: 5,
  DescribeStream: 10,
  GetRecords: 5,
});

const WINDOW_MS = 1000;

/** A sliding one-second window per (operation, shard), on the simulator's clock. */
export class RateLimits {
  readonly #clock: Clock;
  #limits: CallRateLimits = {};
  readonly #windows = new Map<string, { times: number[]; head: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  set(limits: CallRateLimits | undefined): void {
    for (const [operation, perSecond] of Object.entries(limits ?? {})) {
      if (!OPERATIONS.includes(operation as Operation)) throw new RangeError(`unknown operation ${operation}`);
      if (perSecond !== undefined && !(Number.isInteger(perSecond) && perSecond > 0)) {
        throw new RangeError(`${operation} limit must be a positive integer of calls per second, got ${perSecond}`);
      }
    }
    this.#limits = { ...limits };
    this.#windows.clear();
  }

  /** Counts the call; a ServiceError when it is one too many for its window. */
  check(operation: Operation, shardId: string | undefined): ServiceError | undefined {
    const limit = this.#limits[operation];
    if (limit === undefined) return undefined;
    const key = shardId === undefined ? operation : `${operation} ${shardId}`;
    const now = this.#clock.now();
    let window = this.#windows.get(key);
    if (!window) this.#windows.set(key, (window = { times: [], head: 0 }));
    while (window.head < window.times.length && window.times[window.head]! <= now - WINDOW_MS) window.head++;
    if (window.head > 64) {
      window.times = window.times.slice(window.head);
      window.head = 0;
    }
    if (window.times.length - window.head >= limit) {
      return new ServiceError(
        'LimitExceededException',
        `Rate exceeded for ${operation}${shardId ? ` on shard ${shardId}` : ''}: more than ${limit} calls per second`,
      );
    }
    window.times.push(now);
    return undefined;
  }
}
