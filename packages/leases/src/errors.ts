import {
  ConfigError,
  classifyAwsError,
  LeaseLostError,
  ShardlineError,
  ThrottledError,
  TransientError,
} from '@shardline/core';

/**
 * A conditional write lost a race: the item changed since the writer read it (another
 * leader assigned it, the owner released it, a checkpoint moved the counter). The writer
 * re-reads and decides again; nothing is retried blindly.
 */
export class LeaseConflictError extends ShardlineError {
  readonly leaseKey: string;
  constructor(leaseKey: string, operation: string, options: { cause?: unknown } = {}) {
    super(`${operation} of ${leaseKey} lost a race: the item changed since it was read`, {
      ...options,
      retryable: false,
    });
    this.leaseKey = leaseKey;
  }
}

/**
 * A batch of lease writes (`LeaseStore.createLeases` / `deleteLeases`) stopped at an error
 * (`cause`, whose `retryable` it keeps) after writing `written`: the caller acts on those (tells
 * their owners) before the error is handled.
 */
export class LeaseBatchError<T = unknown> extends ShardlineError {
  readonly written: readonly T[];
  constructor(operation: string, written: readonly T[], cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super(`${operation} stopped after ${written.length} write(s): ${message}`, {
      cause,
      retryable: cause instanceof ShardlineError ? cause.retryable : false,
    });
    this.written = written;
  }
}

/**
 * A DynamoDB item holds at most 400 KB (names and values): a processor's state above
 * MAX_PROCESSOR_STATE_BYTES leaves too little for the lease's own attributes. Not retryable:
 * the same state fails the same way; the processor must store less (Lambda's tumbling window
 * ends the window early instead, see worker/src/lambda/tumbling-window.ts).
 */
export class ProcessorStateTooLargeError extends ShardlineError {
  readonly shardId: string;
  readonly bytes: number;
  constructor(shardId: string, bytes: number, limit: number) {
    super(
      `the processor state of ${shardId} is ${bytes} bytes; a lease item holds at most ${limit} bytes of it (DynamoDB's 400 KB item limit)`,
      { retryable: false },
    );
    this.shardId = shardId;
    this.bytes = bytes;
  }
}

/** What a lease item keeps for a processor's state (UTF-8 bytes): 400 KB less room for the lease. */
export const MAX_PROCESSOR_STATE_BYTES = 380 * 1024;

export function assertProcessorStateFits(shardId: string, state: string): void {
  const bytes = Buffer.byteLength(state, 'utf8');
  if (bytes > MAX_PROCESSOR_STATE_BYTES)
    throw new ProcessorStateTooLargeError(shardId, bytes, MAX_PROCESSOR_STATE_BYTES);
}

interface AwsLikeError {
  name?: string;
  message?: string;
}

/**
 * Translates an AWS SDK error from a lease-table call into a shardline error: the edge where
 * SDK types stop. `lostOnConflict` turns a failed condition into LeaseLostError (checkpoints,
 * releases by the owner) instead of LeaseConflictError (the leader's and takers' writes).
 * `signal` is the one the call was sent with: see `timedOut`.
 */
export function translateLeaseError(
  err: unknown,
  context: {
    operation: string;
    leaseKey?: string | undefined;
    tableName: string;
    lostOnConflict?: boolean;
    signal?: AbortSignal | undefined;
  },
): ShardlineError {
  if (err instanceof ShardlineError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as AwsLikeError;
  const name = e.name ?? '';
  const where = `${context.operation}${context.leaseKey ? ` of ${context.leaseKey}` : ''} on lease table ${context.tableName}`;
  if (name === 'ConditionalCheckFailedException') {
    const key = context.leaseKey ?? '(unknown)';
    return context.lostOnConflict
      ? new LeaseLostError(key, undefined, { cause: err })
      : new LeaseConflictError(key, context.operation, { cause: err });
  }
  if (name === 'AbortError' && timedOut(context.signal)) {
    return new TransientError(`${where} got no answer in time (${e.message ?? name})`, { cause: err });
  }
  const kind = classifyAwsError(err);
  if (kind === 'throttled') return new ThrottledError(`${where} was throttled (${name})`, { cause: err });
  if (name === 'ResourceNotFoundException') {
    return new ConfigError(
      `lease table ${context.tableName} does not exist (${where}); was it deleted while workers ran?`,
      { cause: err },
    );
  }
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException') {
    return new ConfigError(
      `${where} was refused (${name}): check the credentials and the IAM policy for the lease table`,
      { cause: err },
    );
  }
  if (kind === 'transient') {
    return new TransientError(`${where} failed: ${e.message ?? name}`, { cause: err });
  }
  return new ShardlineError(`${where} failed: ${e.message ?? String(err)}`, { cause: err, retryable: false });
}

/**
 * The call's deadline (`AbortSignal.timeout`: a heartbeat write's, a table read's) passed, so an
 * AbortError means the endpoint was too slow or unreachable: a passing fault. The SDK's AbortError
 * cannot tell a deadline from a stop by itself: which of its layers noticed the abort first
 * decides whether it carries the signal's reason at all (the retry middleware's own "Request
 * aborted" carries nothing), so the signal is asked.
 */
function timedOut(signal: AbortSignal | undefined): boolean {
  const reason: unknown = signal?.aborted ? signal.reason : undefined;
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}
