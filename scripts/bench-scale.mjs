#!/usr/bin/env node
// Production-shape figures (issue #9); prints figures beside their targets and the same-run
// baseline, asserts nothing. The stream is the testkit simulator (in this process), the lease
// table DynamoDB Local; each worker under measure is a separate `shardline run` process, so its
// CPU and RSS are its own (read from /proc).
//   1. idle shards: GetRecords per idle shard per second, adaptive polling (defaults) vs the
//      fixed 200 ms interval main shipped (`--max-idle-interval-ms 200`); target <= 1/s;
//   2. one worker holding N idle shards (default 1,000): CPU % of one core and RSS, and their
//      drift over the window (RSS, open fds); target <= 25 % and <= 300 MB, no growth. Measured
//      BENCH_IDLE_ROUNDS (2) times, interleaved with the baseline build when there is one, and
//      once with a 4 s idle cap (`--max-idle-interval-ms 4000`: the cap's CPU/latency trade-off);
//   3. one Worker on 16 busy shards (records written up front) against 16 bare
//      GetShardIterator+GetRecords loops in the same process, same run; target >= 0.9; CPU-µs
//      per record end to end (the simulator runs in a process of its own). The worker is timed
//      from the moment it owns all 16 leases; the time it took to own them is reported apart.
//      BENCH_BUSY_ROUNDS (3) rounds, each bare loops then the worker (then the baseline's);
//   4. a 10,000-shard stream (13 generations, 1,000 open) with the service's rate limits on, 50
//      Workers (in this process): time until every open shard is owned, balance, DescribeStream
//      calls and LimitExceeded answers, lease-table reads per minute (scripts/bench-huge.mjs);
//   5. lease-table requests per minute through a counting client (every request the SDK
//      sends), 64 busy shards / 4 workers, the default checkpoint interval vs the 1 s main
//      shipped; target <= 1,152 writes/min (KCL's renewals alone for 64 leases);
//   6. false fencing: 2 workers in one process on 16 busy shards whose processor blocks the event
//      loop 200 ms a batch; leases lost ('fenced', 'taken') over the window, with the default
//      lease duration (10 s) and a 5 s one (heartbeat a tenth of it either way).
//
//   idle-stability (only when named): one worker holding N idle shards for BENCH_MINUTES (10),
//      RSS, open fds and CPU sampled every BENCH_SAMPLE_S (30 s) and printed as a series.
//
//   BENCH_BASELINE_ROOT: a built checkout of another commit (e.g. `git worktree add /tmp/base main`,
//      `npm ci`, `npx turbo run build`): parts 2 and 3 then also measure its `shardline run` and its
//      Worker, in the same run and interleaved round by round (A/B on a shared, noisy machine).
//
//   npm run bench:scale                          (builds first)
//   BENCH_ONLY=1 BENCH_WINDOW_S=60 BENCH_IDLE_SHARDS=1000 node scripts/bench-scale.mjs
//   BENCH_ONLY=busy node scripts/bench-scale.mjs   (names: idle, busy, huge, leases, fencing)
//   BENCH_ONLY=idle-stability BENCH_MINUTES=10 node scripts/bench-scale.mjs
import './sdk-notice.mjs';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { listShards } from '@shardline/streams';
import { startDynamoDBLocal, startStreamSimulator } from '@shardline/testkit';
import { Worker, WORKER_DEFAULTS } from '@shardline/worker';
import { hugeStream } from './bench-huge.mjs';
import { writeFigures } from './bench-figures.mjs';

// BENCH_ONLY takes part numbers or names (idle, busy, huge, leases, fencing, idle-stability); the
// stability run is only made when named, it takes BENCH_MINUTES (10 by default).
const PART_NAMES = {
  idle: [1, 2],
  busy: [3],
  huge: [4],
  leases: [5],
  fencing: [6],
  'idle-stability': ['idle-stability'],
};
const ONLY = process.env.BENCH_ONLY
  ? new Set(
      process.env.BENCH_ONLY.split(',')
        .map((p) => p.trim())
        .flatMap((p) => PART_NAMES[p] ?? [Number(p)]),
    )
  : undefined;
