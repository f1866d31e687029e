import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ManualClock } from '@shardline/core';
import { connectTestDynamoDB } from '@shardline/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { lambdaProcessor, type LambdaDynamoDBTimeWindowEvent } from '../../src/lambda/lambda-processor.js';
import { Worker } from '../../src/worker.js';
import { until } from '../fakes.js';

const db = connectTestDynamoDB();
const workers: Worker<unknown>[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(() => db.close());

// A day-long window: every record of the test falls in the window of today (the records'
// ApproximateCreationDateTime is DynamoDB Local's clock), and the function's clock, fixed, never
// closes it. Only a run across midnight UTC would see two windows.
const WINDOW_MS = 86_400_000;

interface Invocation {
  worker: string;
  n: number[];
  state: Record<string, unknown>;
  final: boolean;
}

function startWorker(tableName: string, name: string, seen: Invocation[]): Worker<unknown> {
  const handler = async (event: LambdaDynamoDBTimeWindowEvent) => {
    await Promise.resolve();
    const n = event.Records.map((r) => Number((r.dynamodb!.NewImage!.n as { N: string }).N));
    seen.push({ worker: name, n, state: event.state, final: event.isFinalInvokeForWindow });
    const sum = ((event.state.sum as number | undefined) ?? 0) + n.reduce((a, b) => a + b, 0);
    return { state: { sum, records: ((event.state.records as number | undefined) ?? 0) + n.length } };
  };
  const worker = new Worker<unknown>({
    tableName,
    applicationName: tableName,
    workerId: name,
    dynamodb: db.dynamodb,
    streams: db.streams,
    leases: { leaseDurationMs: 3_000 },
    reader: { idleIntervalMs: 50 },
    shutdownTimeoutMs: 5_000,
    processor: lambdaProcessor(handler, { tumblingWindowMs: WINDOW_MS, clock: new ManualClock(Date.now()) }),
  });
  workers.push(worker);
  return worker;
}

async function put(tableName: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++)
    await db.dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: `k${i}` }, n: { N: String(i) } } }),
    );
}

describe('tumbling windows on DynamoDB Local', () => {
  it('a graceful hand-off gives the next owner the open window with its state from the lease table', async () => {
    const { tableName } = await db.createStreamTable();
    const seen: Invocation[] = [];
    const a = startWorker(tableName, 'a', seen);
    const aKnows = new Set<string>();
    a.events.on('worker:joined', ({ workerId }) => aKnows.add(workerId));
    await a.start();
    await put(tableName, 1, 5);
    await until(() => seen.flatMap((s) => s.n).length >= 5, 20_000, 'a invokes records 1-5');
    const b = startWorker(tableName, 'b', seen);
    await b.start();
    await until(() => aKnows.has('b'), 20_000, 'a sees b join');
    await a.stop();
    await put(tableName, 6, 8);
    await until(() => seen.filter((s) => s.worker === 'b').flatMap((s) => s.n).length >= 3, 20_000, 'b takes over');
    const byB = seen.filter((s) => s.worker === 'b');
    // b's first invocation carries a's state: records 1-5 were counted once, in the same window.
    expect(byB[0]!.state).toEqual({ sum: 15, records: 5 });
    expect(seen.every((s) => !s.final)).toBe(true);
    const last = seen.at(-1)!;
    expect(last.state.records as number).toBe(8 - last.n.length);
  });
});
