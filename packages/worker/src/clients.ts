import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { enableCachedAbortableSends } from '@shardline/streams';
import { nonEmptyString, positiveInteger, rejectUnknownKeys, requireThat, type Logger } from '@shardline/core';

export interface ClientOptions {
  /** @defaultValue the SDK's (AWS_REGION, profile…) */
  region?: string;
  /** A custom endpoint (DynamoDB Local, the stream simulator). @defaultValue the region's */
  endpoint?: string;
  /** @defaultValue the SDK's default credential chain */
  credentials?: DynamoDBClientConfig['credentials'];
  /**
   * An attempt that has not got its whole answer by then fails with a `TimeoutError`, which
   * shardline's retrying layer treats as transient and retries. The SDK has no request timeout
   * of its own: without one, a request on a half-dead connection would hang, and with it the
   * shard or the lease heartbeat.
   * @defaultValue 10_000
   */
  requestTimeoutMs?: number;
  /** Time to establish a TCP (and TLS) connection. @defaultValue 3_000, or requestTimeoutMs when smaller */
  connectionTimeoutMs?: number;
  /**
   * The SDK's own attempts per request, the first included. 1 turns the SDK's retry off: each
   * call is retried by exactly one shardline layer (see "Who retries what" in
   * docs/architecture.md), which knows the error types, rate limits and fencing; SDK retries
   * under it would multiply the attempts. Raise it only for a client whose calls no shardline
   * layer retries (`shardline status`).
   * @defaultValue 1
   */
  maxAttempts?: number;
}

export interface ResolvedClientOptions {
  region: string | undefined;
  endpoint: string | undefined;
  credentials: DynamoDBClientConfig['credentials'];
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
  maxAttempts: number;
}

export const CLIENT_DEFAULTS = {
  requestTimeoutMs: 10_000,
  connectionTimeoutMs: 3_000,
} as const satisfies Partial<ResolvedClientOptions>;

/** The SDK's attempts per request on the clients shardline builds: its retry is off (see `ClientOptions.maxAttempts`). */
export const SDK_MAX_ATTEMPTS = 1;

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
    maxAttempts: positiveInteger('maxAttempts', options.maxAttempts ?? SDK_MAX_ATTEMPTS),
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

/** A DynamoDB client with request and connection timeouts and no SDK retries (see `ClientOptions`). Destroy it when done. */
export function createDynamoDBClient(options: ClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient(clientConfig(options));
}

/**
 * A DynamoDB Streams client with request and connection timeouts and no SDK retries (see
 * `ClientOptions`). Destroy it when done. It caches its resolved middleware stacks
 * (`cacheMiddleware`), and shardline's calls on it carry their abort signal in a middleware
 * rather than in `send()` options, which would defeat the cache: resolving the stack on every
 * GetRecords was the largest part of an idle shard's CPU (see "Cost and scale" in the README).
 */
export function createDynamoDBStreamsClient(options: ClientOptions = {}): DynamoDBStreamsClient {
  const client = new DynamoDBStreamsClient({ ...clientConfig(options), cacheMiddleware: true });
  enableCachedAbortableSends(client);
  return client;
}

/** What the worker reads of a client it was given: the SDK's resolved `maxAttempts` provider. */
interface SdkClientLike {
  config?: { maxAttempts?: unknown };
}

/**
 * Logs once, at `info`, when a client the worker was given keeps SDK retries (`maxAttempts`
 * above 1): each shardline retry then makes up to that many requests. Not refused, since a
 * client shared with other code may want its retries; the worker README says what to pass.
 */
export async function logSdkRetries(
  clients: Record<string, SdkClientLike | undefined>,
  logger: Pick<Logger, 'info' | 'warn'>,
): Promise<void> {
  const retrying: Record<string, number> = {};
  for (const [name, client] of Object.entries(clients)) {
    const provider = client?.config?.maxAttempts;
    if (typeof provider !== 'function') continue;
    try {
      const attempts: unknown = await (provider as () => unknown)();
      if (typeof attempts === 'number' && attempts > 1) retrying[name] = attempts;
    } catch (err) {
      logger.warn({ err, client: name }, "could not read the client's maxAttempts");
    }
  }
  if (Object.keys(retrying).length === 0) return;
  logger.info(
    { maxAttempts: retrying },
    'a client passed in retries in the SDK as well: attempts multiply with shardline retries (build it with maxAttempts: 1)',
  );
}
