import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { nonEmptyString, positiveInteger, rejectUnknownKeys, requireThat } from '@shardline/core';

export interface ClientOptions {
  /** @defaultValue the SDK's (AWS_REGION, profile…) */
  region?: string;
  /** A custom endpoint (DynamoDB Local, the stream simulator). @defaultValue the region's */
  endpoint?: string;
  /** @defaultValue the SDK's default credential chain */
  credentials?: DynamoDBClientConfig['credentials'];
  /**
   * An attempt that has not got its whole answer by then fails with a `TimeoutError`, which the
   * SDK retries. The SDK has no request timeout of its own: without one, a request on a
   * half-dead connection would hang, and with it the shard or the lease heartbeat.
   * @defaultValue 10_000
   */
  requestTimeoutMs?: number;
  /** Time to establish a TCP (and TLS) connection. @defaultValue 3_000, or requestTimeoutMs when smaller */
  connectionTimeoutMs?: number;
  /** Attempts per call, the first included (the SDK's standard retry mode). @defaultValue 3 (the SDK's) */
  maxAttempts?: number;
}

export interface ResolvedClientOptions {
  region: string | undefined;
  endpoint: string | undefined;
  credentials: DynamoDBClientConfig['credentials'];
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
  maxAttempts: number | undefined;
}

export const CLIENT_DEFAULTS = {
  requestTimeoutMs: 10_000,
  connectionTimeoutMs: 3_000,
} as const satisfies Partial<ResolvedClientOptions>;

const KNOWN: readonly (keyof ClientOptions)[] = [
  'region',
  'endpoint',
  'credentials',
  'requestTimeoutMs',
  'connectionTimeoutMs',
  'maxAttempts',
];

export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  rejectUnknownKeys('client', options, KNOWN);
  const requestTimeoutMs = positiveInteger(
    'requestTimeoutMs',
    options.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs,
  );
  const connectionTimeoutMs = positiveInteger(
    'connectionTimeoutMs',
    options.connectionTimeoutMs ?? Math.min(CLIENT_DEFAULTS.connectionTimeoutMs, requestTimeoutMs),
  );
  requireThat(
    connectionTimeoutMs <= requestTimeoutMs,
    `connectionTimeoutMs (${connectionTimeoutMs}) exceeds requestTimeoutMs (${requestTimeoutMs}): the request timeout would fire first; lower connectionTimeoutMs`,
  );
  return {
    region: options.region === undefined ? undefined : nonEmptyString('region', options.region),
    endpoint: options.endpoint === undefined ? undefined : nonEmptyString('endpoint', options.endpoint),
    credentials: options.credentials,
    requestTimeoutMs,
    connectionTimeoutMs,
    maxAttempts: options.maxAttempts === undefined ? undefined : positiveInteger('maxAttempts', options.maxAttempts),
  };
}

function clientConfig(options: ClientOptions): DynamoDBClientConfig {
  const o = resolveClientOptions(options);
  return {
    region: o.region,
    endpoint: o.endpoint,
    credentials: o.credentials,
    maxAttempts: o.maxAttempts,
    // The plain-object form: the SDK builds its NodeHttpHandler from it (no direct dependency on
    // @smithy/node-http-handler). `throwOnRequestTimeout` matters: without it, smithy 4.x only
    // logs a warning when requestTimeout passes and the request keeps hanging.
    requestHandler: {
      requestTimeout: o.requestTimeoutMs,
      connectionTimeout: o.connectionTimeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}

/** A DynamoDB client with request and connection timeouts (see `ClientOptions`). Destroy it when done. */
export function createDynamoDBClient(options: ClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient(clientConfig(options));
}

/** A DynamoDB Streams client with request and connection timeouts (see `ClientOptions`). Destroy it when done. */
export function createDynamoDBStreamsClient(options: ClientOptions = {}): DynamoDBStreamsClient {
  return new DynamoDBStreamsClient(clientConfig(options));
}
