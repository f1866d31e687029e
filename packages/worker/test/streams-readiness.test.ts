import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, connectTestDynamoDB, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { Worker } from '../src/worker.js';
import { until } from './fakes.js';

/**
 * Streams unreachable, lease table fine (one side of an asymmetric partition): the worker keeps
 * its leases and backs off, /readyz turns 503 once it lasts a lease duration, and when the
 * streams come back it is ready again and reads on without losing a record.
 */
const db = connectTestDynamoDB();
let sim: StreamSimulator;
let streams: DynamoDBStreamsClient;

beforeAll(async () => {
  sim = await startStreamSimulator({ shards: 2, seed: 11 });
  streams = new DynamoDBStreamsClient({ endpoint: sim.endpoint, region: db.region, credentials: db.credentials });
});
afterAll(async () => {
  streams.destroy();
  await sim.stop();
  await db.close();
});

describe('DynamoDB Streams unreachable', { timeout: 60_000 }, () => {
  it('keeps the leases, reports not ready once it lasts a lease duration, resumes without loss', async () => {
    const delivered: Array<{ shardId: string; sequenceNumber: string }> = [];
    const worker = new Worker({
      streamArn: sim.streamArn,
      applicationName: db.uniqueName('readiness'),
      dynamodb: db.dynamodb,
      streams,
      healthPort: 0,
      reader: { idleIntervalMs: 20 },
      leases: { leaseDurationMs: 3_000 },
      processor: {
        processRecords: ({ shardId, records }) => {
          for (const r of records) delivered.push({ shardId, sequenceNumber: r.sequenceNumber });
        },
      },
    });
    const lost: string[] = [];
    worker.events.on('lease:lost', ({ shardId }) => lost.push(shardId));
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${worker.healthPort}/readyz`);
      return { status: res.status, body: await res.text() };
    };
    let last = { status: 0, body: '' };
    const poll = async (status: number, what: string) => {
      const deadline = Date.now() + 20_000;
      while ((last = await readyz()).status !== status) {
        if (Date.now() > deadline) throw new Error(`no ${what}; last /readyz: ${last.status} ${last.body}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      await worker.start();
      for (const key of ['a', 'b', 'c', 'd']) sim.put(key, { pk: key });
      await until(() => delivered.length === 4, 15_000, 'the first records');
      await poll(200, 'ready before the outage');
      const held = [...worker.shardIds].sort();

      sim.faults.failNext('*', 1_000_000, '500');
      for (const key of ['e', 'f', 'g', 'h']) sim.put(key, { pk: key });
      await poll(503, 'not ready while the streams are unreachable');
      expect(last.body).toMatch(/DynamoDB Streams calls failing for \d+ ms \(shard /);
      expect([...worker.shardIds].sort()).toEqual(held);
      expect(lost).toEqual([]);

      sim.faults.clear();
      await poll(200, 'ready again after the outage');
      await until(() => new Set(delivered.map((d) => d.sequenceNumber)).size === 8, 20_000, 'every record');
      const report = audit(sim.manifest(), delivered);
      expect(report.lost).toEqual([]);
      expect(report.orderViolations).toEqual([]);
      expect(lost).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});
