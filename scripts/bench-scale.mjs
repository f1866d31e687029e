#!/usr/bin/env node
// Production-shape figures (issue #9); prints figures beside their targets and the same-run
// baseline, asserts nothing. The stream is the testkit simulator (in this process), the lease
// table DynamoDB Local; each worker under measure is a separate `shardline run` process, so its
// CPU and RSS are its own (read from /proc).
//   1. idle shards: GetRecords per idle shard per second, adaptive polling (defaults) vs the
//      fixed 200 ms interval main shipped (`--max-idle-interval-ms 200`); target <= 1/s;
//   2. one worker holding N idle shards (default 1,000): CPU % of one core and RSS, and their
//      drift over the window (RSS, open fds); target <= 25 % and <= 300 MB, no growth.
//
//   npm run bench:scale                          (builds first)
//   BENCH_ONLY=1 BENCH_WINDOW_S=60 BENCH_IDLE_SHARDS=1000 node scripts/bench-scale.mjs
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { startDynamoDBLocal, startStreamSimulator } from '@shardline/testkit';

const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map(Number)) : undefined;
const part = (n) => ONLY === undefined || ONLY.has(n);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 60);
const IDLE_SHARDS = Number(process.env.BENCH_IDLE_SHARDS ?? 1000);
const BASELINE_SHARDS = Number(process.env.BENCH_BASELINE_SHARDS ?? 200);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = `${ROOT}apps/shardline/dist/cli.js`;
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

function startWorker(sim, app, workerId, extraArgs = [], extraEnv = {}) {
  const child = spawn(
    process.execPath,
    [
      CLI,
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

/** One worker holding `shards` idle shards: GetRecords/s per shard, CPU and RSS over the window. */
async function idleRun(label, shards, args) {
  const sim = await startStreamSimulator({ shards, seed: 11 });
  const app = `idle-${shards}-${++runs}-${Date.now()}`;
  const w = startWorker(sim, app, 'w1', args);
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
    const calls0 = sim.calls().GetRecords;
    const s0 = sample(w.child.pid);
    const samples = [s0];
    for (let i = 0; i < 6; i++) {
      await sleep((WINDOW_S * 1000) / 6);
      samples.push(sample(w.child.pid));
    }
    const s1 = samples.at(-1);
    const seconds = (s1.at - s0.at) / 1000;
    const getRecordsPerShard = (sim.calls().GetRecords - calls0) / seconds / shards;
    return {
      label,
      shards,
      ownedS,
      getRecordsPerShard,
      cpuPct: ((s1.cpuS - s0.cpuS) / seconds) * 100,
      rssMb: s1.rssMb,
      rssGrowthMb: s1.rssMb - s0.rssMb,
      rssTrace: samples.map((s) => s.rssMb.toFixed(0)).join(' '),
      fds: `${s0.fds} → ${s1.fds}`,
    };
  } finally {
    await stopWorker(w);
    await sim.stop();
  }
}

function printIdle(r) {
  console.log(
    `   ${r.label.padEnd(28)} ${String(r.shards).padStart(5)} shards: ${r.getRecordsPerShard.toFixed(2)} GetRecords/s per shard, CPU ${r.cpuPct.toFixed(1)} % of a core, RSS ${r.rssMb.toFixed(0)} MB (drift ${r.rssGrowthMb >= 0 ? '+' : ''}${r.rssGrowthMb.toFixed(1)} MB over ${WINDOW_S} s: ${r.rssTrace}; fds ${r.fds}); all owned after ${r.ownedS.toFixed(1)} s`,
  );
}

try {
  console.log(`DynamoDB Local ${local.endpoint}; window ${WINDOW_S} s per measurement\n`);
  if (part(1) || part(2)) {
    console.log(`1–2. idle shards on one worker (simulator, no traffic, default settings otherwise)`);
    const baseline = await idleRun('fixed 200 ms (main)', BASELINE_SHARDS, ['--max-idle-interval-ms', '200']);
    printIdle(baseline);
    const adaptiveSmall = await idleRun('adaptive (default)', BASELINE_SHARDS, []);
    printIdle(adaptiveSmall);
    const adaptive = await idleRun('adaptive (default)', IDLE_SHARDS, []);
    printIdle(adaptive);
    console.log(
      `   → idle GetRecords/s per shard ${adaptive.getRecordsPerShard.toFixed(2)} (target ≤ 1; baseline ${baseline.getRecordsPerShard.toFixed(2)})`,
    );
    console.log(
      `   → ${IDLE_SHARDS} idle shards: CPU ${adaptive.cpuPct.toFixed(1)} % (target ≤ 25 %), RSS ${adaptive.rssMb.toFixed(0)} MB (target ≤ 300 MB); baseline ${BASELINE_SHARDS} shards fixed 200 ms: CPU ${baseline.cpuPct.toFixed(1)} %, RSS ${baseline.rssMb.toFixed(0)} MB\n`,
    );
  }
} finally {
  killChildren();
  dynamodb.destroy();
  await local.stop();
}
