import { describe, expect, it } from 'vitest';
import { classifyAwsError } from '../src/index.js';

const sdkError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), { name, ...extra });

describe('classifyAwsError', () => {
  it('knows throttling by name and by the SDK’s own flag', () => {
    expect(classifyAwsError(sdkError('ProvisionedThroughputExceededException'))).toBe('throttled');
    expect(classifyAwsError(sdkError('LimitExceededException'))).toBe('throttled');
    expect(classifyAwsError(sdkError('SomeNewThrottle', { $retryable: { throttling: true } }))).toBe('throttled');
  });

  it('knows passing faults: 5xx, server faults, timeouts and sockets, also wrapped', () => {
    expect(classifyAwsError(sdkError('InternalServerError'))).toBe('transient');
    expect(classifyAwsError(sdkError('Weird', { $metadata: { httpStatusCode: 503 } }))).toBe('transient');
    expect(classifyAwsError(sdkError('Weird', { $fault: 'server' }))).toBe('transient');
    expect(classifyAwsError(sdkError('TimeoutError'))).toBe('transient');
    expect(classifyAwsError(Object.assign(new Error('read'), { code: 'ECONNRESET' }))).toBe('transient');
    expect(
      classifyAwsError(new Error('request failed', { cause: Object.assign(new Error('x'), { code: 'EPIPE' }) })),
    ).toBe('transient');
    expect(classifyAwsError(new Error('socket hang up'))).toBe('transient');
  });

  it('leaves everything else to the caller', () => {
    expect(
      classifyAwsError(sdkError('ConditionalCheckFailedException', { $metadata: { httpStatusCode: 400 } })),
    ).toBeUndefined();
    expect(classifyAwsError(sdkError('ValidationException'))).toBeUndefined();
    expect(classifyAwsError(new TypeError('bug'))).toBeUndefined();
    expect(classifyAwsError('a string')).toBeUndefined();
  });
});
