import { CreateTableCommand, GetItemCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { Worker } from '../src/worker.js';
import { until } from './fakes.js';

/**
 * A real Worker reading the stream simulator (lease table on DynamoDB Local): the reader's
 * throttles, iterator expiry and trimmed data reach the metrics and events, and the DynamoDB
 * table destination stores a poison record.
 */
const db = connectTestDynamoDB();
let sim: StreamSimulator;
let streams: DynamoDBStreamsClient;

beforeAll(async () => {
  sim = await startStreamSimulator({ shards: 1, seed: 3 });
  streams = new DynamoDBStreamsClient({ endpoint: sim.endpoint, region: db.region, credentials: db.credentials });
});
afterAll(async () => {
  streams.destroy();
  await sim.stop();
  await db.close();
});

describe('Worker on the stream simulator', () => {
  it('counts throttles, iterator refreshes and trimmed-data events; sends a poison record to a DynamoDB table', async () => {
    const failures = db.uniqueName('failures');
    await db.dynamodb.send(
      new CreateTableCommand({
        TableName: failures,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await waitUntilTableExists({ client: db.dynamodb, maxWaitTime: 30 }, { TableName: failures });
    const seen: string[] = [];
    const worker = new Worker<{ pk: string }>({
      streamArn: sim.streamArn,
      applicationName: db.uniqueName('simapp'),
      dynamodb: db.dynamodb,
      streams,
      reader: { idleIntervalMs: 20 },
      failurePolicy: {
        maxRetries: 1,
        retryBaseMs: 1,
        retryCapMs: 2,
        bisectOnError: true,
        destination: { type: 'dynamodb', tableName: failures },
      },
      processor: {
        processRecords: ({ records }) => {
          if (records.some((r) => r.keys.pk === 'poison')) throw new Error('poison');
          seen.push(...records.map((r) => String(r.keys.pk)));
        },
      },
    });
    const trimmed: string[] = [];
    worker.events.on('records:trimmed', ({ shardId }) => trimmed.push(shardId));
    try {
      await worker.start();
      sim.put('a', { pk: 'a' });
      await until(() => seen.includes('a'), 15_000, 'record a');
      // The SDK client retries throttles itself (3 attempts by default): 7 reach the reader twice.
      sim.faults.failNext('GetRecords', 7, 'throttle');
      sim.faults.failNext('GetRecords', 1, 'expired');
      sim.put('b', { pk: 'b' });
      await until(() => seen.includes('b'), 15_000, 'record b after throttles and an expired iterator');
      sim.faults.failNext('GetRecords', 1, 'trimmed');
      sim.put('poison', { pk: 'poison' });
      sim.put('c', { pk: 'c' });
      await until(() => seen.includes('c'), 15_000, 'record c after the poison one');
      const metrics = await worker.metrics.metrics();
      expect(Number(/shardline_throttles_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
      expect(metrics).toMatch(/shardline_iterator_refreshes_total\{reason="expired"\} [1-9]/);
      expect(metrics).toMatch(/shardline_trimmed_data_events_total [1-9]/);
      expect(metrics).toMatch(/shardline_failed_records_sent_total 1/);
      expect(trimmed.length).toBeGreaterThanOrEqual(1);
      const poison = sim.manifest().find((e) => e.key === 'poison')!;
      const stored = await db.dynamodb.send(
        new GetItemCommand({ TableName: failures, Key: { id: { S: `${poison.shardId}:${poison.sequenceNumber}` } } }),
      );
      expect(stored.Item?.errorMessage?.S).toBe('poison');
      expect(stored.Item?.reason?.S).toBe('retries-exhausted');
    } finally {
      await worker.stop();
    }
  });
});