const part = (n) => (ONLY === undefined ? n !== 'idle-stability' : ONLY.has(n));
const STABILITY_MINUTES = Number(process.env.BENCH_MINUTES ?? 10);
const STABILITY_SAMPLE_S = Number(process.env.BENCH_SAMPLE_S ?? 30);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 60);
const IDLE_SHARDS = Number(process.env.BENCH_IDLE_SHARDS ?? 1000);
const BASELINE_SHARDS = Number(process.env.BENCH_BASELINE_SHARDS ?? 200);
const IDLE_ROUNDS = Number(process.env.BENCH_IDLE_ROUNDS ?? 2);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = `${ROOT}apps/shardline/dist/cli.js`;
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT?.replace(/\/?$/, '/');
const BASELINE = BASELINE_ROOT && {
  cli: `${BASELINE_ROOT}apps/shardline/dist/cli.js`,
  Worker: (await import(pathToFileURL(`${BASELINE_ROOT}packages/worker/dist/index.js`).href)).Worker,
};
const SIM_SERVER = fileURLToPath(new URL('./fixtures/sim-server.mjs', import.meta.url));
const BUSY_RECORDS = Number(process.env.BENCH_BUSY_RECORDS ?? 160_000);
const BUSY_ROUNDS = Number(process.env.BENCH_BUSY_ROUNDS ?? 3);
const LEASE_WINDOW_S = Number(process.env.BENCH_LEASE_WINDOW_S ?? 60);
const KCL_RENEWALS_64 = 1_152; // 64 leases renewed every failover/3 = 3.33 s
const WRITE_COMMANDS = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);
const FENCE_WINDOW_S = Number(process.env.BENCH_FENCE_WINDOW_S ?? 60);
const NOOP = fileURLToPath(new URL('./fixtures/noop-processor.mjs', import.meta.url));
const CLOCK_TICKS = 100; // USER_HZ on Linux: /proc/<pid>/stat counts CPU time in 1/100 s
const region = 'us-east-1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const credentials = { accessKeyId: `benchscale${Date.now()}`, secretAccessKey: 'bench' };

const local = await startDynamoDBLocal({ heap: '512m' });
const dynamodb = new DynamoDBClient({ endpoint: local.endpoint, region, credentials });
const children = new Set();
const killChildren = () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
};
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    console.error(`bench:scale: ${signal} received; stopping`);
    killChildren();
    void local.stop().finally(() => process.exit(130));
  });

