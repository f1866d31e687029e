import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { retry, systemClock, TransientError, type Clock } from '@shardline/core';

/**
 * Where records go when the processor gave up on them (Lambda's on-failure destination). The
 * built-in ones write one entry per record; implement `FailureDestination` for anything else
 * (SQS, SNS, a dead-letter topic). `send` must throw when the records were not stored: the
 * shard then stops rather than skipping them silently. It is called once per batch given up
 * on, so it retries what may pass itself: the built-in ones retry each write through core
 * `retry` (throttling and transient faults, `DESTINATION_RETRY`).
 */
export interface FailedRecord {
  shardId: string;
  streamArn: string;
  sequenceNumber: string;
  eventName: string | undefined;
  /** `dynamodb.Keys` unmarshalled; absent when the stream record carries none. */
  keys?: Record<string, unknown> | undefined;
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

/**
 * The retry of one write of a built-in destination, the only one it gets (the SDK's own retry
 * is off on the clients shardline builds): the three attempts the SDK used to give.
 */
export const DESTINATION_RETRY = { maxAttempts: 3, baseMs: 100, capMs: 1_000 } as const;

/** File-system failures that may pass when tried again; a full disk or a refused permission will not. */
const TRANSIENT_FS_CODES = new Set(['EAGAIN', 'EBUSY', 'EINTR', 'EMFILE', 'ENFILE']);

/**
 * Appends JSON lines to a file (created with its directory), retrying what may pass. Shared by
 * the records destination below and Lambda's on-failure records (lambda/failure-record.ts).
 */
export class JsonlAppender {
  readonly path: string;
  readonly #clock: Clock;
  #ready: Promise<unknown> | undefined;

  constructor(path: string, options: { clock?: Clock } = {}) {
    this.path = path;
    this.#clock = options.clock ?? systemClock;
  }

  async append(values: readonly unknown[]): Promise<void> {
    if (values.length === 0) return;
    const lines = values.map((v) => JSON.stringify(v, failureJsonReplacer)).join('\n') + '\n';
    await retry(
      `append to ${this.path}`,
      async () => {
        try {
          this.#ready ??= mkdir(dirname(this.path), { recursive: true }).catch((err: unknown) => {
            this.#ready = undefined;
            throw err;
          });
          await this.#ready;
          await appendFile(this.path, lines, 'utf8');
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (typeof code === 'string' && TRANSIENT_FS_CODES.has(code))
            throw new TransientError(`appending to ${this.path} failed (${code})`, { cause: err });
          throw err;
        }
      },
      { ...DESTINATION_RETRY, clock: this.#clock },
    );
  }
}

/** Appends one JSON line per failed record to a file (created with its directory). */
export class JsonlFileDestination implements FailureDestination {
  readonly name: string;
  readonly #file: JsonlAppender;

  constructor(path: string, options: { clock?: Clock } = {}) {
    this.#file = new JsonlAppender(path, options);
    this.name = `jsonl:${path}`;
  }

  send(records: FailedRecord[]): Promise<void> {
    return this.#file.append(records);
  }
}

export interface DynamoDBTableDestinationOptions {
  client: DynamoDBClient;
  tableName: string;
  /** The table's string partition key. @defaultValue 'id' */
  keyAttribute?: string;
  /** Times the waits between attempts. @defaultValue systemClock */
  clock?: Clock;
}

/**
 * Puts one item per failed record into a DynamoDB table whose string partition key (`id` by
 * default) gets `<shardId>:<sequenceNumber>`, so a record that fails twice keeps one entry.
 */
export class DynamoDBTableDestination implements FailureDestination {
  readonly name: string;
  readonly #options: Required<DynamoDBTableDestinationOptions>;

  constructor(options: DynamoDBTableDestinationOptions) {
    this.#options = { keyAttribute: 'id', clock: systemClock, ...options };
    this.name = `dynamodb:${options.tableName}`;
  }

  async send(records: FailedRecord[]): Promise<void> {
    const { client, tableName, keyAttribute, clock } = this.#options;
    for (const failed of records) {
      const Item: Record<string, { S: string } | { N: string }> = {
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
        record: { S: JSON.stringify(failed.record, failureJsonReplacer) },
      };
      if (itemBytes(Item) > MAX_ITEM_BYTES) {
        // A record near the 400 KB item limit (or a MODIFY with two such images) cannot fit in
        // one item with its metadata: keep the pointer (shard, sequence number, keys) and say so,
        // as Lambda's on-failure record does, rather than stop the shard on a write that never passes.
        const { NewImage: _new, OldImage: _old, ...dynamodb } = failed.record.dynamodb ?? {};
        Item.record = { S: JSON.stringify({ ...failed.record, dynamodb }, failureJsonReplacer) };
        Item.recordOmitted = { S: IMAGES_OMITTED };
      }
      // A raw SDK error: core `retry` classifies it (throttling and transient faults are retried).
      const put = () => client.send(new PutItemCommand({ TableName: tableName, Item }));
      await retry(`PutItem to ${tableName}`, put, { ...DESTINATION_RETRY, clock });
    }
  }
}

/**
 * DynamoDB's item limit is 400 KB (409,600 bytes, attribute names included); a failed record's
 * item stays below it with room for the attribute overhead DynamoDB counts.
 */
const MAX_ITEM_BYTES = 400_000;
const IMAGES_OMITTED =
  "NewImage and OldImage: the item would exceed DynamoDB's 400 KB limit; read the record from the stream by sequenceNumber while it is retained (24 h)";

function itemBytes(item: Record<string, { S: string } | { N: string }>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item))
    bytes += Buffer.byteLength(name) + Buffer.byteLength('S' in value ? value.S : value.N);
  return bytes;
}

/**
 * The JSON of every failure record: JSON.stringify has already turned Dates into strings;
 * Uint8Array (binary attributes) becomes base64, and a bigint (a number attribute past 2^53 that
 * `unmarshall` returns as one, e.g. a sequence number kept in an item key) its decimal string,
 * where JSON.stringify would throw and stop the shard.
 */
export function failureJsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}
