// Issue #9 §4, a part of scripts/bench-scale.mjs (BENCH_ONLY=4): a stream of 10,000 shards (13
// generations of splits and rollovers, 1,000 open) on the simulator with the service's rate
// limits on, read by a brand-new application (TRIM_HORIZON: every closed shard is read to its
// end, parents before children) on 50 Workers. Honest about its shape: the 50 Workers run in
// this one process (own DynamoDB and Streams clients each, and each its own clock object so its
// DescribeStream limiter of 10/s is its own, as in 50 processes); the simulator runs in a process
// of its own, the lease table is DynamoDB Local. Prints the time until every open shard is owned
// (the whole history read through), the balance, DescribeStream calls and LimitExceeded answers,
// and lease-table reads per minute (start-up and a steady window), per worker.
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { systemClock } from '@shardline/core';
import { readLeaseTable } from '@shardline/leases';
import { pino } from 'pino';
import { Worker } from '@shardline/worker';

const FIXTURE = fileURLToPath(new URL('./fixtures/huge-stream-server.mjs', import.meta.url));
const WORKERS = Number(process.env.BENCH_HUGE_WORKERS ?? 50);
const SHARDS = Number(process.env.BENCH_HUGE_SHARDS ?? 10_000);
const OPEN = Number(process.env.BENCH_HUGE_OPEN ?? 1_000);
const STEADY_S = Number(process.env.BENCH_HUGE_STEADY_S ?? 60);
const DEADLINE_S = Number(process.env.BENCH_HUGE_DEADLINE_S ?? 300);
const TARGET_S = 60;
/** BENCH_HUGE_LOG=path writes the Workers' logs (info and up) there. */
const LOG = process.env.BENCH_HUGE_LOG;
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);

