import { describe, expect, it } from 'vitest';
import {
  ExpiredIteratorException,
  InternalServerError,
  LimitExceededException,
  ResourceNotFoundException,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import {
  AbortedError,
  ConfigError,
  IteratorExpiredError,
  ShardlineError,
  ThrottledError,
  TransientError,
  TrimmedDataError,
} from '@shardline/core';
import { StreamResourceNotFoundError, translateStreamsError } from '../src/errors.js';
import { shardIteratorInput, startPositionFromCheckpoint, validateStartPosition } from '../src/position.js';

const meta = { $metadata: { httpStatusCode: 400 } };
const context = {
  operation: 'GetRecords',
  streamArn: 'arn:x',
  shardId: 'shardId-1',
  sequenceNumber: '100000000000000000042',
};
const named = (name: string, extra: object = {}) => Object.assign(new Error(`${name} happened`), { name, ...extra });

describe('translateStreamsError', () => {
  it.each([
    [
      'ExpiredIteratorException',
      new ExpiredIteratorException({ message: 'expired', ...meta }),
      IteratorExpiredError,
      true,
    ],
    [
      'TrimmedDataAccessException',
      new TrimmedDataAccessException({ message: 'trimmed', ...meta }),
      TrimmedDataError,
      false,
    ],
    ['LimitExceededException', new LimitExceededException({ message: 'slow down', ...meta }), ThrottledError, true],
    ['ProvisionedThroughputExceededException', named('ProvisionedThroughputExceededException'), ThrottledError, true],
    ['ThrottlingException', named('ThrottlingException'), ThrottledError, true],
    [
      'ResourceNotFoundException',
      new ResourceNotFoundException({ message: 'Shard does not exist', ...meta }),
      StreamResourceNotFoundError,
      false,
    ],
    ['ValidationException', named('ValidationException'), ConfigError, false],
    [
      'InternalServerError',
      new InternalServerError({ message: 'boom', $metadata: { httpStatusCode: 500 } }),
      TransientError,
      true,
    ],
    ['a 503 of any name', named('ServiceUnavailable', { $metadata: { httpStatusCode: 503 } }), TransientError, true],
    ['ECONNRESET', named('Error', { code: 'ECONNRESET' }), TransientError, true],
    [
      'ECONNRESET as a cause',
      Object.assign(new Error('request failed'), { cause: named('Error', { code: 'ECONNRESET' }) }),
      TransientError,
      true,
    ],
    ['TimeoutError', named('TimeoutError'), TransientError, true],
    ['AbortError', named('AbortError'), AbortedError, false],
    ['anything else', named('WeirdException'), ShardlineError, false],
  ] as const)('%s', (_, err, type, retryable) => {
    const out = translateStreamsError(err, context);
    expect(out).toBeInstanceOf(type);
    expect(out.retryable).toBe(retryable);
    expect(out.cause).toBe(err);
  });

  it('names the shard and the gap, and passes shardline errors through unchanged', () => {
    const trimmed = translateStreamsError(
      new TrimmedDataAccessException({ message: 'trimmed', ...meta }),
      context,
    ) as TrimmedDataError;
    expect(trimmed.shardId).toBe('shardId-1');
    expect(trimmed.requestedSequenceNumber).toBe('100000000000000000042');
    const validation = translateStreamsError(
      named('ValidationException', { message: 'Invalid ShardIterator' }),
      context,
    );
    expect(validation.message).toBe('GetRecords on shard shardId-1 was refused: Invalid ShardIterator');
    const already = new ThrottledError('x');
    expect(translateStreamsError(already, context)).toBe(already);
  });
});

describe('start positions', () => {
  const seq = '100000000000000000042';

  it('maps checkpoints: sentinels as they are, a sequence number to AFTER it, SHARD_END to done', () => {
    expect(startPositionFromCheckpoint('TRIM_HORIZON')).toEqual({ type: 'TRIM_HORIZON' });
    expect(startPositionFromCheckpoint('LATEST')).toEqual({ type: 'LATEST' });
    expect(startPositionFromCheckpoint('SHARD_END')).toBe('SHARD_END');
    expect(startPositionFromCheckpoint(seq)).toEqual({ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seq });
    expect(() => startPositionFromCheckpoint('12')).toThrow(ConfigError);
    expect(() => startPositionFromCheckpoint('garbage')).toThrow(
      /checkpoint must be a DynamoDB Streams sequence number/,
    );
  });

  it('validates and builds GetShardIterator input', () => {
    expect(validateStartPosition({ type: 'AT_SEQUENCE_NUMBER', sequenceNumber: seq, extra: 1 })).toEqual({
      type: 'AT_SEQUENCE_NUMBER',
      sequenceNumber: seq,
    });
    expect(() => validateStartPosition('TRIM_HORIZON')).toThrow(/start must be a start position/);
    expect(shardIteratorInput('arn', 's', { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seq })).toEqual({
      StreamArn: 'arn',
      ShardId: 's',
      ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      SequenceNumber: seq,
    });
    expect(shardIteratorInput('arn', 's', { type: 'LATEST' })).toEqual({
      StreamArn: 'arn',
      ShardId: 's',
      ShardIteratorType: 'LATEST',
    });
  });
});
