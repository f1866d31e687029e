import {
  DescribeTableCommand,
  PutItemCommand,
  UpdateTableCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readLeaseTable } from '@shardline/leases';
import { connectTestDynamoDB } from '@shardline/testkit';
import { Worker } from '../src/worker.js';
import { defineProcessor } from '../src/processor.js';
import { until } from './fakes.js';

const db = connectTestDynamoDB();
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(() => db.close());

interface Delivery {
  streamArn: string;
  pk: string;
  n: number;
}

async function put(tableName: string, keys: number, n: number): Promise<void> {
  for (let i = 0; i < keys; i++)
    await db.dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: `k${i}` }, n: { N: String(n) } } }),
    );
}

async function setStream(tableName: string, enabled: boolean): Promise<string | undefined> {
  await db.dynamodb.send(
    new UpdateTableCommand({
      TableName: tableName,
      StreamSpecification: enabled
        ? { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' }
        : { StreamEnabled: false },
    }),
  );
  await waitUntilTableExists({ client: db.dynamodb, maxWaitTime: 30 }, { TableName: tableName });
  return (await db.dynamodb.send(new DescribeTableCommand({ TableName: tableName }))).Table?.LatestStreamArn;
}

describe('a re-enabled stream on DynamoDB Local', { timeout: 90_000 }, () => {
  it('is followed: the old stream drains first, then the new one is read from its start; nothing lost, nothing twice', async () => {
    const { tableName, streamArn: oldArn } = await db.createStreamTable();
    const seen: Delivery[] = [];
    let slow = true;
    const replaced: Array<{ streamArn: string }> = [];
    const start = async (name: string) => {
      const worker = new Worker<{ n: number }>({
        tableName,
        workerId: name,
        dynamodb: db.dynamodb,
        streams: db.streams,
        // The new stream is noticed within a second, and the drained old one retired at the next sync.
        leases: { leaseDurationMs: 3_000, streamCheckIntervalMs: 500, shardSyncIntervalMs: 1_000 },
        reader: { idleIntervalMs: 50, maxIdleIntervalMs: 100, limit: 5 },
        checkpointIntervalMs: 0,
        shutdownTimeoutMs: 5_000,
        processor: defineProcessor<{ n: number }>({
          processRecords: async ({ records }, ctx) => {
            // The old stream is read slowly, so the new one exists while it still has records left.
            if (slow && ctx.streamArn === oldArn) await new Promise((resolve) => setTimeout(resolve, 100));
            for (const r of records) seen.push({ streamArn: ctx.streamArn, pk: String(r.keys.pk), n: r.newItem!.n });
          },
        }),
      });
      worker.events.on('stream:replaced', (event) => replaced.push(event));
      workers.push(worker);
      await worker.start();
      return worker;
    };
    const [w1, w2] = [await start('w1'), await start('w2')];

    await put(tableName, 40, 1);
    await until(() => seen.length >= 5, 20_000, 'the old stream being read');
    expect(await setStream(tableName, false)).toBe(oldArn);
    const newArn = await setStream(tableName, true);
    expect(newArn).not.toBe(oldArn);
    // The same items again, now into the new stream.
    await put(tableName, 40, 2);
    await until(() => replaced.length === 1, 20_000, 'stream:replaced');
    expect(replaced[0]).toMatchObject({ tableName, streamArn: newArn, previousStreamArns: [oldArn] });
    slow = false;
    await until(() => seen.length >= 80, 30_000, 'every record of both streams');

    // Nothing lost, nothing twice, and every old record before any new one.
    expect(seen).toHaveLength(80);
    const firstNew = seen.findIndex((d) => d.streamArn === newArn);
    expect(seen.slice(0, firstNew).every((d) => d.streamArn === oldArn && d.n === 1)).toBe(true);
    expect(seen.slice(firstNew).every((d) => d.streamArn === newArn && d.n === 2)).toBe(true);
    expect(new Set(seen.slice(firstNew).map((d) => d.pk)).size).toBe(40);
    // The old stream is retired once drained: only the new stream's leases remain.
    const deadline = Date.now() + 20_000;
    let leases = (await readLeaseTable(db.dynamodb, w1.leaseTableName)).leases;
    while (leases.some((l) => l.streamArn !== newArn)) {
      if (Date.now() > deadline) throw new Error(`old stream not retired: ${JSON.stringify(leases)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      leases = (await readLeaseTable(db.dynamodb, w1.leaseTableName)).leases;
    }
    expect(leases.length).toBeGreaterThan(0);
    // The leader that noticed counts it.
    const counts = await Promise.all([w1, w2].map((w) => w.metrics.metrics()));
    expect(counts.filter((text) => /shardline_streams_replaced_total 1/.test(text))).toHaveLength(1);
  });
});
