import { ConfigError } from '@shardline/core';
import { z } from 'zod';
import { compileFilterCriteria, type FilterCriteria } from './filter.js';

/**
 * Reads what `aws lambda get-event-source-mapping` prints for a DynamoDB Streams mapping into
 * shardline's terms. Ranges and defaults are Lambda's
 * (https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html,
 * https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html). A field shardline
 * cannot honour is refused with the reason, never dropped: a mapping that silently behaved
 * differently here than in Lambda would lose or re-order records without a word.
 */

export interface LambdaMappingOptions {
  /** The stream to consume. */
  eventSourceArn: string;
  /** Where a shard without a checkpoint starts; `undefined` when the output has none (older CLI examples). */
  startingPosition: 'TRIM_HORIZON' | 'LATEST' | undefined;
  /** Records per invocation (1–10,000). */
  batchSize: number;
  /** How long to gather records for one invocation; 0: invoke with what one read returned. */
  maxBatchingWindowMs: number;
  /** Concurrent batches per shard (1–10), ordered per item key. */
  parallelizationFactor: number;
  /** Validated at parse time; `undefined`: every record goes to the handler. */
  filterCriteria: FilterCriteria | undefined;
  /** `FunctionResponseTypes: ["ReportBatchItemFailures"]`. */
  reportBatchItemFailures: boolean;
  bisectBatchOnFunctionError: boolean;
  /** Retries of a failed batch; `undefined` (Lambda's -1): until the records expire. */
  maxRetryAttempts: number | undefined;
  /** Records older than this are not sent to the function; `undefined` (Lambda's -1): no limit. */
  maxRecordAgeMs: number | undefined;
  /** Tumbling window length; 0: no window. */
  tumblingWindowMs: number;
  /** Printed fields with no effect on processing, kept for logs. */
  source: { uuid?: string | undefined; functionArn?: string | undefined; state?: string | undefined };
}

const STREAM_ARN = /^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/[^/]+\/stream\/.+$/;

const int = (min: number, max: number) =>
  z
    .int({ error: `must be an integer from ${min} to ${max}` })
    .min(min, { error: `must be at least ${min}` })
    .max(max, {
      error: `must be at most ${max}`,
    });

const destination = z.strictObject({ Destination: z.string().optional() });

/** Present only on mappings of other event sources; a DynamoDB mapping never has them set. */
const OTHER_SOURCES = [
  'Topics',
  'Queues',
  'SourceAccessConfigurations',
  'SelfManagedEventSource',
  'AmazonManagedKafkaEventSourceConfig',
  'SelfManagedKafkaEventSourceConfig',
  'ScalingConfig',
  'DocumentDBEventSourceConfig',
] as const;

