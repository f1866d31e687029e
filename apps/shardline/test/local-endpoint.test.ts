import { describe, expect, it } from 'vitest';
import { isLoopbackEndpoint, LOCAL_CREDENTIALS, localDefaults } from '../src/local-endpoint.js';
import { startedByNpm } from '../src/signals.js';

describe('local endpoints need no AWS variables', () => {
  it.each([
    ['http://localhost:8000', true],
    ['http://127.0.0.1:8000', true],
    ['http://127.1.2.3:8000', true],
    ['http://[::1]:8000', true],
    ['http://dynamodb.localhost:8000', true],
    ['http://dynamodb-local:8000', false],
    ['https://dynamodb.eu-west-1.amazonaws.com', false],
    ['not a url', false],
  ])('%s is loopback: %s', (endpoint, expected) => {
    expect(isLoopbackEndpoint(endpoint)).toBe(expected);
  });

  it('fills in credentials and region only when every endpoint is local and the shell has none', () => {
    const local = 'http://localhost:8000';
    expect(localDefaults([local, local], undefined, {})).toEqual({
      credentials: LOCAL_CREDENTIALS,
      region: 'us-east-1',
    });
    expect(localDefaults([local, local], 'eu-west-1', {})).toEqual({ credentials: LOCAL_CREDENTIALS });
    expect(localDefaults([local], undefined, { AWS_PROFILE: 'dev', AWS_REGION: 'eu-west-1' })).toEqual({});
    expect(localDefaults([local], undefined, { AWS_ACCESS_KEY_ID: 'AKIA' }).credentials).toBeUndefined();
    // The stream simulator locally, DynamoDB in AWS: nothing invented.
    expect(localDefaults([local, undefined], undefined, {})).toEqual({});
    expect(localDefaults(['http://dynamodb-local:8000'], undefined, {})).toEqual({});
  });

  it('knows when npm started the process', () => {
    expect(startedByNpm({ npm_command: 'exec' })).toBe(true);
    expect(startedByNpm({ npm_command: 'run-script' })).toBe(true);
    expect(startedByNpm({})).toBe(false);
  });
});
