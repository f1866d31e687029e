/**
 * The shardline error hierarchy. Every error carries `retryable` (may the same call succeed
 * if tried again?) and an optional `cause`. AWS SDK errors are translated into these at the
 * package edges (`@shardline/streams`, `@shardline/leases`) and never leak deeper.
 *
 * `instanceof` works across duplicated copies of this package (two versions in one
 * node_modules tree): each class brands its instances with a registry symbol and checks the
 * brand in `Symbol.hasInstance`, as Temporal's SDK does.
 */

import { classifyAwsError } from './aws-errors.js';

const BRAND = Symbol.for('@shardline/core/error-brand');

type Branded = { [BRAND]?: readonly string[] };

export interface ShardlineErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class ShardlineError extends Error {
  /** True when the failed operation may succeed if tried again unchanged. */
  readonly retryable: boolean;
  declare readonly cause?: unknown;

  constructor(message: string, options: ShardlineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
    const brands: string[] = [];
    for (
      let proto: unknown = new.target.prototype;
      proto && proto !== Error.prototype;
      proto = Object.getPrototypeOf(proto)
    ) {
      const ctor = (proto as { constructor?: { name?: string } }).constructor;
      if (ctor?.name) brands.push(ctor.name);
    }
    Object.defineProperty(this, BRAND, { value: brands, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const brands = (value as Branded)[BRAND];
    if (!Array.isArray(brands)) return false;
    return brands.includes(this.name);
  }
}

/** Bad options, flags, or environment: fix the configuration; retrying will not help. */
export class ConfigError extends ShardlineError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: false });
  }
}

/** This worker no longer owns the lease (a conditional write failed): stop the shard. */
export class LeaseLostError extends ShardlineError {
  readonly leaseKey: string;
  constructor(
    leaseKey: string,
    message = `lease ${leaseKey} is no longer held by this worker`,
    options: { cause?: unknown } = {},
  ) {
    super(message, { ...options, retryable: false });
    this.leaseKey = leaseKey;
  }
}

/** The service throttled the call (LimitExceeded / ProvisionedThroughputExceeded). */
export class ThrottledError extends ShardlineError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: true });
  }
}

/** A shard iterator expired (15 minutes after issue); get a new one from the last position. */
export class IteratorExpiredError extends ShardlineError {
  readonly shardId: string;
  constructor(shardId: string, options: { cause?: unknown } = {}) {
    super(`shard iterator for ${shardId} expired`, { ...options, retryable: true });
    this.shardId = shardId;
  }
}

/** Records at the requested position were trimmed (older than the 24 h retention). */
export class TrimmedDataError extends ShardlineError {
  readonly shardId: string;
  /** The position that could not be read, when known. */
  readonly requestedSequenceNumber: string | undefined;
  constructor(shardId: string, requestedSequenceNumber?: string, options: { cause?: unknown } = {}) {
    super(
      `records of shard ${shardId}${requestedSequenceNumber ? ` after ${requestedSequenceNumber}` : ''} were trimmed from the stream`,
      { ...options, retryable: false },
    );
    this.shardId = shardId;
    this.requestedSequenceNumber = requestedSequenceNumber;
  }
}

/** The user's record processor threw or timed out. */
export class ProcessorError extends ShardlineError {
  readonly shardId: string;
  constructor(shardId: string, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, { cause: options.cause, retryable: options.retryable ?? true });
    this.shardId = shardId;
  }
}

/** A retried operation kept failing; `cause` is the last failure. */
export class RetriesExceededError extends ShardlineError {
  readonly attempts: number;
  constructor(operation: string, attempts: number, options: { cause?: unknown } = {}) {
    const detail = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`${operation} failed after ${attempts} attempts${detail}`, { ...options, retryable: false });
    this.attempts = attempts;
  }
}

/** A transient service or network failure (5xx, connection reset, timeout). */
export class TransientError extends ShardlineError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: true });
  }
}

/** The operation was cancelled through an AbortSignal. */
export class AbortedError extends ShardlineError {
  constructor(message = 'operation aborted', options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: false });
  }
}

/** JavaScript programming errors: retrying them only hides the bug. */
const NEVER_RETRIED: ReadonlyArray<new (...args: never[]) => Error> = [
  TypeError,
  RangeError,
  ReferenceError,
  SyntaxError,
];

/**
 * Whether an error may be retried, the one rule every shardline retry follows: a shardline
 * error says so (`retryable`); a raw SDK or network error (not translated yet, or from a
 * destination's own client) is retried when `classifyAwsError` calls it throttling or transient;
 * programming errors and everything unknown never are.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ShardlineError) return err.retryable;
  if (NEVER_RETRIED.some((type) => err instanceof type)) return false;
  return classifyAwsError(err) !== undefined;
}

/** Normalizes anything thrown into an Error, keeping the original as `cause`. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : `non-error thrown: ${safeString(value)}`, { cause: value });
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
