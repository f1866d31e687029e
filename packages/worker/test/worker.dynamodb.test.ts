import { PutItemCommand } from '@aws-sdk/client-dynamodb';
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

async function put(tableName: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    await db.dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: `k${i}` }, n: { N: String(i) } } }),
    );
  }
}

function startWorker(tableName: string, seen: Array<{ worker: string; n: number }>, name: string): Worker {
  const worker = new Worker<{ n: number }>({
    tableName,
    applicationName: tableName,
    workerId: name,
    dynamodb: db.dynamodb,
    streams: db.streams,
    leases: { leaseDurationMs: 3_000 },
    reader: { idleIntervalMs: 50 },
    shutdownTimeoutMs: 5_000,
    processor: defineProcessor<{ n: number }>({
      processRecords: ({ records }) => {
        for (const r of records) seen.push({ worker: name, n: r.newItem!.n });
      },
    }),
  });
  workers.push(worker);
  return worker;
}

describe('Worker on DynamoDB Local', () => {
  it('processes everything; a graceful stop hands the shard to the other worker with no duplicates', async () => {
    const { tableName } = await db.createStreamTable();
    const seen: Array<{ worker: string; n: number }> = [];
    const a = startWorker(tableName, seen, 'a');
    const released: Array<{ shardId: string; to?: string | undefined }> = [];
    a.events.on('lease:released', (event) => released.push(event));
    const aKnows = new Set<string>();
    a.events.on('worker:joined', ({ workerId }) => aKnows.add(workerId));
    await a.start();
    await put(tableName, 1, 20);
    await until(() => seen.length >= 20, 20_000, 'first 20 records');
    const b = startWorker(tableName, seen, 'b');
    await b.start();
    // a names its successor only once it has seen b's heartbeat.
    await until(() => aKnows.has('b'), 20_000, 'a sees b join');
    const [shardId] = a.shardIds;
    expect(shardId).toBeDefined();
    await a.stop();
    // The graceful stop moved the lease to b itself (no waiting for it to expire): a says so,
    // and the lease row names b as owner the moment stop() resolves.
    expect(released).toContainEqual(expect.objectContaining({ shardId, to: 'b' }));
    const leases = (await readLeaseTable(db.dynamodb, a.leaseTableName)).leases;
    expect(leases.find((l) => l.shardId === shardId)?.owner).toBe('b');
    await put(tableName, 21, 40);
    await until(() => seen.filter((s) => s.worker === 'b').length >= 20, 20_000, 'worker b takes over');
    const numbers = seen.map((s) => s.n).sort((x, y) => x - y);
    expect(numbers).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(seen.filter((s) => s.worker === 'b').every((s) => s.n > 20)).toBe(true);
  });
});
