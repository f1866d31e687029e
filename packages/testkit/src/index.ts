export {
  startDynamoDBLocal,
  freePort,
  type StartDynamoDBLocalOptions,
  type DynamoDBLocalHandle,
} from './dynamodb-local.js';
export { testDynamoDBControls, TEST_CONTROLS_ENV, type DynamoDBLocalControls, type ControlTarget } from './controls.js';
export { startTestBackend, TEST_BACKEND_ENV, type TestBackend } from './backend.js';
export { JdkMissingError } from './dynamodb-local-launcher.js';
export { connectTestDynamoDB, TEST_ENDPOINT_ENV, type TestDynamoDB } from './test-dynamodb.js';
export {
  startStreamSimulator,
  type StreamSimulator,
  type StreamSimulatorOptions,
  type ManifestEntry,
  type StreamViewType,
  type Operation,
  type EventName,
  type SimulatorFaults,
  type FaultKind,
  type ThrottleOptions,
  type ScheduleOptions,
  type ScheduleHandle,
  SERVICE_RATE_LIMITS,
  type CallRateLimits,
  type StreamStatus,
} from './simulator/index.js';
export {
  audit,
  type AuditReport,
  type DeliveredRecord,
  type DuplicateDelivery,
  type OrderViolation,
  type KeyOrderViolation,
  type ChildBeforeParent,
} from './audit.js';
export { createStreamTable, type CreateStreamTableOptions } from './stream-table.js';
export { kclLeaseRow, kclStreamIdentifier, kclNonLeaseRows, type KclLeaseRowInput } from './kcl-rows.js';
