import { afterEach, describe, expect, it, vi } from 'vitest';
import { operatorContext } from '../src/commands/operator.js';

/** The clients of `reset` / `import-kcl`: local endpoints get the same defaults as `run`. */

afterEach(() => vi.unstubAllEnvs());

function clearAwsEnv(): void {
  for (const name of [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_PROFILE',
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  ])
    vi.stubEnv(name, '');
}

describe('operatorContext', () => {
  it('gives a localhost endpoint the local credentials and region without AWS variables', async () => {
    clearAwsEnv();
    const ctx = operatorContext({ app: 'a', endpoint: 'http://localhost:8000' });
    try {
      for (const client of [ctx.dynamodb, ctx.streams]) {
        expect(await client.config.region()).toBe('us-east-1');
        const credentials = await client.config.credentials();
        expect(credentials.accessKeyId).toBe('local');
      }
    } finally {
      ctx.close();
    }
  });

  it('invents nothing for a remote endpoint', async () => {
    clearAwsEnv();
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    const ctx = operatorContext({ app: 'a', endpoint: 'https://dynamodb.eu-west-1.amazonaws.com' });
    try {
      expect(await ctx.dynamodb.config.region()).toBe('eu-west-1');
    } finally {
      ctx.close();
    }
  });
});
