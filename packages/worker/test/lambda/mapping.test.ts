import { ConfigError } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import { parseEventSourceMapping, type LambdaMappingOptions } from '../../src/lambda/mapping.js';

const ARN = 'arn:aws:dynamodb:us-east-2:123456789012:table/my-table/stream/2019-06-10T19:26:16.525';

// What the CLI prints in https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html ("Event source mapping APIs").
const created = {
  UUID: '14e0db71-5d35-4eb5-b481-8945cf9d10c2',
  BatchSize: 500,
  MaximumBatchingWindowInSeconds: 5,
  ParallelizationFactor: 1,
  EventSourceArn: ARN,
  FunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:my-function',
  LastModified: 1560209851.963,
  LastProcessingResult: 'No records processed',
  State: 'Creating',
  StateTransitionReason: 'User action',
  DestinationConfig: {},
  MaximumRecordAgeInSeconds: 604800,
  BisectBatchOnFunctionError: false,
  MaximumRetryAttempts: 10000,
};
const withQueue = {
  UUID: 'f89f8514-cdd9-4602-9e1f-01a5b77d449b',
  BatchSize: 100,
  MaximumBatchingWindowInSeconds: 0,
  ParallelizationFactor: 1,
  EventSourceArn: ARN,
  FunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:my-function',
  LastModified: 1573244760.0,
  LastProcessingResult: 'PROBLEM: Function call failed',
  State: 'Enabled',
  StateTransitionReason: 'User action',
  DestinationConfig: { OnFailure: { Destination: 'arn:aws:sqs:us-east-2:123456789012:dlq' } },
  MaximumRecordAgeInSeconds: 3600,
  BisectBatchOnFunctionError: false,
  MaximumRetryAttempts: 2,
};

/** A current, complete output for a mapping that uses every processing field. */
const full = {
  UUID: 'a1b2c3d4-5678-90ab-cdef-11111EXAMPLE',
  StartingPosition: 'TRIM_HORIZON',
  BatchSize: 2000,
  MaximumBatchingWindowInSeconds: 30,
  ParallelizationFactor: 4,
  EventSourceArn: ARN,
  FilterCriteria: { Filters: [{ Pattern: '{ "eventName": [ "INSERT", "MODIFY" ] }' }] },
  FunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:my-function',
  LastModified: '2024-05-01T12:00:00+00:00',
  LastProcessingResult: 'OK',
  State: 'Disabled',
  StateTransitionReason: 'USER_INITIATED',
  DestinationConfig: { OnFailure: {} },
  MaximumRecordAgeInSeconds: -1,
  BisectBatchOnFunctionError: true,
  MaximumRetryAttempts: -1,
  TumblingWindowInSeconds: 120,
  FunctionResponseTypes: ['ReportBatchItemFailures'],
  EventSourceMappingArn: 'arn:aws:lambda:us-east-2:123456789012:event-source-mapping:a1b2c3d4',
  MetricsConfig: { Metrics: ['EventCount'] },
};

