import { randomUUID } from 'node:crypto';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { retry, systemClock, type Clock } from '@shardline/core';
import { shardRef } from '@shardline/leases';
import {
  DESTINATION_RETRY,
  failureJsonReplacer,
  JsonlAppender,
  type FailedRecord,
  type FailureDestination,
} from '../destinations.js';
import { resolveLambdaFunction, type LambdaFunctionOptions } from './context.js';

/**
 * The record Lambda sends to an on-failure destination when it discards a batch of a DynamoDB
 * stream (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html): a pointer
 * into the stream (shard and sequence range), not the records themselves.
 */
export interface LambdaOnFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: OnFailureCondition;
    approximateInvokeCount: number;
  };
  responseContext: {
    statusCode: number;
    executedVersion: string;
    functionError: string;
  };
  version: '1.0';
  /** When the batch was discarded, ISO 8601 with milliseconds. */
  timestamp: string;
  DDBStreamBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    /** ISO 8601 to the second, as in Lambda's example (`2019-11-14T00:13:19Z`). */
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

/**
 * Why the batch was discarded. `RetryAttemptsExhausted` is the value Lambda's documentation
 * shows; the documentation names no value for records past `MaximumRecordAgeInSeconds`, and
 * `MaximumRecordAgeExceeded` (the parameter's name) is shardline's choice.
 */
export type OnFailureCondition = 'RetryAttemptsExhausted' | 'MaximumRecordAgeExceeded';

export interface OnFailureInput {
  shardId: string;
  streamArn: string;
  /** The discarded records, in stream order; never empty. */
  records: readonly _Record[];
  condition: OnFailureCondition;
  /** Invocations of the function with these records (0 when they aged out before one). */
  invokeCount: number;
  /** The last invocation's request id; a fresh one when there was none. */
  requestId?: string | undefined;
  functionArn: string;
  executedVersion: string;
  /** `Unhandled` for a Node.js function that threw, rejected, called back an error or timed out. */
  functionError?: string | undefined;
  now: number;
}

export function buildOnFailureRecord(input: OnFailureInput): LambdaOnFailureRecord {
  const first = input.records[0];
  const last = input.records.at(-1);
  if (!first || !last) throw new TypeError('an on-failure record needs at least one record');
  return {
    requestContext: {
      requestId: input.requestId ?? randomUUID(),
      functionArn: input.functionArn,
      condition: input.condition,
      approximateInvokeCount: input.invokeCount,
    },
    responseContext: {
      // The Invoke call itself succeeded; the function's error is in functionError.
      statusCode: 200,
      executedVersion: input.executedVersion,
      functionError: input.functionError ?? (input.invokeCount > 0 ? 'Unhandled' : ''),
    },
    version: '1.0',
    timestamp: new Date(input.now).toISOString(),
    DDBStreamBatchInfo: {
      shardId: input.shardId,
      startSequenceNumber: first.dynamodb?.SequenceNumber ?? '',
      endSequenceNumber: last.dynamodb?.SequenceNumber ?? '',
      approximateArrivalOfFirstRecord: isoSeconds(first),
      approximateArrivalOfLastRecord: isoSeconds(last),
      batchSize: input.records.length,
      streamArn: input.streamArn,
    },
  };
}

