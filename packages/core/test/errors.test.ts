import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  IteratorExpiredError,
  LeaseLostError,
  ProcessorError,
  RetriesExceededError,
  ShardlineError,
  ThrottledError,
  TrimmedDataError,
  isRetryable,
  toError,
} from '../src/errors.js';

describe('error hierarchy', () => {
  it('sets name, retryable and cause', () => {
    const cause = new Error('ConditionalCheckFailedException');
    const err = new LeaseLostError('shardId-1', undefined, { cause });
    expect(err.name).toBe('LeaseLostError');
    expect(err.retryable).toBe(false);
    expect(err.cause).toBe(cause);
    expect(err.leaseKey).toBe('shardId-1');
    expect(err).toBeInstanceOf(LeaseLostError);
    expect(err).toBeInstanceOf(ShardlineError);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ConfigError);
  });

  it('marks transient kinds retryable and permanent ones not', () => {
    expect(new ThrottledError('slow down').retryable).toBe(true);
    expect(new IteratorExpiredError('s').retryable).toBe(true);
    expect(new TrimmedDataError('s', '1').retryable).toBe(false);
    expect(new ConfigError('bad').retryable).toBe(false);
    expect(new ProcessorError('s', 'boom').retryable).toBe(true);
    expect(isRetryable(new ThrottledError('x'))).toBe(true);
    expect(isRetryable(new TypeError('bug'))).toBe(false);
    expect(isRetryable('string')).toBe(false);
    expect(isRetryable(Object.assign(new Error('503'), { name: 'ServiceUnavailable' }))).toBe(true);
    expect(isRetryable(new Error('unknown'))).toBe(false);
  });

  it('keeps instanceof working across a duplicated copy of the package', () => {
    // A second copy of the class (as from another install of @shardline/core) carries the
    // same brand, so checks against either copy agree.
    class ThrottledErrorCopy extends ShardlineError {}
    Object.defineProperty(ThrottledErrorCopy, 'name', { value: 'ThrottledError' });
    const foreign = new ThrottledErrorCopy('from another copy');
    expect(foreign).toBeInstanceOf(ThrottledError);
    expect(foreign).not.toBeInstanceOf(LeaseLostError);
    expect(new ThrottledError('x')).toBeInstanceOf(ThrottledErrorCopy);
  });

  it('RetriesExceededError names the operation, attempts and last error', () => {
    const err = new RetriesExceededError('GetRecords', 5, { cause: new Error('throttled') });
    expect(err.message).toBe('GetRecords failed after 5 attempts: throttled');
    expect(err.attempts).toBe(5);
  });

  it('toError wraps non-errors and keeps them as cause', () => {
    const err = toError({ code: 42 });
    expect(err.message).toContain('{"code":42}');
    expect(err.cause).toEqual({ code: 42 });
    const original = new Error('x');
    expect(toError(original)).toBe(original);
  });
});
