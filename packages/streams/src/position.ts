import { ConfigError, describeValue, isSequenceNumber, type Checkpoint } from '@shardline/core';
import type { GetShardIteratorCommandInput } from '@aws-sdk/client-dynamodb-streams';

/** Where a ShardReader starts in its shard. */
export type StartPosition =
  | { type: 'TRIM_HORIZON' }
  | { type: 'LATEST' }
  | { type: 'AT_SEQUENCE_NUMBER'; sequenceNumber: string }
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

export const START_POSITION_TYPES = ['TRIM_HORIZON', 'LATEST', 'AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER'] as const;

/** DynamoDB Streams sequence numbers are 21 to 40 decimal digits (GetShardIterator API reference). */
const MIN_DIGITS = 21;
const MAX_DIGITS = 40;

/**
 * Whether `value` is a sequence number the service could have issued. Checked before any call:
 * DynamoDB Local answers some malformed ones with a 500, which would look transient.
 */
export function isStreamSequenceNumber(value: unknown): value is string {
  return isSequenceNumber(value) && value.length >= MIN_DIGITS && value.length <= MAX_DIGITS;
}

/** Throws a ConfigError naming `what` unless `value` is a well-formed stream sequence number. */
export function assertStreamSequenceNumber(value: unknown, what = 'sequence number'): asserts value is string {
  if (!isStreamSequenceNumber(value)) {
    throw new ConfigError(
      `${what} must be a DynamoDB Streams sequence number (${MIN_DIGITS} to ${MAX_DIGITS} decimal digits, as in a record's dynamodb.SequenceNumber), got ${describeValue(value)}`,
    );
  }
}

/** Validates a start position given by a caller; returns a fresh copy with only the known fields. */
export function validateStartPosition(value: unknown, what = 'start'): StartPosition {
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError(
      `${what} must be a start position such as { type: 'TRIM_HORIZON' }, got ${describeValue(value)}`,
    );
  }
  const { type, sequenceNumber } = value as { type?: unknown; sequenceNumber?: unknown };
  switch (type) {
    case 'TRIM_HORIZON':
    case 'LATEST':
      return { type };
    case 'AT_SEQUENCE_NUMBER':
    case 'AFTER_SEQUENCE_NUMBER':
      assertStreamSequenceNumber(sequenceNumber, `${what}.sequenceNumber`);
      return { type, sequenceNumber };
    default:
      throw new ConfigError(
        `${what}.type must be one of ${START_POSITION_TYPES.join(', ')}, got ${describeValue(type)}`,
      );
  }
}

/**
 * Maps a lease checkpoint to where its reader starts: `TRIM_HORIZON` and `LATEST` as they are, a
 * sequence number to just after it, and `SHARD_END` to `'SHARD_END'` (nothing left to read).
 */
export function startPositionFromCheckpoint(checkpoint: Checkpoint): StartPosition | 'SHARD_END' {
  switch (checkpoint) {
    case 'SHARD_END':
      return 'SHARD_END';
    case 'TRIM_HORIZON':
    case 'LATEST':
      return { type: checkpoint };
    default:
      assertStreamSequenceNumber(checkpoint, 'checkpoint');
      return { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: checkpoint };
  }
}

/** The GetShardIterator request for `position`. */
export function shardIteratorInput(
  streamArn: string,
  shardId: string,
  position: StartPosition,
): GetShardIteratorCommandInput {
  return {
    StreamArn: streamArn,
    ShardId: shardId,
    ShardIteratorType: position.type,
    ...('sequenceNumber' in position ? { SequenceNumber: position.sequenceNumber } : {}),
  };
}

/** `AFTER_SEQUENCE_NUMBER 0000…42` / `TRIM_HORIZON`: for logs and messages. */
export function formatStartPosition(position: StartPosition): string {
  return 'sequenceNumber' in position ? `${position.type} ${position.sequenceNumber}` : position.type;
}