function isoSeconds(record: _Record): string {
  const created = record.dynamodb?.ApproximateCreationDateTime;
  if (created === undefined) return '';
  return new Date(created).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The last invocation per shard (of each stream: shard ids may repeat across streams), which the on-failure record names. */
export class InvocationLedger {
  readonly #last = new Map<string, { requestId: string; functionError: string | undefined }>();

  record(shard: { streamArn: string; shardId: string }, requestId: string, functionError: string | undefined): void {
    this.#last.set(shardRef(shard.streamArn, shard.shardId), { requestId, functionError });
  }

  last(shard: {
    streamArn: string;
    shardId: string;
  }): { requestId: string; functionError: string | undefined } | undefined {
    return this.#last.get(shardRef(shard.streamArn, shard.shardId));
  }
}

/**
 * A DynamoDB table with a string partition key (`id` by default), which gets
 * `<shardId>:<startSequenceNumber>` (a batch discarded twice keeps one item); the item holds the
 * pointer fields as attributes and the whole record as JSON in `record`.
 */
export interface LambdaOnFailureTable {
  type: 'dynamodb';
  tableName: string;
  client: DynamoDBClient;
  /** @defaultValue 'id' */
  keyAttribute?: string;
}

export interface LambdaFailureDestinationOptions {
  /**
   * Where the on-failure records go: a JSONL file (one line per discarded batch, appended with
   * the built-in JSONL destination's retries), or your own `write`, which must throw when a
   * record was not stored (the shard then stops rather than skipping the batch).
   */
  to:
    | { type: 'jsonl'; path: string }
    | LambdaOnFailureTable
    | { write(record: LambdaOnFailureRecord): Promise<void>; name: string };
  /** The function the record names; give the same options as to `lambdaProcessor`. @defaultValue its defaults */
  function?: LambdaFunctionOptions | undefined;
  /** Shared with `lambdaProcessor`, so the record names the last invocation's request id. */
  ledger?: InvocationLedger | undefined;
  /** @defaultValue systemClock */
  clock?: Clock | undefined;
}

/**
 * A FailureDestination for the worker's failure policy that turns the records it gives up on
 * (one `send` per discarded batch) into one Lambda on-failure record.
 */
export class LambdaFailureDestination implements FailureDestination {
  readonly name: string;
  readonly #o: LambdaFailureDestinationOptions;
  readonly #write: (record: LambdaOnFailureRecord) => Promise<void>;
  readonly #clock: Clock;

  constructor(options: LambdaFailureDestinationOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    // Checked now, so a bad option fails at start-up; the ARN-derived defaults come per stream.
    resolveLambdaFunction(options.function ?? {}, '');
    const to = options.to;
    if ('type' in to && to.type === 'jsonl') {
      const file = new JsonlAppender(to.path, { clock: this.#clock });
      this.#write = (record) => file.append([record]);
      this.name = `lambda-on-failure:jsonl:${to.path}`;
    } else if ('type' in to) {
      this.#write = (record) => putOnFailureRecord(to, record, this.#clock);
      this.name = `lambda-on-failure:dynamodb:${to.tableName}`;
    } else {
      this.#write = (record) => to.write(record);
      this.name = to.name;
    }
  }

  async send(records: FailedRecord[]): Promise<void> {
    const first = records[0];
    if (!first) return;
    const fn = resolveLambdaFunction(this.#o.function ?? {}, first.streamArn);
    const aged = first.reason === 'max-record-age';
    const last = aged ? undefined : this.#o.ledger?.last(first);
    await this.#write(
      buildOnFailureRecord({
        shardId: first.shardId,
        streamArn: first.streamArn,
        records: records.map((r) => r.record),
        condition: aged ? 'MaximumRecordAgeExceeded' : 'RetryAttemptsExhausted',
        invokeCount: first.attempts,
        requestId: last?.requestId,
        functionArn: fn.invokedFunctionArn,
        executedVersion: fn.functionVersion,
        // A last invocation that answered (a partial batch response) had no function error.
        functionError: last ? (last.functionError ?? '') : undefined,
        now: this.#clock.now(),
      }),
    );
  }
}

function putOnFailureRecord(table: LambdaOnFailureTable, record: LambdaOnFailureRecord, clock: Clock): Promise<void> {
  const info = record.DDBStreamBatchInfo;
  // A raw SDK error: core `retry` classifies it (throttling and transient faults are retried).
  const put = () =>
    table.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          [table.keyAttribute ?? 'id']: { S: `${info.shardId}:${info.startSequenceNumber}` },
          shardId: { S: info.shardId },
          streamArn: { S: info.streamArn },
          startSequenceNumber: { S: info.startSequenceNumber },
          endSequenceNumber: { S: info.endSequenceNumber },
          batchSize: { N: String(info.batchSize) },
          condition: { S: record.requestContext.condition },
          timestamp: { S: record.timestamp },
          record: { S: JSON.stringify(record, failureJsonReplacer) },
        },
      }),
    );
  return retry(`PutItem to ${table.tableName}`, put, { ...DESTINATION_RETRY, clock }).then(() => undefined);
}
