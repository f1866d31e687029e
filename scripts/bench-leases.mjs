#!/usr/bin/env node
// Lease coordination figures on DynamoDB Local (real clock, lease duration 10 s (the default),
// heartbeat 2 s (set here, as the figures were always taken with; the default is now a tenth of
// the lease duration, what `shardline run` and the Worker ship)). Numbers, not assertions:
//   (1) lease-table write requests per minute in steady state, 256 shards / 4 workers,
//       beside KCL's ~4,640/min for the same fleet (one conditional renewal per lease every
//       ~3.3 s); goal <= 1/10 of it;
//   (2) 1,000 shards (stream simulator) and 10 coordinators started together: seconds until
//       every shard is owned, and max - min leases per worker; goal <= 30 s and <= 1;
//   (3) 4 coordinators, one killed without stopping: seconds until all its leases are owned
//       again; goal <= lease duration + 2 s.
//
//   npm run bench:leases                     (builds first; imports the built packages)
//   BENCH_STEADY_S=60 node scripts/bench-leases.mjs
//   BENCH_ONLY=3 BENCH_ROUNDS=5 node scripts/bench-leases.mjs   (one part; rounds for part 3)
import './sdk-notice.mjs';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { LeaseCoordinator, streamsShardLister } from '@shardline/leases';
import { startDynamoDBLocal, startStreamSimulator } from '@shardline/testkit';
import { writeFigures } from './bench-figures.mjs';

const STEADY_S = Number(process.env.BENCH_STEADY_S ?? 30);
const ONLY = process.env.BENCH_ONLY ? Number(process.env.BENCH_ONLY) : undefined;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const part = (n) => ONLY === undefined || ONLY === n;
const KCL_WRITES_PER_MIN = 4_640;
const LEASE_MS = 10_000;
const HEARTBEAT_MS = 2_000;
const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:000000000000:table/bench/stream/2026-01-01T00:00:00.000';
const WRITE_COMMANDS = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);

const local = await startDynamoDBLocal({ heap: '512m' });
const credentials = { accessKeyId: 'benchleases', secretAccessKey: 'bench' };
const counters = { writes: 0, reads: 0, itemsRead: 0 };

function leaseClient() {
  const client = new DynamoDBClient({ endpoint: local.endpoint, region: 'us-east-1', credentials });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (WRITE_COMMANDS.has(context.commandName)) counters.writes++;
      else counters.reads++;
      const result = await next(args);
      const out = result.output ?? {};
      if (typeof out.Count === 'number') counters.itemsRead += out.Count;
      else if (out.Responses)
        counters.itemsRead += Object.values(out.Responses).reduce((n, items) => n + items.length, 0);
      else if (out.Item) counters.itemsRead += 1;
      return result;
    },
    { step: 'initialize', name: 'benchCounter' },
  );
  return client;
}

function plainLister(count) {
  const shards = Array.from({ length: count }, (_, i) => ({
    shardId: `shardId-${String(i).padStart(5, '0')}`,
    startingSequenceNumber: String(1000 + i),
  }));
  return { listShards: async () => shards, listChildShards: async () => [] };
}

