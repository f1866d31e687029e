/**
 * Errors as the service sends them: HTTP status plus a JSON body `{ __type, message }`. The
 * `__type` prefixes are the ones DynamoDB Streams uses on the wire; the SDK keeps the part
 * after `#` as the error's `name` (ExpiredIteratorException, ValidationException, ...).
 */

const STREAMS = 'com.amazonaws.dynamodb.v20120810#';
const CORAL_VALIDATE = 'com.amazon.coral.validate#';
const CORAL_SERVICE = 'com.amazon.coral.service#';

export type ServiceErrorName =
  | 'ExpiredIteratorException'
  | 'TrimmedDataAccessException'
  | 'LimitExceededException'
  | 'ResourceNotFoundException'
  | 'ValidationException'
  | 'InternalServerError'
  | 'SerializationException'
  | 'UnknownOperationException';

const PREFIX: Record<ServiceErrorName, string> = {
  ExpiredIteratorException: STREAMS,
  TrimmedDataAccessException: STREAMS,
  LimitExceededException: STREAMS,
  ResourceNotFoundException: STREAMS,
  InternalServerError: STREAMS,
  ValidationException: CORAL_VALIDATE,
  SerializationException: CORAL_SERVICE,
  UnknownOperationException: CORAL_SERVICE,
};

/** An error answer of the simulated service (not a failure of the simulator itself). */
export class ServiceError extends Error {
  readonly errorName: ServiceErrorName;
  readonly status: number;

  constructor(errorName: ServiceErrorName, message: string) {
    super(message);
    this.name = 'ServiceError';
    this.errorName = errorName;
    this.status = errorName === 'InternalServerError' ? 500 : 400;
  }

  /** The response body, exactly as the service shapes it. */
  body(): string {
    return JSON.stringify({ __type: `${PREFIX[this.errorName]}${this.errorName}`, message: this.message });
  }
}

export const validation = (message: string): ServiceError => new ServiceError('ValidationException', message);
export const notFound = (message: string): ServiceError => new ServiceError('ResourceNotFoundException', message);
