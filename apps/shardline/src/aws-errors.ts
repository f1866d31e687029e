import { ConfigError } from '@shardline/core';
import { UsageError } from './usage-error.js';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function* causes(err: unknown): Generator<Record<string, unknown>> {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    yield current as Record<string, unknown>;
    current = (current as { cause?: unknown }).cause;
  }
}

/** Whether `err` or one of its causes is an SDK error of this name (e.g. `ResourceNotFoundException`). */
export function hasErrorName(err: unknown, name: string): boolean {
  for (const c of causes(err)) if (c.name === name) return true;
  return false;
}

/** Where a command's calls went, as a message names it: the endpoint, else the region's AWS endpoint. */
export function whereCalled(endpoint: string | undefined, region: string | undefined): string {
  return endpoint !== undefined
    ? displayEndpoint(endpoint)
    : `region ${region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? '(none set)'}`;
}

/**
 * An endpoint as it may be printed: a URL's userinfo (`http://user:password@host`) is a
 * credential, so it is replaced by `***`. Every endpoint this module shows goes through here.
 */
export function displayEndpoint(endpoint: string): string {
  return endpoint.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

/**
 * Start-up failures caused by the user's setup (endpoint unreachable, wrong credentials or
 * region, table without a stream) become one-line UsageErrors naming what was tried; anything
 * else is returned unchanged.
 */
export function explainStartupError(
  err: unknown,
  tried: { dynamodbEndpoint?: string | undefined; streamsEndpoint?: string | undefined; region?: string | undefined },
): unknown {
  if (err instanceof ConfigError || err instanceof UsageError) return err;
  const region = tried.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const where = (endpoint: string | undefined, service: string) =>
    endpoint !== undefined
      ? displayEndpoint(endpoint)
      : `the AWS ${service} endpoint of region ${region ?? '(none set)'}`;
  for (const c of causes(err)) {
    const code = typeof c.code === 'string' ? c.code : typeof c.errno === 'string' ? c.errno : undefined;
    const name = typeof c.name === 'string' ? c.name : '';
    const message = typeof c.message === 'string' ? c.message : '';
    if ((code && NETWORK_CODES.has(code)) || name === 'TimeoutError') {
      const endpoints = [
        ...new Set([where(tried.dynamodbEndpoint, 'DynamoDB'), where(tried.streamsEndpoint, 'DynamoDB Streams')]),
      ].join(' and ');
      return new UsageError(
        `cannot reach ${endpoints} (${code ?? name}); check --endpoint / --region and that the service is running`,
      );
    }
    if (/Region is missing/i.test(message)) return new UsageError('no AWS region: pass --region or set AWS_REGION');
    if (name === 'CredentialsProviderError') {
      // Nothing was sent: the SDK's provider chain found no credentials anywhere.
      return new UsageError(
        `no AWS credentials found for ${where(tried.dynamodbEndpoint, 'DynamoDB')}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role (IRSA, ECS task role, instance profile)`,
      );
    }
    if (
      name === 'UnrecognizedClientException' ||
      name === 'InvalidSignatureException' ||
      name === 'ExpiredTokenException'
    ) {
      return new UsageError(
        `AWS rejected the credentials (${name}) at ${where(tried.dynamodbEndpoint, 'DynamoDB')}: ${message}`,
      );
    }
    if (name === 'AccessDeniedException')
      return new UsageError(`access denied: ${message} (see docs/iam-policy.json for the permissions shardline needs)`);
  }
  return err;
}