async function waitUntil(condition, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Coordinators with a hand-off listener that releases at once (no processing to finish). */
function fleet(count, table, options) {
  const clients = [];
  const coordinators = Array.from({ length: count }, (_, i) => {
    const dynamodb = leaseClient();
    clients.push(dynamodb);
    const c = new LeaseCoordinator({
      dynamodb,
      streamArn: STREAM_ARN,
      leaseTableName: table,
      workerId: `worker-${i + 1}`,
      heartbeatIntervalMs: HEARTBEAT_MS,
      ...options,
    });
    c.events.on('lease:handoff', ({ shardId }) => void c.release(shardId));
    return c;
  });
  return {
    coordinators,
    held: () => coordinators.map((c) => c.heldLeases().length),
    async close() {
      await Promise.all(coordinators.map((c) => c.abandon()));
      for (const client of clients) client.destroy();
    },
  };
}

const spread = (counts) => Math.max(...counts) - Math.min(...counts);
const sum = (counts) => counts.reduce((a, b) => a + b, 0);

try {
  console.log(
    `DynamoDB Local ${local.endpoint}; lease duration ${LEASE_MS} ms, heartbeat ${HEARTBEAT_MS} ms, defaults otherwise\n`,
  );

  // (1) steady-state writes
  if (part(1)) {
    const f = fleet(4, `bench-steady-${Date.now()}`, { shardLister: plainLister(256) });
    await Promise.all(f.coordinators.map((c) => c.start()));
    await waitUntil(() => sum(f.held()) === 256 && spread(f.held()) <= 1, 60_000, '256 leases balanced');
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // let hand-offs and pickups settle
    const before = { ...counters };
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, STEADY_S * 1000));
    const minutes = (performance.now() - t0) / 60_000;
    const writesPerMin = (counters.writes - before.writes) / minutes;
    const readsPerMin = (counters.reads - before.reads) / minutes;
    const itemsPerMin = (counters.itemsRead - before.itemsRead) / minutes;
    console.log('(1) steady state, 256 shards / 4 workers');
    console.log(
      `    lease-table writes: ${writesPerMin.toFixed(0)}/min   (KCL ~${KCL_WRITES_PER_MIN}/min: ${(writesPerMin / KCL_WRITES_PER_MIN).toFixed(3)} of it; goal <= 0.1)`,
    );
    console.log(
      `    lease-table reads:  ${readsPerMin.toFixed(0)} requests/min, ${itemsPerMin.toFixed(0)} items/min (the leader: a Scan per heartbeat + a heartbeat BatchGet every 0.5 s; the others: a BatchGet of leader + heartbeat items per heartbeat, a Scan only when the epoch moves or every 30 s; KCL: every worker scans the table)`,
    );
    console.log(`    leases per worker:  ${f.held().join(' / ')}\n`);
    await f.close();
  }

  // (2) 1,000 shards, 10 coordinators, shards from the stream simulator
  if (part(2)) {
    const sim = await startStreamSimulator({ shards: 1000 });
    const streams = new DynamoDBStreamsClient({ endpoint: sim.endpoint, region: 'us-east-1', credentials });
    try {
      const f = fleet(10, `bench-scale-${Date.now()}`, {
        shardLister: streamsShardLister(streams, sim.streamArn),
        streamArn: sim.streamArn,
      });
      const t0 = performance.now();
      await Promise.all(f.coordinators.map((c) => c.start()));
      await waitUntil(() => sum(f.held()) === 1000, 120_000, '1,000 leases owned');
      const allOwned = (performance.now() - t0) / 1000;
      const spreadAtOwned = spread(f.held());
      await waitUntil(() => spread(f.held()) <= 1, 60_000, 'balance within one');
      const balanced = (performance.now() - t0) / 1000;
      console.log('(2) 1,000 shards (simulator), 10 coordinators started together');
      console.log(
        `    every shard owned after ${allOwned.toFixed(1)} s (max-min ${spreadAtOwned}); balanced (max-min ${spread(f.held())}) after ${balanced.toFixed(1)} s   (goal <= 30 s, <= 1)`,
      );
      console.log(`    leases per worker: ${f.held().join(' / ')}\n`);
      await f.close();
    } finally {
      streams.destroy();
      await sim.stop();
    }
  }

  // (3) failover: kill one of 4 coordinators, a few times (the kill falls at a random phase
  // of the victim's heartbeat, so the figure varies by up to one heartbeat interval)
  if (part(3)) {
    console.log('(3) one of 4 coordinators killed (64 shards)');
    const results = [];
    for (let round = 0; round < ROUNDS; round++) {
      const f = fleet(4, `bench-failover-${Date.now()}`, { shardLister: plainLister(64) });
      await Promise.all(f.coordinators.map((c) => c.start()));
      await waitUntil(() => sum(f.held()) === 64 && spread(f.held()) <= 1, 60_000, '64 leases balanced');
      await new Promise((resolve) => setTimeout(resolve, 1_000 + Math.random() * 2_000));
      const victim = f.coordinators.find((c) => !c.isLeader());
      const orphans = victim.heldLeases().map((l) => l.shardId);
      const others = f.coordinators.filter((c) => c !== victim);
      const t0 = performance.now();
      await victim.abandon();
      await waitUntil(
        () => orphans.every((s) => others.some((c) => c.heldLeases().some((l) => l.shardId === s))),
        60_000,
        'orphans re-owned',
      );
      const seconds = (performance.now() - t0) / 1000;
      results.push(seconds);
      console.log(
        `    round ${round + 1}: its ${orphans.length} leases owned again after ${seconds.toFixed(2)} s; survivors hold ${others.map((c) => c.heldLeases().length).join(' / ')}`,
      );
      await f.close();
    }
    const sorted = [...results].sort((a, b) => a - b);
    console.log(
      `    median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} s, worst ${sorted.at(-1).toFixed(2)} s   (goal <= ${(LEASE_MS / 1000 + 2).toFixed(0)} s; floor: lease duration + 1 s takeover margin after the last heartbeat)\n`,
    );
    writeFigures(
      'leases',
      [
        {
          type: 'timeline',
          id: 'failover',
          title: 'Failover: one of 4 coordinators killed (64 shards), until its leases are owned again',
          unit: 's',
          lanes: results.map((seconds, i) => ({
            label: `round ${i + 1}`,
            spans: [{ from: 0, to: seconds, label: 'orphaned leases' }],
            marks: [
              { at: 0, label: 'kill' },
              { at: seconds, label: `owned again ${seconds.toFixed(1)} s` },
            ],
          })),
          note: `lease duration ${LEASE_MS / 1000} s, heartbeat ${HEARTBEAT_MS / 1000} s; goal ≤ ${LEASE_MS / 1000 + 2} s`,
        },
      ],
      { rounds: ROUNDS },
    );
  }
} finally {
  await local.stop();
}
