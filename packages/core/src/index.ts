export {
  ShardlineError,
  ConfigError,
  LeaseLostError,
  ThrottledError,
  IteratorExpiredError,
  TrimmedDataError,
  ProcessorError,
  RetriesExceededError,
  TransientError,
  AbortedError,
  toError,
  type ShardlineErrorOptions,
} from './errors.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { fullJitterDelay, retry, type BackoffPolicy, type RetryOptions } from './backoff.js';
export {
  isSequenceNumber,
  assertSequenceNumber,
  compareSequenceNumbers,
  compareCheckpoints,
  isSentinel,
  CheckpointSentinel,
  type Checkpoint,
} from './sequence.js';
export {
  createLogger,
  silentLogger,
  isLogLevel,
  LOG_LEVELS,
  type Logger,
  type LogLevel,
  type CreateLoggerOptions,
} from './logger.js';
export {
  positiveInteger,
  nonNegativeInteger,
  integerInRange,
  oneOf,
  nonEmptyString,
  requireThat,
  rejectUnknownKeys,
  describe as describeValue,
} from './options.js';
export { SafeEmitter } from './events.js';
export {
  StateMachine,
  IllegalTransitionError,
  type TransitionTable,
  type StateChange,
  type StateMachineOptions,
} from './state-machine.js';
export { classifyAwsError, type AwsErrorKind } from './aws-errors.js';
export { INITIAL_POSITIONS, type InitialPosition, type ShardInfo } from './types.js';
