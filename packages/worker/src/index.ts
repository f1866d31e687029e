// The public surface: what an application needs to run a worker and write a processor. The
// parts (consumer, checkpointer, runner, metrics, …) are internal; tests import them from src.
export { Worker } from './worker.js';
export { createDynamoDBClient, createDynamoDBStreamsClient, CLIENT_DEFAULTS, type ClientOptions } from './clients.js';
export {
  DEFAULTS as WORKER_DEFAULTS,
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
  type ShardEndedInput,
  type LeaseLostInput,
  type ShutdownRequestedInput,
} from './processor.js';
export { ShardState } from './shard-state.js';
export type { FailureDestination, FailedRecord } from './destinations.js';
export type { WorkerEvents, ShardEndReason } from './events.js';
