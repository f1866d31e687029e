import {
  AbortedError,
  ConfigError,
  classifyAwsError,
  IteratorExpiredError,
  ShardlineError,
  ThrottledError,
  TransientError,
  TrimmedDataError,
} from '@shardline/core';

/** What the failed call was doing: names the operation and position in the translated message. */
export interface StreamsErrorContext {
  /** `DescribeStream`, `GetRecords`, … */
  operation: string;
  streamArn?: string | undefined;
  shardId?: string | undefined;
  /** The sequence number the call asked for, when it asked for one. */
  sequenceNumber?: string | undefined;
}

/**
 * A stream, table or shard that does not exist (any more). A `ConfigError` when the user named
 * it; a shard that vanished has been trimmed, and the caller decides what that means.
 */
export class StreamResourceNotFoundError extends ConfigError {
  readonly operation: string;
  readonly streamArn: string | undefined;
  readonly shardId: string | undefined;
  constructor(message: string, context: StreamsErrorContext, options: { cause?: unknown } = {}) {
    super(message, options);
    this.operation = context.operation;
    this.streamArn = context.streamArn;
    this.shardId = context.shardId;
  }
}

interface SdkLikeError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
}

/**
 * Translates an error thrown by a DynamoDB Streams call into the shardline hierarchy, keeping
 * the original as `cause`. Shardline errors pass through unchanged. Unknown errors become a
 * non-retryable `ShardlineError`: retrying what we do not understand hides bugs.
 */
export function translateStreamsError(err: unknown, context: StreamsErrorContext): ShardlineError {
  if (err instanceof ShardlineError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkLikeError;
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const where = describeContext(context);

  if (name === 'AbortError') return new AbortedError(`${context.operation} aborted`, { cause: err });
  if (name === 'ExpiredIteratorException')
    return new IteratorExpiredError(context.shardId ?? 'unknown shard', { cause: err });
  if (name === 'TrimmedDataAccessException')
    return new TrimmedDataError(context.shardId ?? 'unknown shard', context.sequenceNumber, { cause: err });
  const kind = classifyAwsError(err);
  if (kind === 'throttled') return new ThrottledError(`${where} was throttled (${name}): ${message}`, { cause: err });
  if (name === 'ResourceNotFoundException')
    return new StreamResourceNotFoundError(`${where}: not found (${message})`, context, { cause: err });
  if (name === 'ValidationException') return new ConfigError(`${where} was refused: ${message}`, { cause: err });
  if (kind === 'transient')
    return new TransientError(`${where} failed transiently (${name || errorCode(e) || 'error'}): ${message}`, {
      cause: err,
    });
  if (
    name === 'AccessDeniedException' ||
    name === 'UnrecognizedClientException' ||
    name === 'InvalidSignatureException'
  ) {
    return new ConfigError(`${where} was denied (${name}): ${message}; check the credentials and IAM policy`, {
      cause: err,
    });
  }
  return new ShardlineError(`${where} failed (${name || 'error'}): ${message}`, { cause: err, retryable: false });
}

function errorCode(e: SdkLikeError): string | undefined {
  return typeof e.code === 'string' ? e.code : undefined;
}

function describeContext(context: StreamsErrorContext): string {
  const parts = [context.operation];
  if (context.shardId) parts.push(`shard ${context.shardId}`);
  else if (context.streamArn) parts.push(`stream ${context.streamArn}`);
  return parts.join(' on ');
}
