import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, GetItemCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, describe, expect, it } from 'vitest';
import { audit, connectTestDynamoDB, startStreamSimulator } from '@shardline/testkit';
import { Worker } from '../src/worker.js';
import type { WorkerOptions } from '../src/options.js';
import { until } from './fakes.js';

/**
 * Records at the service's size limits go through the whole pipeline: items near DynamoDB's
 * 400 KB item limit (a MODIFY carries two such images, ~800 KB), GetRecords pages at the 1 MB cap
 * (the simulator cuts pages there, as the service does), the processor, and both built-in
 * failure destinations for a poison record of that size.
 */
const db = connectTestDynamoDB();
const scratch = mkdtempSync(join(tmpdir(), 'shardline-size-'));
afterAll(async () => {
  await db.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** An attribute value that makes the item just under 400 KB (409,600 bytes, names included), and does not compress. */
const bigPayload = () => randomBytes(300_000).toString('base64'); // 400,000 characters

async function runThrough(destination: NonNullable<WorkerOptions['failurePolicy']>['destination']) {
  // A stream of its own: a new application starts at TRIM_HORIZON and would read another run's records.
  const sim = await startStreamSimulator({ shards: 1, seed: 40 });
  const streams = new DynamoDBStreamsClient({ endpoint: sim.endpoint, region: db.region, credentials: db.credentials });
  const delivered: Array<{ shardId: string; sequenceNumber: string; payloadLength: number }> = [];
  const worker = new Worker<{ pk: string; payload: string }>({
    streamArn: sim.streamArn,
    applicationName: db.uniqueName('size'),
    dynamodb: db.dynamodb,
    streams,
    reader: { idleIntervalMs: 20 },
    failurePolicy: { maxRetries: 0, retryBaseMs: 1, retryCapMs: 2, bisectOnError: true, destination },
    processor: {
      processRecords: ({ shardId, records }) => {
        if (records.some((r) => r.keys.pk === 'poison')) throw new Error('poison');
        for (const r of records)
          delivered.push({ shardId, sequenceNumber: r.sequenceNumber, payloadLength: r.newItem?.payload.length ?? 0 });
      },
    },
  });
  const pagesBefore = sim.calls().GetRecords;
  const failed: string[] = [];
  worker.events.on('records:failed', ({ records }) => failed.push(...records.map((r) => r.sequenceNumber)));
  try {
    await worker.start();
    for (let i = 0; i < 6; i++) sim.put(`big-${i}`, { pk: `big-${i}`, payload: bigPayload() });
    sim.put('big-0', { pk: 'big-0', payload: bigPayload() }); // MODIFY: old and new image, ~800 KB
    const poison = sim.put('poison', { pk: 'poison', payload: bigPayload() });
    sim.put('after', { pk: 'after', payload: bigPayload() });
    const written = sim.manifest();
    await until(() => failed.length === 1 && delivered.length === written.length - 1, 30_000, 'all records');
    const report = audit(
      written.filter((e) => e.sequenceNumber !== poison.sequenceNumber),
      delivered,
    );
    expect(report.lost).toEqual([]);
    expect(report.orderViolations).toEqual([]);
    expect(delivered.every((d) => d.payloadLength === 400_000)).toBe(true);
    expect(failed).toEqual([poison.sequenceNumber]);
    // At most two ~400 KB records fit a 1 MB page: the reader went through several full pages.
    expect(sim.calls().GetRecords - pagesBefore).toBeGreaterThanOrEqual(Math.ceil(written.length / 2));
    return poison;
  } finally {
    await worker.stop();
    streams.destroy();
    await sim.stop();
  }
}

describe('records at the size limits', { timeout: 120_000 }, () => {
  it('400 KB items and 1 MB pages, with a poison record of that size stored in a JSONL file', async () => {
    const path = join(scratch, 'failed.jsonl');
    const poison = await runThrough({ type: 'jsonl', path });
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as {
      sequenceNumber: string;
      record: { dynamodb: { NewImage: { payload: { S: string } } } };
    };
    expect(entry.sequenceNumber).toBe(poison.sequenceNumber);
    expect(entry.record.dynamodb.NewImage.payload.S).toHaveLength(400_000);
  });

  it('400 KB items and 1 MB pages, with a poison record of that size stored in a DynamoDB table', async () => {
    const tableName = db.uniqueName('failures');
    await db.dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await waitUntilTableExists({ client: db.dynamodb, maxWaitTime: 30 }, { TableName: tableName });
    const poison = await runThrough({ type: 'dynamodb', tableName });
    const { Item } = await db.dynamodb.send(
      new GetItemCommand({ TableName: tableName, Key: { id: { S: `${poison.shardId}:${poison.sequenceNumber}` } } }),
    );
    expect(Item?.errorMessage?.S).toBe('poison');
    expect(Item?.sequenceNumber?.S).toBe(poison.sequenceNumber);
    // Too big for one item with its metadata: the pointer and keys are kept, the images are not.
    const record = JSON.parse(Item!.record!.S!) as { dynamodb: { Keys: unknown; NewImage?: unknown } };
    expect(record.dynamodb.Keys).toEqual({ pk: { S: 'poison' } });
    expect(record.dynamodb.NewImage).toBeUndefined();
    expect(Item?.recordOmitted?.S).toMatch(/^NewImage and OldImage/);
  });
});
