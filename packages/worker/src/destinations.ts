import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';

/**
 * Where records go when the processor gave up on them (Lambda's on-failure destination). The
 * built-in ones write one entry per record; implement `FailureDestination` for anything else
 * (SQS, SNS, a dead-letter topic). `send` must throw when the records were not stored: the
 * shard then stops rather than skipping them silently.
 */
export interface FailedRecord {
  shardId: string;
  streamArn: string;
  sequenceNumber: string;
  eventName: string | undefined;
  keys: Record<string, unknown>;
  /** Why the records were given up on. */
  reason: 'retries-exhausted' | 'max-record-age';
  error: { name: string; message: string; stack?: string | undefined };
  attempts: number;
  failedAt: string;
  workerId: string;
  /** The stream record as GetRecords returned it. */
  record: _Record;
}

export interface FailureDestination {
  /** For logs and metrics, e.g. `jsonl:/var/log/failed.jsonl`. */
  readonly name: string;
  send(records: FailedRecord[]): Promise<void>;
  close?(): Promise<void>;
}

/** Appends one JSON line per failed record to a file (created with its directory). */
export class JsonlFileDestination implements FailureDestination {
  readonly name: string;
  readonly #path: string;
  #ready: Promise<unknown> | undefined;

  constructor(path: string) {
    this.#path = path;
    this.name = `jsonl:${path}`;
  }

  async send(records: FailedRecord[]): Promise<void> {
    this.#ready ??= mkdir(dirname(this.#path), { recursive: true });
    await this.#ready;
    await appendFile(this.#path, records.map((r) => JSON.stringify(r, dateReplacer)).join('\n') + '\n', 'utf8');
  }
}

export interface DynamoDBTableDestinationOptions {
  client: DynamoDBClient;
  tableName: string;
  /** The table's string partition key. @defaultValue 'id' */
  keyAttribute?: string;
}

/**
 * Puts one item per failed record into a DynamoDB table whose string partition key (`id` by
 * default) gets `<shardId>:<sequenceNumber>`, so a record that fails twice keeps one entry.
 */
export class DynamoDBTableDestination implements FailureDestination {
  readonly name: string;
  readonly #options: Required<DynamoDBTableDestinationOptions>;

  constructor(options: DynamoDBTableDestinationOptions) {
    this.#options = { keyAttribute: 'id', ...options };
    this.name = `dynamodb:${options.tableName}`;
  }

  async send(records: FailedRecord[]): Promise<void> {
    const { client, tableName, keyAttribute } = this.#options;
    for (const failed of records) {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            [keyAttribute]: { S: `${failed.shardId}:${failed.sequenceNumber}` },
            shardId: { S: failed.shardId },
            streamArn: { S: failed.streamArn },
            sequenceNumber: { S: failed.sequenceNumber },
            eventName: { S: failed.eventName ?? 'UNKNOWN' },
            reason: { S: failed.reason },
            errorName: { S: failed.error.name },
            errorMessage: { S: failed.error.message || '(no message)' },
            attempts: { N: String(failed.attempts) },
            failedAt: { S: failed.failedAt },
            workerId: { S: failed.workerId },
            record: { S: JSON.stringify(failed.record, dateReplacer) },
          },
        }),
      );
    }
  }
}

function dateReplacer(_key: string, value: unknown): unknown {
  // JSON.stringify has already turned Dates into strings; Uint8Array (binary attributes) needs base64.
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}
