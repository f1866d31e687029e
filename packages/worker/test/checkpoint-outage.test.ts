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

/**
 * A worker on the simulator whose lease-table writes fail while `outage.on`, with what the tests
 * watch: deliveries, consumer starts and ends, checkpoint failures, the last checkpoint and, in
 * manual mode (the processor awaits `checkpoint()` after each batch), how each await settled.
 */
function outageWorker(name: string, checkpointMode: 'auto' | 'manual', leaseDurationMs: number) {
  const outage = { on: false };
  const dynamodb = flakyLeaseTable(outage);
  const delivered: Array<{ shardId: string; sequenceNumber: string }> = [];
  const settled: Array<'resolved' | Error> = [];
  const seen = { starts: 0, ends: [] as string[], checkpointFailures: 0, lastCheckpoint: '' };
  const worker = new Worker({
    streamArn: sim.streamArn,
    applicationName: db.uniqueName(name),
    dynamodb,
    streams,
    checkpointMode,
    reader: { idleIntervalMs: 20 },
    leases: { leaseDurationMs },
    processor: {
      processRecords: async ({ shardId, records }, { checkpointer }) => {
        for (const r of records) delivered.push({ shardId, sequenceNumber: r.sequenceNumber });
        if (checkpointMode === 'auto') return;
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
  worker.events.on('shard:start', () => seen.starts++);
  worker.events.on('shard:end', ({ reason }) => seen.ends.push(reason));
  worker.events.on('checkpoint:failed', () => seen.checkpointFailures++);
  worker.events.on('checkpoint', ({ checkpoint }) => (seen.lastCheckpoint = checkpoint));
  const distinct = () => new Set(delivered.map((d) => d.sequenceNumber)).size;
  const close = async () => {
    outage.on = false;
    await worker.stop();
    dynamodb.destroy();
  };
  return { worker, outage, delivered, settled, seen, distinct, close };
}

describe('a lease-table outage shorter than the lease duration', () => {
  it('keeps the checkpoint pending and reading on: no consumer restart, no redelivery', async () => {
    const { worker, outage, delivered, seen, distinct, close } = outageWorker('outage', 'auto', 20_000);
    try {
      await worker.start();
      sim.put('k0', { pk: 'k0' });
      await until(() => distinct() === 1 && seen.lastCheckpoint !== '', 15_000, 'the first record checkpointed');

      outage.on = true;
      // The outage lasts until the checkpoint failed past the old budget (the awaited-write
      // budget, which used to restart the consumer), with records written and delivered meanwhile.
      // Counted in failures, not in seconds, so a slow machine cannot stretch it to a self-fence.
      for (let i = 1; i <= 20; i++) sim.put(`k${i}`, { pk: `k${i}` });
      await until(() => distinct() === 21, 10_000, 'records delivered during the outage');
      await until(() => seen.checkpointFailures > OLD_BUDGET, 15_000, 'checkpoint failures past the old budget');
      for (let i = 21; i <= 30; i++) sim.put(`k${i}`, { pk: `k${i}` });
      await until(() => distinct() === 31, 10_000, 'more records delivered during the outage');
      outage.on = false;

      const last = sim.manifest().at(-1)!.sequenceNumber;
      await until(() => seen.lastCheckpoint === last, 15_000, 'the newest position checkpointed after the outage');
      const report = audit(sim.manifest(), delivered);
      expect(report.lost).toEqual([]);
      expect(report.orderViolations).toEqual([]);
      expect(report.duplicates).toEqual([]);
      expect(seen.starts).toBe(1);
      expect(seen.ends).toEqual([]);
    } finally {
      await close();
    }
  });

  it('manual mode: the processor’s awaited checkpoint stays pending and resolves when written; no restart, no redelivery', async () => {
    const before = sim.manifest().length;
    const { worker, outage, delivered, settled, seen, distinct, close } = outageWorker(
      'outage-manual',
      'manual',
      20_000,
    );
    try {
      await worker.start();
      sim.put('m0', { pk: 'm0' });
      await until(() => settled.length > 0 && seen.lastCheckpoint !== '', 15_000, 'the first manual checkpoint');
      const shardRecords = () => sim.manifest().slice(before);

      outage.on = true;
      sim.put('m1', { pk: 'm1' });
      await until(
        () => seen.checkpointFailures > OLD_BUDGET,
        15_000,
        'the awaited checkpoint failing past the old budget',
      );
      // Still awaited: neither resolved nor rejected while the lease table is out and the worker not fenced.
      expect(settled).toEqual(['resolved']);
      outage.on = false;

      const last = shardRecords().at(-1)!.sequenceNumber;
      await until(() => seen.lastCheckpoint === last, 15_000, 'the awaited checkpoint written after the outage');
      await until(() => settled.length === 2, 5_000, 'the processor’s await settled');
      expect(settled).toEqual(['resolved', 'resolved']);
      const mine = delivered.filter((d) => shardRecords().some((r) => r.sequenceNumber === d.sequenceNumber));
      expect(mine.map((d) => d.sequenceNumber)).toEqual(shardRecords().map((r) => r.sequenceNumber));
      expect(distinct()).toBe(delivered.length);
      expect(seen.starts).toBe(1);
      expect(seen.ends).toEqual([]);
    } finally {
      await close();
    }
  });

  it('manual mode: an outage past the lease duration fences the worker and the awaited checkpoint rejects with LeaseLostError', async () => {
    const { worker, outage, settled, close } = outageWorker('outage-fenced', 'manual', 3_000);
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
      await close();
    }
  });
});
