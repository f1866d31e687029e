import { BatchWriteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import type { RecordBatch, ShardReader } from '../../src/shard-reader.js';

/** Writes items `{ pk: prefix + i }` with BatchWriteItem, 25 a call, in key order. */
export async function writeItems(dynamodb: DynamoDBClient, tableName: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 25) {
    let requests = keys
      .slice(i, i + 25)
      .map((pk) => ({ PutRequest: { Item: { pk: { S: pk }, n: { N: String(i) } } } }));
    while (requests.length > 0) {
      const out = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }));
      requests = (out.UnprocessedItems?.[tableName] ?? []) as typeof requests;
    }
  }
}

export const keyOf = (record: _Record) => record.dynamodb?.Keys?.pk?.S;

/**
 * Reads from `reader` until `count` records arrived, the shard ended, or `timeoutMs` passed
 * (then closes the reader; the caller's assertions on what arrived say what was missing).
 */
export async function readRecords(
  reader: ShardReader,
  count: number,
  timeoutMs = 15_000,
): Promise<{ records: _Record[]; batches: RecordBatch[] }> {
  const records: _Record[] = [];
  const batches: RecordBatch[] = [];
  const timer = setTimeout(() => void reader.close(), timeoutMs);
  try {
    for await (const batch of reader) {
      batches.push(batch);
      records.push(...batch.records);
      if (batch.shardEnd || records.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    await reader.close();
  }
  return { records, batches };
}
