import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, connectTestDynamoDB, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { CHECKPOINT_RETRY } from '../src/checkpointer.js';
import { Worker } from '../src/worker.js';
import { until } from './fakes.js';

/**
 * Issue #10, defect 2: lease-table writes failing for a few seconds (shorter than the lease
 * duration, so the worker is not fenced) must neither restart the shard consumer nor re-deliver
 * a record. Before the fix the checkpoint's 4 attempts ran out in about a second, the consumer
 * failed and its replacement re-read everything after the last checkpoint.
 */
const db = connectTestDynamoDB();
let sim: StreamSimulator;
let streams: DynamoDBStreamsClient;

beforeAll(async () => {
  sim = await startStreamSimulator({ shards: 1, seed: 10 });
  streams = new DynamoDBStreamsClient({ endpoint: sim.endpoint, region: db.region, credentials: db.credentials });
});
afterAll(async () => {
  streams.destroy();
  await sim.stop();
  await db.close();
});

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);

describe('a lease-table outage shorter than the lease duration', () => {
  it('keeps the checkpoint pending and reading on: no consumer restart, no redelivery', async () => {
    let outage = false;
    const dynamodb = new DynamoDBClient({
      endpoint: db.endpoint,
      region: db.region,
      credentials: db.credentials,
      maxAttempts: 1,
    });
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (outage && WRITES.has(context.commandName ?? ''))
          throw Object.assign(new Error('connect ETIMEDOUT (lease table unreachable, test)'), {
            name: 'TimeoutError',
            code: 'ETIMEDOUT',
          });
        return next(args);
      },
      { step: 'initialize', name: 'leaseTableOutage' },
    );
    const delivered: Array<{ shardId: string; sequenceNumber: string }> = [];
    const distinct = () => new Set(delivered.map((d) => d.sequenceNumber)).size;
    const worker = new Worker({
      streamArn: sim.streamArn,
      applicationName: db.uniqueName('outage'),
      dynamodb,
      streams,
      reader: { idleIntervalMs: 20 },
      leases: { leaseDurationMs: 20_000 },
      processor: {
        processRecords: ({ shardId, records }) => {
          for (const r of records) delivered.push({ shardId, sequenceNumber: r.sequenceNumber });
        },
      },
    });
    let starts = 0;
    const ends: string[] = [];
    let checkpointFailures = 0;
    let lastCheckpoint = '';
    worker.events.on('shard:start', () => starts++);
    worker.events.on('shard:end', ({ reason }) => ends.push(reason));
    worker.events.on('checkpoint:failed', () => checkpointFailures++);
    worker.events.on('checkpoint', ({ checkpoint }) => (lastCheckpoint = checkpoint));
    try {
      await worker.start();
      sim.put('k0', { pk: 'k0' });
      await until(() => distinct() === 1 && lastCheckpoint !== '', 15_000, 'the first record checkpointed');

      outage = true;
      // The outage lasts until the checkpoint failed past the old budget (the awaited-write
      // budget, which used to restart the consumer), with records written and delivered meanwhile.
      // Counted in failures, not in seconds, so a slow machine cannot stretch it to a self-fence.
      for (let i = 1; i <= 20; i++) sim.put(`k${i}`, { pk: `k${i}` });
      await until(() => distinct() === 21, 10_000, 'records delivered during the outage');
      await until(
        () => checkpointFailures > CHECKPOINT_RETRY.maxAttempts,
        15_000,
        'checkpoint failures past the old budget',
      );
      for (let i = 21; i <= 30; i++) sim.put(`k${i}`, { pk: `k${i}` });
      await until(() => distinct() === 31, 10_000, 'more records delivered during the outage');
      outage = false;

      const last = sim.manifest().at(-1)!.sequenceNumber;
      await until(() => lastCheckpoint === last, 15_000, 'the newest position checkpointed after the outage');
      const report = audit(sim.manifest(), delivered);
      expect(report.lost).toEqual([]);
      expect(report.orderViolations).toEqual([]);
      expect(report.duplicates).toEqual([]);
      expect(starts).toBe(1);
      expect(ends).toEqual([]);
    } finally {
      await worker.stop();
      dynamodb.destroy();
    }
  });
});
