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

interface AwsLikeError {
  name?: string;
  message?: string;
}

/**
 * Translates an AWS SDK error from a lease-table call into a shardline error: the edge where
 * SDK types stop. `lostOnConflict` turns a failed condition into LeaseLostError (checkpoints,
 * releases by the owner) instead of LeaseConflictError (the leader's and takers' writes).
 */
export function translateLeaseError(
  err: unknown,
  context: { operation: string; leaseKey?: string; tableName: string; lostOnConflict?: boolean },
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
