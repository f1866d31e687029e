import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, connectTestDynamoDB, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { LeaseLostError } from '@shardline/core';
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
/** The attempt budget checkpoints had before #10 (awaited ones until the manual-mode fix): the outages outlast it. */
const OLD_BUDGET = 4;

/** A lease-table client whose writes fail (a connect timeout) while `outage.on`. */
function flakyLeaseTable(outage: { on: boolean }): DynamoDBClient {
  const dynamodb = new DynamoDBClient({
    endpoint: db.endpoint,
    region: db.region,
    credentials: db.credentials,
    maxAttempts: 1,
  });
  dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      if (outage.on && WRITES.has(context.commandName ?? ''))
        throw Object.assign(new Error('connect ETIMEDOUT (lease table unreachable, test)'), {
          name: 'TimeoutError',
          code: 'ETIMEDOUT',
        });
      return next(args);
    },
    { step: 'initialize', name: 'leaseTableOutage' },
  );
  return dynamodb;
}

describe('a lease-table outage shorter than the lease duration', () => {
  it('keeps the checkpoint pending and reading on: no consumer restart, no redelivery', async () => {
    const outage = { on: false };
    const dynamodb = flakyLeaseTable(outage);
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

      outage.on = true;
      // The outage lasts until the checkpoint failed past the old budget (the awaited-write
      // budget, which used to restart the consumer), with records written and delivered meanwhile.
      // Counted in failures, not in seconds, so a slow machine cannot stretch it to a self-fence.
      for (let i = 1; i <= 20; i++) sim.put(`k${i}`, { pk: `k${i}` });
      await until(() => distinct() === 21, 10_000, 'records delivered during the outage');
      await until(() => checkpointFailures > OLD_BUDGET, 15_000, 'checkpoint failures past the old budget');
      for (let i = 21; i <= 30; i++) sim.put(`k${i}`, { pk: `k${i}` });
      await until(() => distinct() === 31, 10_000, 'more records delivered during the outage');
      outage.on = false;

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

  it('manual mode: the processor’s awaited checkpoint stays pending and resolves when written; no restart, no redelivery', async () => {
    const outage = { on: false };
    const dynamodb = flakyLeaseTable(outage);
    const delivered: Array<{ shardId: string; sequenceNumber: string }> = [];
    const distinct = () => new Set(delivered.map((d) => d.sequenceNumber)).size;
    const settled: Array<'resolved' | Error> = [];
    const worker = new Worker({
      streamArn: sim.streamArn,
      applicationName: db.uniqueName('outage-manual'),
      dynamodb,
      streams,
      checkpointMode: 'manual',
      reader: { idleIntervalMs: 20 },
      leases: { leaseDurationMs: 20_000 },
      processor: {
        processRecords: async ({ shardId, records }, { checkpointer }) => {
          for (const r of records) delivered.push({ shardId, sequenceNumber: r.sequenceNumber });
          await checkpointer.checkpoint().then(
            () => settled.push('resolved'),
            (err: unknown) => {
              settled.push(err as Error);
              throw err;
            },
          );
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
    const before = sim.manifest().length;
    try {
      await worker.start();
      sim.put('m0', { pk: 'm0' });
      await until(() => settled.length > 0 && lastCheckpoint !== '', 15_000, 'the first manual checkpoint');
      const shardRecords = () => sim.manifest().slice(before);

      outage.on = true;
      sim.put('m1', { pk: 'm1' });
      await until(() => checkpointFailures > OLD_BUDGET, 15_000, 'the awaited checkpoint failing past the old budget');
      // Still awaited: neither resolved nor rejected while the lease table is out and the worker not fenced.
      expect(settled).toEqual(['resolved']);
      outage.on = false;

      const last = shardRecords().at(-1)!.sequenceNumber;
      await until(() => lastCheckpoint === last, 15_000, 'the awaited checkpoint written after the outage');
      await until(() => settled.length === 2, 5_000, 'the processor’s await settled');
      expect(settled).toEqual(['resolved', 'resolved']);
      const mine = delivered.filter((d) => shardRecords().some((r) => r.sequenceNumber === d.sequenceNumber));
      expect(mine.map((d) => d.sequenceNumber)).toEqual(shardRecords().map((r) => r.sequenceNumber));
      expect(distinct()).toBe(delivered.length);
      expect(starts).toBe(1);
      expect(ends).toEqual([]);
    } finally {
      await worker.stop();
      dynamodb.destroy();
    }
  });

  it('manual mode: an outage past the lease duration fences the worker and the awaited checkpoint rejects with LeaseLostError', async () => {
    const outage = { on: false };
    const dynamodb = flakyLeaseTable(outage);
    const settled: Array<'resolved' | Error> = [];
    const worker = new Worker({
      streamArn: sim.streamArn,
      applicationName: db.uniqueName('outage-fenced'),
      dynamodb,
      streams,
      checkpointMode: 'manual',
      reader: { idleIntervalMs: 20 },
      leases: { leaseDurationMs: 3_000 },
      processor: {
        processRecords: async (_batch, { checkpointer }) => {
          await checkpointer.checkpoint().then(
            () => settled.push('resolved'),
            (err: unknown) => {
              settled.push(err as Error);
              throw err;
            },
          );
        },
      },
    });
    try {
      await worker.start();
      sim.put('f0', { pk: 'f0' });
      await until(() => settled.length > 0, 15_000, 'the first manual checkpoint');
      outage.on = true;
      sim.put('f1', { pk: 'f1' });
      await until(() => settled.length === 2, 30_000, 'the awaited checkpoint settled by the fence');
      expect(settled[0]).toBe('resolved');
      expect(settled[1]).toBeInstanceOf(LeaseLostError);
    } finally {
      outage.on = false;
      await worker.stop();
      dynamodb.destroy();
    }
  });
});
