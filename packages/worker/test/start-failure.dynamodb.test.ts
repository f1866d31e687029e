import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '@shardline/core';
import { readLeaseTable } from '@shardline/leases';
import { connectTestDynamoDB } from '@shardline/testkit';
import { Worker } from '../src/worker.js';
import { startStallingProxy, type StallMode } from './stalling-proxy.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Resolves once every callback and timer queued so far (and the microtasks they queue) has run. */
const flushPending = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/**
 * A Worker whose lease table is behind a proxy that stalls (or resets) this worker's heartbeat
 * writes, and nothing else: the table is ensured, the first heartbeat does not get through.
 */
async function workerWithFailingFirstHeartbeat(mode: StallMode, emfLines: string[]) {
  const { tableName } = await db.createStreamTable();
  const proxy = await startStallingProxy(db.endpoint, (target, body) =>
    target.endsWith('.PutItem') && body.includes('"_worker#a"') ? mode : undefined,
  );
  cleanups.push(() => proxy.close());
  const dynamodb = new DynamoDBClient({
    endpoint: proxy.endpoint,
    region: db.region,
    credentials: db.credentials,
    maxAttempts: 1,
  });
  cleanups.push(() => dynamodb.destroy());
  const worker = new Worker({
    tableName,
    applicationName: tableName,
    workerId: 'a',
    dynamodb,
    streams: db.streams,
    // A heartbeat write counts as failed after max(2 s, two intervals): 2 s here.
    leases: { leaseDurationMs: 5_000, heartbeatIntervalMs: 500 },
    processor: { processRecords: () => undefined },
    // Started before the first heartbeat, so stopped again when it fails.
    healthPort: 0,
    metrics: { emf: { write: (line) => emfLines.push(line) } },
  });
  cleanups.push(() => worker.stop());
  return { worker, proxy };
}

describe('a Worker whose first heartbeat does not get through', () => {
  for (const [mode, what] of [
    ['hold', 'times out (an endpoint too loaded to answer)'],
    ['reset', 'fails (the connection is reset)'],
  ] as const) {
    it(`${what}: start() rejects with a retryable TransientError, and nothing else escapes`, async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      cleanups.push(() => void process.off('unhandledRejection', onUnhandled));
      const emfLines: string[] = [];
      const { worker, proxy } = await workerWithFailingFirstHeartbeat(mode, emfLines);
      const stopped: Array<{ errors: Error[] }> = [];
      worker.events.on('worker:stopped', (event) => stopped.push(event));

      const error = await worker.start().then(
        () => undefined,
        (err: unknown) => err,
      );

      expect(error).toBeInstanceOf(TransientError);
      expect((error as TransientError).retryable).toBe(true);
      expect((error as TransientError).message).toMatch(/heartbeat of _worker#a/);
      if (mode === 'hold') expect(proxy.held()).toBe(1);
      // start() rejects only after the worker cleaned up after itself.
      expect(worker.state).toBe('stopped');
      expect(stopped).toEqual([{ workerId: 'a', errors: [] }]);
      // The EMF reporter's last flush at stop (the leak guard checks the health server closed).
      expect(emfLines.length).toBeGreaterThan(0);
      expect((await readLeaseTable(db.dynamodb, worker.leaseTableName)).leases).toEqual([]);
      await flushPending();
      expect(unhandled).toEqual([]);
    });
  }
});