/** Runs the scenario against DynamoDB Local at `endpoint`; `startSimProcess(env, fixture)` runs the simulator. */
export async function hugeStream({ endpoint, region, credentials, startSimProcess }) {
  const started = await startSimProcess({ HUGE_SHARDS: String(SHARDS), HUGE_OPEN: String(OPEN) }, FIXTURE);
  const sim = { ...started, openIds: new Set(started.openIds) };
  console.log(
    `   stream: ${sim.shards} shards (${sim.open} open, ${sim.generations} generations), rate limits on; ${WORKERS} Workers in this process`,
  );
  const app = `huge-${Date.now()}`;
  const table = `shardline-${app}`;
  const observer = new DynamoDBClient({ endpoint, region, credentials });
  const stats = new Map();
  const workers = [];
  const logger = LOG ? pino({ level: 'info' }, pino.destination({ dest: LOG, sync: false })) : undefined;
  const build = (workerId) => {
    const s = stats.get(workerId) ?? newStats();
    stats.set(workerId, s);
    const dynamodb = counting(new DynamoDBClient({ endpoint, region, credentials, maxAttempts: 1 }), s.table);
    const streams = counting(
      new DynamoDBStreamsClient({ endpoint: sim.endpoint, region, credentials, maxAttempts: 1 }),
      s.streams,
    );
    const clock = { now: () => systemClock.now(), sleep: (ms, signal) => systemClock.sleep(ms, signal) };
    const worker = new Worker({
      streamArn: sim.streamArn,
      applicationName: app,
      dynamodb,
      streams,
      workerId,
      clock,
      ...(logger ? { logger } : {}),
      processor: { processRecords: () => undefined },
    });
    // Ownership from the Workers' own events: scanning a 10,000-lease table to watch it would
    // load DynamoDB Local as much as the fleet does.
    worker.events.on('shard:start', ({ shardId }) => running.set(shardId, workerId));
    worker.events.on('shard:end', ({ shardId, checkpoint }) => {
      if (running.get(shardId) === workerId) running.delete(shardId);
      if (checkpoint === 'SHARD_END') finished.add(shardId);
    });
    return { workerId, worker, dynamodb, streams };
  };
  /** Shard → the worker consuming it now; shards read to their end. */
  const running = new Map();
  const finished = new Set();
  for (let i = 0; i < WORKERS; i++) workers.push(build(`w${String(i + 1).padStart(2, '0')}`));
  const t0 = performance.now();
  const since = (t) => (t - t0) / 1000;
  let restarts = 0;
  try {
    // All at once, as a fleet deployed together starts; one whose first heartbeat times out on
    // the loaded machine is built again and started once more (a process manager would restart it).
    await Promise.all(
      workers.map(async (w, i) => {
        try {
          await w.worker.start();
        } catch {
          restarts++;
          w.dynamodb.destroy();
          w.streams.destroy();
          workers[i] = build(w.workerId);
          await workers[i].worker.start();
        }
      }),
    );
    if (restarts > 0) console.log(`   (${restarts} workers failed their first heartbeat and were started again)`);
    let ownedS;
    let last = 0;
    for (;;) {
      const now = performance.now();
      const ownedOpen = [...sim.openIds].filter((id) => running.has(id)).length;
      if (now - last > 10_000) {
        last = now;
        console.log(
          `   … ${since(now).toFixed(0)} s: ${finished.size} closed shards read to their end, open shards owned ${ownedOpen}/${sim.open}`,
        );
      }
      if (ownedOpen === sim.open) {
        ownedS = since(now);
        break;
      }
      if (since(now) > DEADLINE_S) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const startup = snapshotStats(stats);
    const startupS = since(performance.now());
    const balanceAtOwned = balance(running, workers);
    // Steady window: the history is read, 1,000 open shards idle; what a quiet fleet costs.
    await new Promise((r) => setTimeout(r, STEADY_S * 1000));
    const steady = diffStats(snapshotStats(stats), startup);
    const view = await readLeaseTable(observer, table);
    const balanceAfter = balance(running, workers);

    const up = sum(startup);
    const st = sum(steady);
    const perMin = (n, s) => Math.round((n / s) * 60);
    console.log(
      ownedS === undefined
        ? `   → open shards NOT all owned within ${DEADLINE_S} s`
        : `   → every open shard owned ${ownedS.toFixed(1)} s after start (target ≤ ${TARGET_S} s; ${finished.size} of the ${sim.shards - sim.open} closed shards read to their end first)`,
    );
    console.log(
      `   → balance (shards consumed, max−min over ${WORKERS} workers): ${balanceAtOwned.spread} when all owned (${balanceAtOwned.min}–${balanceAtOwned.max}), ${balanceAfter.spread} after the ${STEADY_S} s window (target ≤ 1); ${view.leases.length} leases left in the table`,
    );
    console.log(
      `   → DescribeStream: ${up.streams.DescribeStreamCommand ?? 0} calls in the ${startupS.toFixed(0)} s start-up (${up.streams.limitExceeded} LimitExceeded answers in all operations, ${up.streams.describeLimitExceeded} of them DescribeStream), ${st.streams.DescribeStreamCommand ?? 0} calls in the ${STEADY_S} s steady window (${st.streams.limitExceeded} LimitExceeded)`,
    );
    for (const [label, part, seconds] of [
      ['start-up', up, startupS],
      ['steady', st, STEADY_S],
    ]) {
      const t = part.table;
      console.log(
        `   → lease-table reads, ${label}: ${perMin(t.reads, seconds)}/min (Scan pages ${perMin(t.ScanCommand ?? 0, seconds)}/min, items scanned ${perMin(t.scanned, seconds)}/min, BatchGet ${perMin(t.BatchGetItemCommand ?? 0, seconds)}/min, GetItem ${perMin(t.GetItemCommand ?? 0, seconds)}/min); writes ${perMin(t.writes, seconds)}/min`,
      );
    }
    const rows = [...stats.entries()].map(([id]) => {
      const s = steady.get(id);
      return { id, scans: s.table.ScanCommand ?? 0, scanned: s.table.scanned, reads: s.table.reads };
    });
    rows.sort((a, b) => b.scanned - a.scanned);
    const others = rows.slice(1);
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    console.log(
      `   → per worker, steady: busiest ${rows[0].id} (the leader) ${perMin(rows[0].reads, STEADY_S)} reads/min, ${perMin(rows[0].scanned, STEADY_S)} items scanned/min; the other ${others.length}: median ${perMin(median(others.map((r) => r.reads)), STEADY_S)} reads/min, ${perMin(median(others.map((r) => r.scanned)), STEADY_S)} items scanned/min, max ${perMin(Math.max(...others.map((r) => r.scanned)), STEADY_S)}`,
    );
  } finally {
    await Promise.all(workers.map((w) => w.worker.stop().catch(() => undefined)));
    for (const w of workers) {
      w.dynamodb.destroy();
      w.streams.destroy();
    }
    observer.destroy();
    await sim.stop();
  }
}

function newStats() {
  return { table: { reads: 0, writes: 0, scanned: 0 }, streams: { limitExceeded: 0, describeLimitExceeded: 0 } };
}

/** Counts every request a client sends (by command), Scan's scanned items, and LimitExceeded answers. */
function counting(client, counters) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName;
      counters[name] = (counters[name] ?? 0) + 1;
      if ('reads' in counters) {
        if (WRITES.has(name)) counters.writes++;
        else counters.reads++;
      }
      try {
        const out = await next(args);
        if (name === 'ScanCommand') counters.scanned += out.output?.ScannedCount ?? 0;
        return out;
      } catch (err) {
        if (err?.name === 'LimitExceededException') {
          counters.limitExceeded++;
          if (name === 'DescribeStreamCommand') counters.describeLimitExceeded++;
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'benchHugeCounter' },
  );
  return client;
}

const copy = (s) => ({ table: { ...s.table }, streams: { ...s.streams } });
const snapshotStats = (stats) => new Map([...stats].map(([id, s]) => [id, copy(s)]));
function diffStats(later, earlier) {
  const out = new Map();
  for (const [id, s] of later) {
    const e = earlier.get(id);
    const d = newStats();
    for (const side of ['table', 'streams'])
      for (const [k, v] of Object.entries(s[side])) d[side][k] = v - (e[side][k] ?? 0);
    out.set(id, d);
  }
  return out;
}
function sum(stats) {
  const total = newStats();
  for (const s of stats.values())
    for (const side of ['table', 'streams'])
      for (const [k, v] of Object.entries(s[side])) total[side][k] = (total[side][k] ?? 0) + v;
  return total;
}

/** Shards consumed per worker: max − min over every worker. */
function balance(running, workers) {
  const counts = new Map(workers.map((w) => [w.workerId, 0]));
  for (const owner of running.values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  const values = [...counts.values()];
  const max = Math.max(...values);
  const min = Math.min(...values);
  return { max, min, spread: max - min };
}
