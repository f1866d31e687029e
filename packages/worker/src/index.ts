export { Worker } from './worker.js';
export {
  createDynamoDBClient,
  createDynamoDBStreamsClient,
  resolveClientOptions,
  CLIENT_DEFAULTS,
  type ClientOptions,
  type ResolvedClientOptions,
} from './clients.js';
export {
  DEFAULTS as WORKER_DEFAULTS,
  resolveWorkerOptions,
  resolveFailurePolicy,
  tableNameFromStreamArn,
  type WorkerOptions,
  type ResolvedWorkerOptions,
  type FailurePolicyOptions,
  type DestinationOption,
} from './options.js';
export {
  defineProcessor,
  isRecordProcessor,
  toProcessorFactory,
  toStreamRecord,
  recordKey,
  type RecordProcessor,
  type ProcessorFactory,
  type ProcessorBatch,
  type ProcessorContext,
  type StreamRecord,
  type Checkpointer,
  type InitializeInput,
  type ShardEndedInput,
  type LeaseLostInput,
  type ShutdownRequestedInput,
} from './processor.js';
export { ShardCheckpointer, type CheckpointStore, type ShardCheckpointerOptions } from './checkpointer.js';
export { ShardConsumer, type ShardConsumerOptions, type ShardConsumerResult } from './shard-consumer.js';
export { ShardState, ShardStateMachine, IllegalTransitionError, canTransition } from './shard-state.js';
export {
  BatchExecutor,
  type BatchOutcome,
  type ResolvedFailurePolicy,
  type ProcessorErrorInfo,
} from './failure-policy.js';
export {
  JsonlFileDestination,
  DynamoDBTableDestination,
  type FailureDestination,
  type FailedRecord,
  type DynamoDBTableDestinationOptions,
} from './destinations.js';
export { ProgressTracker, groupByKey, runKeyGroups } from './key-scheduler.js';
export { HealthServer, type HealthSource, type HealthServerOptions } from './health-server.js';
export { WorkerMetrics, noopMetrics, type ConsumerMetrics } from './metrics.js';
export { Runner, type RunnerOptions } from './runner.js';
export {
  startFromCheckpoint,
  type Coordinator,
  type ReaderFactory,
  type RecordBatch,
  type StartPosition,
} from './contracts.js';
export type { WorkerEvents, ShardEndReason } from './events.js';