let runs = 0;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function waitUntil(condition, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** utime + stime in seconds, RSS in MB, open fds: one process, from /proc. */
function sample(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return { at: performance.now(), cpuS, rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

function startWorker(sim, app, workerId, extraArgs = [], extraEnv = {}, cli = CLI) {
  const child = spawn(
    process.execPath,
    [
      cli,
      'run',
      '--stream-arn',
      sim.streamArn,
      '--processor',
      NOOP,
      '--app',
      app,
      '--worker-id',
      workerId,
      '--dynamodb-endpoint',
      local.endpoint,
      '--streams-endpoint',
      sim.endpoint,
      '--log-level',
      'warn',
      ...extraArgs,
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_REGION: region,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...extraEnv,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr.on('data', (chunk) => (err = (err + chunk.toString()).slice(-4000)));
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return { child, exited, stderr: () => err };
}

async function stopWorker(w) {
  w.child.kill('SIGTERM');
  const code = await Promise.race([w.exited, sleep(30_000).then(() => 'timeout')]);
  if (code === 'timeout') w.child.kill('SIGKILL');
  children.delete(w.child);
}

/** Lease items with an owner, per owner. */
async function owners(app) {
  const counts = new Map();
  let start;
  do {
    const out = await dynamodb.send(
      new ScanCommand({ TableName: `shardline-${app}`, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    for (const item of out.Items ?? []) {
      if (item.leaseKey.S.startsWith('_')) continue;
      const owner = item.leaseOwner?.S;
      if (owner) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return counts;
}
const total = (counts) => [...counts.values()].reduce((a, b) => a + b, 0);

/** Runs `measure(sim, worker)` once one `shardline run` owns all `shards` idle simulator shards. */
async function holdingIdle(label, shards, args, measure, cli = CLI) {
  const sim = await startStreamSimulator({ shards, seed: 11 });
  const app = `idle-${shards}-${++runs}-${Date.now()}`;
  const w = startWorker(sim, app, 'w1', args, {}, cli);
  try {
    const t0 = performance.now();
    await waitUntil(
      async () => {
        if (w.child.exitCode !== null) throw new Error(`the worker exited: ${w.stderr()}`);
        return total(await owners(app).catch(() => new Map())) === shards;
      },
      120_000,
      `${shards} shards owned (${label}); worker stderr: ${w.stderr()}`,
    ).catch((err) => {
      throw new Error(`${err.message}\n${w.stderr()}`);
    });
    const ownedS = (performance.now() - t0) / 1000;
    await sleep(15_000); // past the backoff ramp (200 ms → 2 s in 4 steps) and start-up garbage
    return { label, shards, ownedS, load: loadAverage(), ...(await measure(sim, w)) };
  } finally {
    await stopWorker(w);
    await sim.stop();
  }
}

/** One worker holding `shards` idle shards: GetRecords/s per shard, CPU and RSS over the window. */
function idleRun(label, shards, args, cli = CLI) {
  return holdingIdle(
    label,
    shards,
    args,
    async (sim, w) => {
      const calls0 = sim.calls().GetRecords;
      const s0 = sample(w.child.pid);
      const samples = [s0];
      for (let i = 0; i < 6; i++) {
        await sleep((WINDOW_S * 1000) / 6);
        samples.push(sample(w.child.pid));
      }
      const s1 = samples.at(-1);
      const seconds = (s1.at - s0.at) / 1000;
      return {
        getRecordsPerShard: (sim.calls().GetRecords - calls0) / seconds / shards,
        cpuPct: ((s1.cpuS - s0.cpuS) / seconds) * 100,
        rssMb: s1.rssMb,
        rssGrowthMb: s1.rssMb - s0.rssMb,
        rssTrace: samples.map((s) => s.rssMb.toFixed(0)).join(' '),
        fds: `${s0.fds} → ${s1.fds}`,
      };
    },
    cli,
  );
}

/** The 1-minute load average at the end of a measurement: the machine is shared, figures are noisy. */
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

/**
 * Holding `shards` idle shards for `minutes`: RSS, open fds (the process's handles: sockets,
 * timers are not fds) and CPU % over each `STABILITY_SAMPLE_S` step, as a series; growth is the
 * last sample against the first, and the least-squares slope of RSS per 10 minutes.
 */
function idleStability(shards, minutes) {
  return holdingIdle('stability', shards, [], async (sim, w) => {
    const samples = [sample(w.child.pid)];
    // Each sample is printed as it is taken: a run cut short still shows its series so far.
    const print = (s, prev) =>
      console.log(
        `   ${String(Math.round((s.at - samples[0].at) / 1000)).padStart(8)} ${String(Math.round(s.rssMb)).padStart(9)} ${String(s.fds).padStart(4)}  ${prev ? (((s.cpuS - prev.cpuS) / ((s.at - prev.at) / 1000)) * 100).toFixed(1) : ''}`,
      );
    console.log(`      t (s)  RSS (MB)  fds  CPU % of a core (previous step)`);
    print(samples[0]);
    const steps = Math.max(1, Math.round((minutes * 60) / STABILITY_SAMPLE_S));
    for (let i = 0; i < steps; i++) {
      await sleep(STABILITY_SAMPLE_S * 1000);
      if (w.child.exitCode !== null) throw new Error(`the worker exited: ${w.stderr()}`);
      samples.push(sample(w.child.pid));
      print(samples.at(-1), samples.at(-2));
    }
    const t = samples.map((s) => (s.at - samples[0].at) / 1000);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rss = samples.map((s) => s.rssMb);
    const [tm, rm] = [mean(t), mean(rss)];
    const slope = t.reduce((a, ti, i) => a + (ti - tm) * (rss[i] - rm), 0) / t.reduce((a, ti) => a + (ti - tm) ** 2, 0);
    return {
      cpuPct: ((samples.at(-1).cpuS - samples[0].cpuS) / ((samples.at(-1).at - samples[0].at) / 1000)) * 100,
      rssGrowthMb: rss.at(-1) - rss[0],
      rssSlopePer10MinMb: slope * 600,
      fdsGrowth: samples.at(-1).fds - samples[0].fds,
    };
  });
}

function printIdle(r) {
  console.log(
    `   ${r.label.padEnd(28)} ${String(r.shards).padStart(5)} shards: ${r.getRecordsPerShard.toFixed(2)} GetRecords/s per shard, CPU ${r.cpuPct.toFixed(1)} % of a core (${((r.cpuPct / (r.getRecordsPerShard * r.shards)) * 1000).toFixed(0)} % per 1,000 GetRecords/s), RSS ${r.rssMb.toFixed(0)} MB (drift ${r.rssGrowthMb >= 0 ? '+' : ''}${r.rssGrowthMb.toFixed(1)} MB over ${WINDOW_S} s: ${r.rssTrace}; fds ${r.fds}); all owned after ${r.ownedS.toFixed(1)} s; load ${r.load}`,
  );
}

/** The simulator in a child process (`script`, a fixture): resolves with the JSON line it prints. */
async function startSimProcess(env, script = SIM_SERVER) {
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  let out = '';
  const info = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.once('exit', (code) => reject(new Error(`simulator process exited with ${code}`)));
  });
  return {
    ...info,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      children.delete(child);
    },
  };
}

const streamsClient = (endpoint) => new DynamoDBStreamsClient({ endpoint, region, credentials, maxAttempts: 1 });
const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** 16 bare GetShardIterator(TRIM_HORIZON) + GetRecords(1000) loops in parallel, to each shard's end of data. */
async function bareLoops(sim) {
  const streams = streamsClient(sim.endpoint);
  const shards = await listShards(streams, sim.streamArn);
  const c0 = cpuMicros();
  const t0 = performance.now();
  const counts = await Promise.all(
    shards.map(async ({ shardId }) => {
      const want = sim.perShard[shardId] ?? 0;
      let { ShardIterator: iterator } = await streams.send(
        new GetShardIteratorCommand({ StreamArn: sim.streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      let read = 0;
      while (read < want && iterator) {
        const out = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        read += out.Records?.length ?? 0;
        iterator = out.NextShardIterator;
      }
      return read;
    }),
  );
  const ms = performance.now() - t0;
  const cpu = cpuMicros() - c0;
  streams.destroy();
  const read = counts.reduce((a, b) => a + b, 0);
  return { ms, read, cpuPerRecord: cpu / read };
}

/**
 * One Worker (defaults, auto checkpoints) draining every shard. Timed from the moment it owns
 * every shard (the bare loops own theirs from the start) to the last record: records processed
 * before then are left out of the rate and the CPU. Time to own them all (from `start()`) and
 * to the first batch of the last shard to start are reported apart.
 */
async function workerDrain(sim, want, round, WorkerClass = Worker) {
  const shardCount = Object.keys(sim.perShard).length;
  const streams = streamsClient(sim.endpoint);
  const db = new DynamoDBClient({ endpoint: local.endpoint, region, credentials, maxAttempts: 1 });
  let processed = 0;
  const acquired = new Set();
  const firstBatchAt = new Map();
  let window; // { at, processed, cpu } when the last lease was acquired
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const worker = new WorkerClass({
    streamArn: sim.streamArn,
    applicationName: `busy-${round}-${Date.now()}`,
    dynamodb: db,
    streams,
    workerId: 'busy',
    processor: {
      processRecords: ({ shardId, records }) => {
        if (!firstBatchAt.has(shardId)) firstBatchAt.set(shardId, performance.now());
        processed += records.length;
        if (processed >= want) done({ at: performance.now(), cpu: cpuMicros() });
      },
    },
  });
  worker.events.on('lease:acquired', ({ lease }) => {
    acquired.add(lease.shardId);
    if (acquired.size === shardCount && window === undefined)
      window = { at: performance.now(), processed, cpu: cpuMicros() };
  });
  const t0 = performance.now();
  await worker.start();
  const end = await finished;
  await worker.stop();
  streams.destroy();
  db.destroy();
  const read = processed - window.processed;
  return {
    ms: end.at - window.at,
    read,
    cpuPerRecord: (end.cpu - window.cpu) / read,
    ownedMs: window.at - t0,
    beforeOwned: window.processed,
    lastFirstBatchMs: Math.max(...firstBatchAt.values()) - window.at,
  };
}

function countingLeaseClient(counters) {
  const client = new DynamoDBClient({ endpoint: local.endpoint, region, credentials, maxAttempts: 1 });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (WRITE_COMMANDS.has(context.commandName)) counters.writes++;
      else counters.reads++;
      const key = context.commandName;
      counters.byCommand[key] = (counters.byCommand[key] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCounter' },
  );
  return client;
}

/** 4 Workers on a 64-shard simulator with traffic on every shard: lease-table requests per minute. */
async function leaseTraffic(label, checkpointIntervalMs) {
  const sim = await startSimProcess({ SIM_SHARDS: '64', SIM_RATE: '320' });
  const counters = { writes: 0, reads: 0, byCommand: {} };
  const app = `lease-${++runs}-${Date.now()}`;
  const streams = streamsClient(sim.endpoint);
  const clients = [];
  let processed = 0;
  const workers = Array.from({ length: 4 }, (_, i) => {
    const db = countingLeaseClient(counters);
    clients.push(db);
    return new Worker({
      streamArn: sim.streamArn,
      applicationName: app,
      dynamodb: db,
      streams,
      workerId: `w${i + 1}`,
      ...(checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs }),
      processor: { processRecords: ({ records }) => void (processed += records.length) },
    });
  });
  try {
    await Promise.all(workers.map((w) => w.start()));
    await waitUntil(async () => total(await owners(app).catch(() => new Map())) === 64, 120_000, '64 shards owned');
    await sleep(10_000); // hand-offs of the initial balancing settle
    const before = { ...counters, byCommand: { ...counters.byCommand } };
    const p0 = processed;
    const t0 = performance.now();
    await sleep(LEASE_WINDOW_S * 1000);
    const minutes = (performance.now() - t0) / 60_000;
    const perMin = (n) => Math.round(n / minutes);
    const byCommand = Object.entries(counters.byCommand)
      .map(([k, v]) => `${k.replace('Command', '')} ${perMin(v - (before.byCommand[k] ?? 0))}`)
      .join(', ');
    const sizes = await leaseItemSizes(app);
    return {
      label,
      writesPerMin: perMin(counters.writes - before.writes),
      readsPerMin: perMin(counters.reads - before.reads),
      byCommand,
      recordsPerS: Math.round((processed - p0) / (minutes * 60)),
      maxItemBytes: sizes.max,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    for (const c of clients) c.destroy();
    streams.destroy();
    await sim.stop();
  }
}

/** Approximate DynamoDB item sizes (attribute names + values) of the lease table: write units per write. */
async function leaseItemSizes(app) {
  const out = await dynamodb.send(new ScanCommand({ TableName: `shardline-${app}`, ConsistentRead: true }));
  const size = (v) =>
    v.S !== undefined
      ? Buffer.byteLength(v.S)
      : v.N !== undefined
        ? Math.ceil(v.N.length / 2) + 1
        : v.BOOL !== undefined
          ? 1
          : v.SS
            ? v.SS.reduce((a, x) => a + Buffer.byteLength(x), 0)
            : v.NULL
              ? 1
              : 8;
  const sizes = (out.Items ?? []).map((item) =>
    Object.entries(item).reduce((a, [k, v]) => a + Buffer.byteLength(k) + size(v), 0),
  );
  return { max: Math.max(...sizes) };
}

/** 2 Workers, 16 busy shards, a processor that blocks the event loop 200 ms a batch: leases lost. */
async function falseFencing(label, leaseDurationMs) {
  const sim = await startSimProcess({ SIM_SHARDS: '16', SIM_RATE: '160' });
  const app = `fence-${++runs}-${Date.now()}`;
  const streams = streamsClient(sim.endpoint);
  const db = new DynamoDBClient({ endpoint: local.endpoint, region, credentials, maxAttempts: 1 });
  const lost = [];
  let batches = 0;
  let counting = false;
  const workers = Array.from({ length: 2 }, (_, i) => {
    const w = new Worker({
      streamArn: sim.streamArn,
      applicationName: app,
      dynamodb: db,
      streams,
      workerId: `w${i + 1}`,
      ...(leaseDurationMs === undefined ? {} : { leases: { leaseDurationMs } }),
      processor: {
        processRecords: () => {
          const until = performance.now() + 200;
          while (performance.now() < until); // a synchronous processor: the event loop is blocked
          batches++;
        },
      },
    });
    w.events.on('lease:lost', ({ shardId, reason }) => {
      if (counting && reason !== 'stopped') lost.push(`${shardId}:${reason}`);
    });
    return w;
  });
  try {
    await Promise.all(workers.map((w) => w.start()));
    await waitUntil(async () => total(await owners(app).catch(() => new Map())) === 16, 120_000, '16 shards owned');
    await sleep(5_000);
    counting = true;
    const b0 = batches;
    await sleep(FENCE_WINDOW_S * 1000);
    counting = false;
    return {
      label,
      lost: lost.length,
      reasons: [...new Set(lost.map((l) => l.split(':')[1]))].join(', '),
      batches: batches - b0,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    streams.destroy();
    db.destroy();
    await sim.stop();
  }
}

try {
  console.log(`DynamoDB Local ${local.endpoint}; window ${WINDOW_S} s per measurement\n`);
  if (part(1) || part(2)) {
    console.log(`1–2. idle shards on one worker (simulator, no traffic, default settings otherwise)`);
    const baseline = await idleRun('fixed 200 ms (main)', BASELINE_SHARDS, ['--max-idle-interval-ms', '200']);
    printIdle(baseline);
    const adaptiveSmall = await idleRun('adaptive (default)', BASELINE_SHARDS, []);
    printIdle(adaptiveSmall);
    // Rounds interleaved with the baseline build (if any): the load of a shared machine moves.
    const adaptiveRounds = [];
    const baselineRounds = [];
    for (let round = 0; round < IDLE_ROUNDS; round++) {
      const r = await idleRun(`adaptive (default), round ${round + 1}`, IDLE_SHARDS, []);
      printIdle(r);
      adaptiveRounds.push(r);
      if (BASELINE) {
        const b = await idleRun(`baseline build, round ${round + 1}`, IDLE_SHARDS, [], BASELINE.cli);
        printIdle(b);
        baselineRounds.push(b);
      }
    }
    const slowCap = await idleRun('idle cap 4 s', IDLE_SHARDS, ['--max-idle-interval-ms', '4000']);
    printIdle(slowCap);
    const adaptive = [...adaptiveRounds].sort((a, b) => a.cpuPct - b.cpuPct)[
      Math.floor((adaptiveRounds.length - 1) / 2)
    ];
    const cpus = (rs) => rs.map((r) => `${r.cpuPct.toFixed(1)} % (load ${r.load})`).join(', ');
    console.log(
      `   → idle GetRecords/s per shard ${adaptive.getRecordsPerShard.toFixed(2)} (target ≤ 1; baseline ${baseline.getRecordsPerShard.toFixed(2)})`,
    );
    console.log(
      `   → ${IDLE_SHARDS} idle shards: CPU ${cpus(adaptiveRounds)} (target ≤ 25 %), RSS ${adaptive.rssMb.toFixed(0)} MB (target ≤ 300 MB)${BASELINE ? `; baseline build ${cpus(baselineRounds)}` : ''}; with a 4 s cap ${slowCap.cpuPct.toFixed(1)} % at ${slowCap.getRecordsPerShard.toFixed(2)} GetRecords/s per shard; ${BASELINE_SHARDS} shards fixed 200 ms: CPU ${baseline.cpuPct.toFixed(1)} %, RSS ${baseline.rssMb.toFixed(0)} MB\n`,
    );
    // GetRecords by a non-Lambda consumer is billed per request: idle cost is requests a month.
    const perMonth = (perShard, shards) => Math.round((perShard * shards * 30 * 86_400) / 1e4) / 100;
    writeFigures(
      'scale',
      [
        {
          type: 'line',
          id: 'idle-cost',
          title: 'Idle cost vs shards: GetRecords requests a month, one worker, no traffic',
          x: { label: 'shards' },
          y: { label: 'millions of requests / month' },
          series: [
            {
              name: 'adaptive (default)',
              points: [adaptiveSmall, adaptive].map((r) => [r.shards, perMonth(r.getRecordsPerShard, r.shards)]),
            },
            {
              name: 'fixed 200 ms (main)',
              points: [BASELINE_SHARDS, IDLE_SHARDS].map((n) => [n, perMonth(baseline.getRecordsPerShard, n)]),
            },
          ],
          note: `measured over ${WINDOW_S} s; fixed 200 ms measured at ${BASELINE_SHARDS} shards, its ${IDLE_SHARDS}-shard point is that per-shard rate × ${IDLE_SHARDS}`,
        },
      ],
      { 'window seconds': WINDOW_S },
    );
  }
  if (part('idle-stability')) {
    console.log(
      `idle stability: one worker holding ${IDLE_SHARDS} idle shards for ${STABILITY_MINUTES} min, sampled every ${STABILITY_SAMPLE_S} s`,
    );
    const r = await idleStability(IDLE_SHARDS, STABILITY_MINUTES);
    console.log(
      `   → all owned after ${r.ownedS.toFixed(1)} s; CPU ${r.cpuPct.toFixed(1)} % over the run; RSS ${r.rssGrowthMb >= 0 ? '+' : ''}${r.rssGrowthMb.toFixed(1)} MB first → last (slope ${r.rssSlopePer10MinMb.toFixed(1)} MB per 10 min), fds ${r.fdsGrowth >= 0 ? '+' : ''}${r.fdsGrowth} (target: no growth)\n`,
    );
  }
  if (part(3)) {
    console.log(`3. 16 busy shards, ${BUSY_RECORDS} records written up front (simulator in its own process)`);
    const sim = await startSimProcess({ SIM_SHARDS: '16', SIM_RECORDS: String(BUSY_RECORDS) });
    try {
      const want = Object.values(sim.perShard).reduce((a, b) => a + b, 0);
      await bareLoops(sim); // warm-up: JIT, sockets
      const rounds = [];
      for (let round = 0; round < BUSY_ROUNDS; round++)
        rounds.push({
          bare: await bareLoops(sim),
          worker: await workerDrain(sim, want, round),
          ...(BASELINE ? { baseline: await workerDrain(sim, want, `base-${round}`, BASELINE.Worker) } : {}),
          load: loadAverage(),
        });
      const rate = (r) => Math.round((r.read / r.ms) * 1000);
      for (const r of rounds) {
        console.log(
          `   bare ${rate(r.bare)} records/s (${r.bare.cpuPerRecord.toFixed(1)} CPU-µs/record); worker ${rate(r.worker)} records/s (${r.worker.cpuPerRecord.toFixed(1)} CPU-µs/record, GetRecords → unmarshal → processor → checkpoint) from all 16 owned to the last record (${r.worker.ms.toFixed(0)} ms): ratio ${(rate(r.worker) / rate(r.bare)).toFixed(2)}; all owned ${r.worker.ownedMs.toFixed(0)} ms after start() (${r.worker.beforeOwned} records before), last shard's first batch ${r.worker.lastFirstBatchMs.toFixed(0)} ms after that; load ${r.load}`,
        );
        if (r.baseline)
          console.log(
            `     baseline build's worker ${rate(r.baseline)} records/s (${r.baseline.cpuPerRecord.toFixed(1)} CPU-µs/record): ratio ${(rate(r.baseline) / rate(r.bare)).toFixed(2)}`,
          );
      }
      const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
      const cpuRange = (key) => {
        const xs = rounds.map((r) => r[key].cpuPerRecord);
        return `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
      };
      console.log(
        `   → worker/bare median ${median(rounds.map((r) => rate(r.worker) / rate(r.bare))).toFixed(2)} (target ≥ 0.9)${BASELINE ? `; baseline build ${median(rounds.map((r) => rate(r.baseline) / rate(r.bare))).toFixed(2)}` : ''}; CPU-µs/record worker ${cpuRange('worker')}, bare ${cpuRange('bare')}${BASELINE ? `, baseline build ${cpuRange('baseline')}` : ''}\n`,
      );
    } finally {
      await sim.stop();
    }
  }
  if (part(4)) {
    console.log(
      '4. huge stream (10,000 shards, 50 Workers by default; BENCH_HUGE_* to change), service rate limits on',
    );
    await hugeStream({ endpoint: local.endpoint, region, credentials, startSimProcess });
    console.log('');
  }
  if (part(5)) {
    console.log(
      `5. lease-table requests, 64 busy shards / 4 workers (320 writes/s over 5,000 keys), ${LEASE_WINDOW_S} s window`,
    );
    const baseline = await leaseTraffic('checkpoint every 1 s (main)', 1_000);
    const current = await leaseTraffic(
      `defaults (checkpoint every ${WORKER_DEFAULTS.checkpointIntervalMs} ms)`,
      undefined,
    );
    for (const r of [baseline, current])
      console.log(
        `   ${r.label.padEnd(36)} writes ${r.writesPerMin}/min, reads ${r.readsPerMin}/min (${r.byCommand}); largest lease item ~${r.maxItemBytes} B (1 write unit each); ${r.recordsPerS} records/s processed`,
      );
    console.log(
      `   → writes ${current.writesPerMin}/min (target ≤ ${KCL_RENEWALS_64}; baseline ${baseline.writesPerMin}/min)\n`,
    );
  }
  if (part(6)) {
    console.log(
      `6. false fencing: 2 workers in one process, 16 busy shards, processor blocks 200 ms a batch, ${FENCE_WINDOW_S} s`,
    );
    for (const [label, ms] of [
      ['lease 10 s, heartbeat 1 s (default)', undefined],
      ['lease 5 s, heartbeat 500 ms', 5_000],
    ]) {
      const r = await falseFencing(label, ms);
      console.log(
        `   ${r.label.padEnd(36)} leases lost ${r.lost}${r.reasons ? ` (${r.reasons})` : ''}; ${r.batches} batches of 200 ms`,
      );
    }
    console.log('');
  }
} finally {
  killChildren();
  dynamodb.destroy();
  await local.stop();
}
