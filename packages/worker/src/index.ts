// The public surface: what an application needs to run a worker and write a processor, or to
// run a DynamoDB Streams Lambda handler unchanged (lambda/README.md). The parts (consumer,
// checkpointer, runner, metrics, the Lambda event and context builders, …) are internal; tests
// import them from src.
export { Worker } from './worker.js';
export { createDynamoDBClient, createDynamoDBStreamsClient, CLIENT_DEFAULTS, type ClientOptions } from './clients.js';
export {
  DEFAULTS as WORKER_DEFAULTS,
  tableNameFromStreamArn,
  applicationNameOf,
  type WorkerOptions,
  type FailurePolicyOptions,
  type DestinationOption,
} from './options.js';
export {
  defineProcessor,
  isRecordProcessor,
  type RecordProcessor,
  type ProcessorFactory,
  type ProcessorBatch,
  type ProcessorContext,
  type StreamRecord,
  type Checkpointer,
  type InitializeInput,
  type IdleInput,
  type CheckpointOptions,
  type ShardEndedInput,
  type LeaseLostInput,
  type ShutdownRequestedInput,
} from './processor.js';
export { ShardState } from './shard-state.js';
export { ReportedFailure } from './reported-failure.js';
export { BATCHING_DEFAULTS, MAX_BATCH_RECORDS, type BatchingOptions } from './batch-gatherer.js';
export { EMF_DEFAULTS, type EmfOptions } from './emf.js';
export { METRIC_DEFINITIONS, type MetricDefinition } from './metric-definitions.js';
export { SPAN_NAMES } from './tracing.js';
export type { FailureDestination, FailedRecord } from './destinations.js';
export type { HealthRoute } from './health-server.js';
export type { WorkerEvents, ShardEndReason } from './events.js';
export {
  lambdaProcessor,
  lambdaProcessorOptionsFromMapping,
  type LambdaProcessorOptions,
  type LambdaDynamoDBTimeWindowEvent,
} from './lambda/lambda-processor.js';
export { parseEventSourceMapping, type LambdaMappingOptions } from './lambda/mapping.js';
export { lanesWithWindowRefusal } from './lambda/parallelization.js';
export { compileFilterCriteria, type FilterCriteria, type RecordFilter } from './lambda/filter.js';
export {
  LambdaFailureDestination,
  InvocationLedger,
  type LambdaFailureDestinationOptions,
  type LambdaOnFailureTable,
  type LambdaOnFailureRecord,
  type OnFailureCondition,
} from './lambda/failure-record.js';
export {
  LAMBDA_FUNCTION_DEFAULTS,
  type LambdaHandler,
  type LambdaContext,
  type LambdaCallback,
  type LambdaFunctionOptions,
} from './lambda/context.js';
export {
  lambdaPayloadBatching,
  regionOfArn,
  type LambdaDynamoDBStreamEvent,
  type LambdaDynamoDBRecord,
} from './lambda/event.js';
export type { WindowState } from './lambda/tumbling-window.js';
