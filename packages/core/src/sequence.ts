/**
 * DynamoDB Streams sequence numbers are decimal strings of varying length (21 to 40 digits
 * seen): "9" sorts after "10" as a string and both lose precision as a float. They are
 * compared here as BigInt, and nowhere else.
 */

const DIGITS = /^\d{1,64}$/;

export function isSequenceNumber(value: unknown): value is string {
  return typeof value === 'string' && DIGITS.test(value);
}

/** Throws a TypeError naming `what` when `value` is not a decimal sequence number. */
export function assertSequenceNumber(value: unknown, what = 'sequence number'): asserts value is string {
  if (!isSequenceNumber(value)) {
    throw new TypeError(`${what} must be a decimal string of digits, got ${JSON.stringify(value)}`);
  }
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareSequenceNumbers(a: string, b: string): -1 | 0 | 1 {
  assertSequenceNumber(a);
  assertSequenceNumber(b);
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function isAfter(a: string, b: string): boolean {
  return compareSequenceNumbers(a, b) > 0;
}

export function maxSequenceNumber(a: string, b: string): string {
  return compareSequenceNumbers(a, b) >= 0 ? a : b;
}

/** Checkpoint values besides a sequence number, as stored in the lease table. */
export const CheckpointSentinel = {
  TRIM_HORIZON: 'TRIM_HORIZON',
  LATEST: 'LATEST',
  SHARD_END: 'SHARD_END',
} as const;
export type CheckpointSentinel = (typeof CheckpointSentinel)[keyof typeof CheckpointSentinel];

/** A lease's checkpoint: a sequence number or a sentinel. */
export type Checkpoint = string;

export function isSentinel(value: string): value is CheckpointSentinel {
  return value === 'TRIM_HORIZON' || value === 'LATEST' || value === 'SHARD_END';
}

/**
 * Orders checkpoints of one shard: TRIM_HORIZON < any sequence number < SHARD_END.
 * LATEST is a start position, not a place in the shard, so it is refused here.
 */
export function compareCheckpoints(a: Checkpoint, b: Checkpoint): -1 | 0 | 1 {
  const rank = (c: Checkpoint) => (c === 'TRIM_HORIZON' ? 0 : c === 'SHARD_END' ? 2 : 1);
  if (a === 'LATEST' || b === 'LATEST') throw new TypeError('LATEST is not comparable with other checkpoints');
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (ra === 1) return compareSequenceNumbers(a, b);
  return 0;
}
