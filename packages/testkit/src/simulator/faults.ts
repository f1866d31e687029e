import type { Clock } from '@shardline/core';
import { ServiceError } from './errors.js';
import { RateLimits, type CallRateLimits } from './limits.js';
import type { Random } from './random.js';
import { OPERATIONS, type Operation } from './types.js';

/**
 * How a failed call fails: the service's error answers, a connection reset (no answer at all),
 * or for GetRecords `empty`: no records and an iterator at the same place, as the service may
 * answer even when records follow (on other operations `empty` does nothing).
 */
export type FaultKind = '500' | 'reset' | 'throttle' | 'expired' | 'trimmed' | 'empty';

export const FAULT_KINDS: readonly FaultKind[] = ['500', 'reset', 'throttle', 'expired', 'trimmed', 'empty'];

export interface ThrottleOptions {
  /** Fraction of matching calls answered with LimitExceededException, 0 to 1. @defaultValue 1 */
  rate?: number;
  /** Operations the rule applies to. @defaultValue all four */
  operations?: readonly Operation[];
  /** Stop after throttling this many calls. @defaultValue unlimited */
  count?: number;
}

/** Fault injection controls of a running simulator (`sim.faults`). */
export interface SimulatorFaults {
  /** Throttles calls at a rate, on chosen operations, for a number of calls; replaces the previous rule. */
  throttle(options?: ThrottleOptions): void;
  /** Fails the next `count` calls of `operation` (`'*'`: any operation) the given way, before any other rule. */
  failNext(operation: Operation | '*', count: number, kind: FaultKind): void;
  /** Delays every answer by `ms` of real time (network latency is not virtual). */
  latencyMs(ms: number): void;
  /**
   * Answers LimitExceededException beyond these calls per second of the simulator's clock
   * (GetShardIterator and GetRecords per shard); `SERVICE_RATE_LIMITS` are the service's.
   * Replaces the previous limits; `undefined` removes them.
   */
  limits(limits: CallRateLimits | undefined): void;
  /** Removes every rule, the limits and the latency. */
  clear(): void;
}

/** What the server does with one call. */
export type FaultDecision =
  { kind: 'none' } | { kind: 'reset' } | { kind: 'empty' } | { kind: 'error'; error: ServiceError };

interface ThrottleRule {
  rate: number;
  operations: ReadonlySet<Operation>;
  remaining: number;
}

interface Pending {
  kind: FaultKind;
  remaining: number;
}

export class FaultController implements SimulatorFaults {
  readonly #random: Random;
  #throttle: ThrottleRule | undefined;
  #pending = new Map<Operation | '*', Pending[]>();
  #latencyMs = 0;
  readonly #limits: RateLimits;
  /** Calls answered with an injected fault, by kind. */
  readonly injected: Record<FaultKind, number> = { '500': 0, reset: 0, throttle: 0, expired: 0, trimmed: 0, empty: 0 };

  constructor(random: Random, clock: Clock) {
    this.#random = random;
    this.#limits = new RateLimits(clock);
  }

  throttle(options: ThrottleOptions = {}): void {
    const rate = options.rate ?? 1;
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`throttle rate must be from 0 to 1, got ${rate}`);
    const count = options.count ?? Infinity;
    if (!(count >= 0)) throw new RangeError(`throttle count must be >= 0, got ${count}`);
    for (const operation of options.operations ?? []) {
      if (!OPERATIONS.includes(operation)) throw new RangeError(`unknown operation ${String(operation)}`);
    }
    this.#throttle =
      rate === 0 || count === 0
        ? undefined
        : { rate, operations: new Set(options.operations ?? OPERATIONS), remaining: count };
  }

  failNext(operation: Operation | '*', count: number, kind: FaultKind): void {
    if (operation !== '*' && !OPERATIONS.includes(operation))
      throw new RangeError(`unknown operation ${String(operation)}`);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
    if (!FAULT_KINDS.includes(kind)) throw new RangeError(`unknown fault kind ${String(kind)}`);
    const queue = this.#pending.get(operation) ?? [];
    queue.push({ kind, remaining: count });
    this.#pending.set(operation, queue);
  }

  latencyMs(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`latency must be a finite number >= 0, got ${ms}`);
    this.#latencyMs = ms;
  }

  limits(limits: CallRateLimits | undefined): void {
    this.#limits.set(limits);
  }

  clear(): void {
    this.#limits.set(undefined);
    this.#throttle = undefined;
    this.#pending.clear();
    this.#latencyMs = 0;
  }

  get delayMs(): number {
    return this.#latencyMs;
  }

  /** Decides the fate of one call; consumes a pending fault or a throttle count when one applies. */
  decide(operation: Operation): FaultDecision {
    const pending = this.#take(operation) ?? this.#take('*');
    if (pending) return this.#decision(pending, operation);
    const rule = this.#throttle;
    if (
      rule &&
      rule.operations.has(operation) &&
      rule.remaining > 0 &&
      (rule.rate >= 1 || this.#random.next() < rule.rate)
    ) {
      rule.remaining--;
      return this.#decision('throttle', operation);
    }
    return { kind: 'none' };
  }

  /** Applies the call-rate limits, once the call's shard (if any) is known. */
  checkLimits(operation: Operation, shardId: string | undefined): FaultDecision {
    const error = this.#limits.check(operation, shardId);
    if (!error) return { kind: 'none' };
    this.injected.throttle++;
    return { kind: 'error', error };
  }

  #take(key: Operation | '*'): FaultKind | undefined {
    const queue = this.#pending.get(key);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    if (--head.remaining === 0) queue.shift();
    return head.kind;
  }

  #decision(kind: FaultKind, operation: Operation): FaultDecision {
    this.injected[kind]++;
    switch (kind) {
      case 'reset':
        return { kind: 'reset' };
      case 'empty':
        return operation === 'GetRecords' ? { kind: 'empty' } : { kind: 'none' };
      case '500':
        return { kind: 'error', error: new ServiceError('InternalServerError', 'Internal server error (injected)') };
      case 'throttle':
        return {
          kind: 'error',
          error: new ServiceError('LimitExceededException', `Rate exceeded for ${operation} (injected)`),
        };
      case 'expired':
        return { kind: 'error', error: new ServiceError('ExpiredIteratorException', 'Iterator expired (injected)') };
      case 'trimmed':
        return {
          kind: 'error',
          error: new ServiceError('TrimmedDataAccessException', 'Requested data is beyond the trim horizon (injected)'),
        };
    }
  }
}