const refusal = (input: unknown): string => {
  try {
    parseEventSourceMapping(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the mapping was accepted');
};

describe('reading `aws lambda get-event-source-mapping` output', () => {
  it('maps the documented create output, with Lambda’s defaults for what it omits', () => {
    expect(parseEventSourceMapping(created)).toEqual<LambdaMappingOptions>({
      eventSourceArn: ARN,
      startingPosition: undefined,
      batchSize: 500,
      maxBatchingWindowMs: 5_000,
      parallelizationFactor: 1,
      filterCriteria: undefined,
      reportBatchItemFailures: false,
      bisectBatchOnFunctionError: false,
      maxRetryAttempts: 10_000,
      maxRecordAgeMs: 604_800_000,
      tumblingWindowMs: 0,
      source: {
        uuid: '14e0db71-5d35-4eb5-b481-8945cf9d10c2',
        functionArn: 'arn:aws:lambda:us-east-2:123456789012:function:my-function',
        state: 'Creating',
      },
    });
  });

  it('maps every processing field of a full output, -1 meaning no limit', () => {
    expect(parseEventSourceMapping(JSON.stringify(full))).toMatchObject({
      startingPosition: 'TRIM_HORIZON',
      batchSize: 2000,
      maxBatchingWindowMs: 30_000,
      parallelizationFactor: 4,
      filterCriteria: full.FilterCriteria,
      reportBatchItemFailures: true,
      bisectBatchOnFunctionError: true,
      maxRetryAttempts: undefined,
      maxRecordAgeMs: undefined,
      tumblingWindowMs: 120_000,
    });
  });

  it('applies Lambda’s defaults to a minimal mapping', () => {
    expect(parseEventSourceMapping({ EventSourceArn: ARN, StartingPosition: 'LATEST' })).toMatchObject({
      batchSize: 100,
      maxBatchingWindowMs: 0,
      parallelizationFactor: 1,
      maxRetryAttempts: undefined,
      maxRecordAgeMs: undefined,
      tumblingWindowMs: 0,
      reportBatchItemFailures: false,
      bisectBatchOnFunctionError: false,
    });
  });

  it('refuses the documented SQS on-failure destination, saying what to do instead', () => {
    expect(refusal(withQueue)).toBe(
      'event source mapping: DestinationConfig.OnFailure.Destination arn:aws:sqs:us-east-2:123456789012:dlq is an SQS queue, which shardline does not write to; remove it and give shardline a failure destination (JSONL file, DynamoDB table, or your own FailureDestination): it receives the same on-failure record',
    );
    const { DestinationConfig: _queue, ...rest } = withQueue;
    expect(parseEventSourceMapping(rest).maxRetryAttempts).toBe(2);
  });

  it.each([
    ['arn:aws:sns:us-east-2:123456789012:topic', /an SNS topic/],
    ['arn:aws:s3:::failed-batches', /an S3 bucket/],
  ])('refuses the on-failure destination %s', (destination, reason) => {
    expect(refusal({ ...created, DestinationConfig: { OnFailure: { Destination: destination } } })).toMatch(reason);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['BatchSize 0', { BatchSize: 0 }, /BatchSize must be at least 1/],
    ['BatchSize 10,001', { BatchSize: 10_001 }, /BatchSize must be at most 10000/],
    ['a fractional BatchSize', { BatchSize: 2.5 }, /BatchSize must be an integer from 1 to 10000/],
    [
      'a batching window over 300 s',
      { MaximumBatchingWindowInSeconds: 301 },
      /MaximumBatchingWindowInSeconds must be at most 300/,
    ],
    ['ParallelizationFactor 11', { ParallelizationFactor: 11 }, /ParallelizationFactor must be at most 10/],
    ['ParallelizationFactor 0', { ParallelizationFactor: 0 }, /ParallelizationFactor must be at least 1/],
    ['MaximumRetryAttempts -2', { MaximumRetryAttempts: -2 }, /MaximumRetryAttempts must be at least -1/],
    ['MaximumRetryAttempts 10,001', { MaximumRetryAttempts: 10_001 }, /MaximumRetryAttempts must be at most 10000/],
    ['MaximumRecordAgeInSeconds 59', { MaximumRecordAgeInSeconds: 59 }, /must be -1 \(no limit\) or from 60 to 604800/],
    ['MaximumRecordAgeInSeconds 0', { MaximumRecordAgeInSeconds: 0 }, /must be -1 \(no limit\) or from 60/],
    ['MaximumRecordAgeInSeconds over a week', { MaximumRecordAgeInSeconds: 604_801 }, /at most 604800/],
    ['TumblingWindowInSeconds 901', { TumblingWindowInSeconds: 901 }, /TumblingWindowInSeconds must be at most 900/],
    [
      'AT_TIMESTAMP',
      { StartingPosition: 'AT_TIMESTAMP' },
      /TRIM_HORIZON or LATEST \(AT_TIMESTAMP exists for Kinesis only\)/,
    ],
    [
      'a start timestamp',
      { StartingPositionTimestamp: 1_700_000_000 },
      /StartingPositionTimestamp applies to AT_TIMESTAMP/,
    ],
    [
      'an unknown response type',
      { FunctionResponseTypes: ['ReportEverything'] },
      /the only response type is ReportBatchItemFailures/,
    ],
    [
      'a Kinesis stream',
      { EventSourceArn: 'arn:aws:kinesis:us-east-2:123456789012:stream/s' },
      /must be a DynamoDB stream ARN/,
    ],
    ['no stream at all', { EventSourceArn: undefined }, /EventSourceArn is required/],
    [
      'an OnSuccess destination',
      { DestinationConfig: { OnSuccess: { Destination: 'arn:aws:sqs:us-east-2:1:q' } } },
      /OnSuccess.Destination is not supported/,
    ],
    ['Kafka topics', { Topics: ['orders'] }, /Topics belongs to a non-DynamoDB event source/],
    [
      'undecryptable filters',
      { FilterCriteriaError: { ErrorCode: 'KMSAccessDenied', Message: 'denied' } },
      /could not decrypt the filter criteria/,
    ],
    [
      'a bad filter pattern',
      { FilterCriteria: { Filters: [{ Pattern: '{ "eventName": "INSERT" }' }] } },
      /^event source mapping: FilterCriteria\.Filters\[0\]\.Pattern: "eventName" must be/,
    ],
  ])('refuses %s', (_name, change, reason) => {
    expect(refusal({ ...created, ...change })).toMatch(reason);
  });

  it('refuses fields it does not know instead of ignoring them', () => {
    expect(refusal({ ...created, Enabled: true, FunctionName: 'f' })).toMatch(
      /Enabled, FunctionName: not an event source mapping field shardline knows; refusing rather than ignoring it/,
    );
  });

  it('lists every problem in one line', () => {
    const message = refusal({ ...created, BatchSize: 0, ParallelizationFactor: 20 });
    expect(message).toMatch(/BatchSize .*; ParallelizationFactor /);
    expect(message).not.toContain('\n');
  });

  it('refuses text that is not JSON, and JSON that is not a mapping', () => {
    expect(refusal('{ "BatchSize": ')).toMatch(/^event source mapping: not valid JSON/);
    expect(refusal([created])).toMatch(/^event source mapping: /);
  });
});
