/**
 * How an AWS SDK call failed, judged from the error's shape alone (no SDK import), so that the
 * edge packages that translate SDK errors (`@shardline/streams`, `@shardline/leases`) agree on
 * what is throttling and what is a passing fault.
 */
export type AwsErrorKind = 'throttled' | 'transient';

const THROTTLING_NAMES = new Set([
  'LimitExceededException',
  'ProvisionedThroughputExceededException',
  'ProvisionedThroughputExceeded',
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
]);

const TRANSIENT_NAMES = new Set([
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'NetworkingError',
  'TransactionConflictException',
]);

/** Socket failures reach callers as plain Errors with a `code`, sometimes wrapped once or twice. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

interface SdkLikeError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  /** The SDK's own classification: `throttling: true` on throttling errors of any name. */
  $retryable?: { throttling?: unknown };
  cause?: unknown;
}

/** `throttled`, `transient` (5xx, timeouts, resets), or undefined for everything else. */
export function classifyAwsError(err: unknown): AwsErrorKind | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as SdkLikeError;
  const name = typeof e.name === 'string' ? e.name : '';
  if (THROTTLING_NAMES.has(name) || e.$retryable?.throttling === true) return 'throttled';
  if (TRANSIENT_NAMES.has(name) || TRANSIENT_CODES.has(name)) return 'transient';
  const status = e.$metadata?.httpStatusCode;
  if ((typeof status === 'number' && status >= 500) || e.$fault === 'server') return 'transient';
  for (let cur: unknown = e, depth = 0; typeof cur === 'object' && cur !== null && depth < 3; depth++) {
    const { code, message } = cur as SdkLikeError;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return 'transient';
    if (typeof message === 'string' && /socket hang up|ECONNRESET/.test(message)) return 'transient';
    cur = (cur as SdkLikeError).cause;
  }
  return undefined;
}