const schema = z.strictObject({
  EventSourceArn: z.string({ error: 'is required (the DynamoDB stream ARN)' }).regex(STREAM_ARN, {
    error: 'must be a DynamoDB stream ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)',
  }),
  StartingPosition: z
    .enum(['TRIM_HORIZON', 'LATEST'], {
      error: 'must be TRIM_HORIZON or LATEST (AT_TIMESTAMP exists for Kinesis only)',
    })
    .optional(),
  StartingPositionTimestamp: z
    .never({ error: 'applies to AT_TIMESTAMP, which DynamoDB Streams do not have' })
    .optional(),
  BatchSize: int(1, 10_000).default(100),
  MaximumBatchingWindowInSeconds: int(0, 300).default(0),
  ParallelizationFactor: int(1, 10).default(1),
  MaximumRetryAttempts: int(-1, 10_000).default(-1),
  MaximumRecordAgeInSeconds: int(-1, 604_800)
    .refine((v) => v === -1 || v >= 60, { error: 'must be -1 (no limit) or from 60 to 604800' })
    .default(-1),
  BisectBatchOnFunctionError: z.boolean({ error: 'must be true or false' }).default(false),
  TumblingWindowInSeconds: int(0, 900).default(0),
  FunctionResponseTypes: z
    .array(z.literal('ReportBatchItemFailures', { error: 'the only response type is ReportBatchItemFailures' }))
    .max(1)
    .default([]),
  FilterCriteria: z
    .strictObject({ Filters: z.array(z.strictObject({ Pattern: z.string().optional() })).optional() })
    .optional(),
  FilterCriteriaError: z
    .strictObject({ ErrorCode: z.string().optional(), Message: z.string().optional() })
    .optional()
    .refine((v) => v === undefined || (v.ErrorCode === undefined && v.Message === undefined), {
      error: 'is set: Lambda could not decrypt the filter criteria, so they cannot be read from this output',
    }),
  DestinationConfig: z
    .strictObject({ OnFailure: destination.optional(), OnSuccess: destination.optional() })
    .optional()
    .superRefine((config, ctx) => {
      const failure = config?.OnFailure?.Destination;
      if (failure)
        ctx.addIssue({
          code: 'custom',
          path: ['OnFailure', 'Destination'],
          message: `${failure} is ${arnService(failure)}, which shardline does not write to; remove it and give shardline a failure destination (JSONL file, DynamoDB table, or your own FailureDestination): it receives the same on-failure record`,
        });
      const success = config?.OnSuccess?.Destination;
      if (success)
        ctx.addIssue({
          code: 'custom',
          path: ['OnSuccess', 'Destination'],
          message: 'is not supported for DynamoDB Streams mappings',
        });
    }),
  // Printed, with no bearing on how records are processed.
  UUID: z.string().optional(),
  FunctionArn: z.string().optional(),
  LastModified: z.union([z.number(), z.string()]).optional(),
  LastProcessingResult: z.string().optional(),
  State: z.string().optional(),
  StateTransitionReason: z.string().optional(),
  EventSourceMappingArn: z.string().optional(),
  /** Encrypts the filter criteria at rest in Lambda; nothing to do here. */
  KMSKeyArn: z.string().optional(),
  /** Lambda's CloudWatch metrics for the mapping; shardline has its own (Prometheus). */
  MetricsConfig: z.unknown().optional(),
  /** How Lambda scales its pollers; shardline scales by the number of workers. */
  ProvisionedPollerConfig: z.unknown().optional(),
  ...Object.fromEntries(
    OTHER_SOURCES.map((name) => [
      name,
      z
        .unknown()
        .refine((v) => v === undefined || (Array.isArray(v) && v.length === 0), {
          error: 'belongs to a non-DynamoDB event source; this is not a DynamoDB Streams mapping',
        })
        .optional(),
    ]),
  ),
});

/**
 * `input`: the parsed JSON or its text. Throws one ConfigError listing every problem, one per
 * `;`, each naming the field.
 */
export function parseEventSourceMapping(input: unknown): LambdaMappingOptions {
  let json = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (err) {
      throw new ConfigError(`event source mapping: not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys')
        return `${issue.keys.join(', ')}: not an event source mapping field shardline knows; refusing rather than ignoring it`;
      if (issue.path.length === 0) return 'must be a JSON object (what `aws lambda get-event-source-mapping` prints)';
      const field = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`));
      return `${field.join('')} ${issue.message}`;
    });
    throw new ConfigError(`event source mapping: ${problems.join('; ')}`);
  }
  const m = parsed.data;
  const filterCriteria = m.FilterCriteria?.Filters?.length ? m.FilterCriteria : undefined;
  // Compiled once here so a pattern Lambda would refuse fails at start-up, not on a record.
  try {
    compileFilterCriteria(filterCriteria);
  } catch (err) {
    throw err instanceof ConfigError ? new ConfigError(`event source mapping: ${err.message}`, { cause: err }) : err;
  }
  return {
    eventSourceArn: m.EventSourceArn,
    startingPosition: m.StartingPosition,
    batchSize: m.BatchSize,
    maxBatchingWindowMs: m.MaximumBatchingWindowInSeconds * 1000,
    parallelizationFactor: m.ParallelizationFactor,
    filterCriteria,
    reportBatchItemFailures: m.FunctionResponseTypes.includes('ReportBatchItemFailures'),
    bisectBatchOnFunctionError: m.BisectBatchOnFunctionError,
    maxRetryAttempts: m.MaximumRetryAttempts === -1 ? undefined : m.MaximumRetryAttempts,
    maxRecordAgeMs: m.MaximumRecordAgeInSeconds === -1 ? undefined : m.MaximumRecordAgeInSeconds * 1000,
    tumblingWindowMs: m.TumblingWindowInSeconds * 1000,
    source: { uuid: m.UUID, functionArn: m.FunctionArn, state: m.State },
  };
}

function arnService(arn: string): string {
  const service = arn.split(':')[2];
  switch (service) {
    case 'sqs':
      return 'an SQS queue';
    case 'sns':
      return 'an SNS topic';
    case 's3':
      return 'an S3 bucket';
    case undefined:
      return 'not an ARN';
    default:
      return `a ${service} destination`;
  }
}
