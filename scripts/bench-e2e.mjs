#!/usr/bin/env node
// End-to-end benchmark of the worker runtime on DynamoDB Local (prints figures, asserts nothing).
//   1. throughput: one Worker (default settings, auto checkpoints) draining ≥ 20,000 records,
//      against a bare GetRecords loop over the same stream in the same run (goal ≥ 0.9);
//   2. latency: put → processRecords at a steady 100 writes/s, timed with a timestamp written
//      into each item (goal p50 ≤ 110 ms, p99 ≤ 250 ms with default settings: issue #9);
//      Then the first record after a long idle: IDLE_PROBES single writes, each after IDLE_S (10)
//      seconds of silence, well past the idle backoff's ramp to maxIdleIntervalMs (goal ≤ cap +
//      150 ms);
//   3. SIGTERM hand-off between two `shardline run` processes under traffic: time until the
//      other worker processes records, duplicates (goal ≤ 2 s, zero duplicates), peak RSS.
// Run with `npm run bench:e2e` (builds first). RECORDS=50000 to change the volume.
// BENCH_ONLY takes part numbers or names (throughput, latency, handoff), comma-separated:
//   BENCH_ONLY=latency node scripts/bench-e2e.mjs
import './sdk-notice.mjs';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchWriteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { listShards, ShardReader, SHARD_READER_DEFAULTS } from '@shardline/streams';
import { createStreamTable, startDynamoDBLocal } from '@shardline/testkit';
import { Worker } from '@shardline/worker';
import { writeFigures } from './bench-figures.mjs';

const RECORDS = Number(process.env.RECORDS ?? 20_000);
const LATENCY_SECONDS = Number(process.env.LATENCY_SECONDS ?? 20);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const IDLE_PROBES = Number(process.env.IDLE_PROBES ?? 3);
const IDLE_S = Number(process.env.IDLE_S ?? 10);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PART_NAMES = { throughput: 1, latency: 2, handoff: 3 };
const ONLY = process.env.BENCH_ONLY
  ? new Set(
      process.env.BENCH_ONLY.split(',')
        .map((p) => p.trim())
        .map((p) => PART_NAMES[p] ?? Number(p)),
    )
  : undefined;
const part = (n) => ONLY === undefined || ONLY.has(n);
/** The charts of this run, for the bench report (bench-report/). */
const charts = [];
const region = 'us-east-1';
// DynamoDB Local keeps one database per access key, and its stream writes slow down as earlier
// streams' records pile up in a database: each phase gets a database of its own.
let credentials;
let dynamodb;
let streams;
function freshDatabase(phase) {
  dynamodb?.destroy();
  streams?.destroy();
  credentials = { accessKeyId: `bench${phase}${Date.now()}`, secretAccessKey: 'bench' };
  dynamodb = new DynamoDBClient({ endpoint: local.endpoint, region, credentials });
  streams = new DynamoDBStreamsClient({ endpoint: local.endpoint, region, credentials });
}
let peakRss = 0;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

const local = await startDynamoDBLocal({ heap: '1g' });
// Child processes of phase 3: never left behind, whatever happens.
const children = new Set();
const killChildren = () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
};
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killChildren();
    void local.stop().finally(() => process.exit(130));
  });
}
const dir = mkdtempSync(join(tmpdir(), 'shardline-bench-e2e-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
let tableCount = 0;

function createTable() {
  return createStreamTable(dynamodb, `bench-${++tableCount}-${Date.now()}`);
}

async function fill(tableName, count) {
  const payload = 'x'.repeat(200);
  let next = 0;
  const writer = async () => {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + 25);
      let items = [];
      for (let i = from; i < next; i++)
        items.push({ PutRequest: { Item: { pk: { S: `k${i}` }, n: { N: String(i) }, payload: { S: payload } } } });
      while (items.length > 0) {
        const out = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: items } }));
        items = out.UnprocessedItems?.[tableName] ?? [];
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
}

/** A bare GetRecords(Limit 1000) loop from TRIM_HORIZON until `count` records were read. */
async function bareLoop(streamArn, count) {
  const [shard] = await listShards(streams, streamArn);
  const started = performance.now();
  let iterator = (
    await streams.send(
      new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    )
  ).ShardIterator;
  let read = 0;
  while (read < count && iterator) {
    const out = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    read += out.Records?.length ?? 0;
    iterator = out.NextShardIterator;
  }
  return { ms: performance.now() - started, read };
}

/** The ShardReader alone (defaults, prefetch 2), for attribution: reader cost vs worker cost. */
async function readerOnly(streamArn, count) {
  const [shard] = await listShards(streams, streamArn);
  const abort = new AbortController();
  const started = performance.now();
  const reader = new ShardReader({
    client: streams,
    streamArn,
    shardId: shard.shardId,
    start: { type: 'TRIM_HORIZON' },
    signal: abort.signal,
  });
  let read = 0;
  for await (const batch of reader) {
    read += batch.records.length;
    if (read >= count) break;
  }
  abort.abort();
  return performance.now() - started;
}

async function workerDrain(tableName, count, round) {
  let processed = 0;
  let first;
  let last;
  let checkpoints = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const worker = new Worker({
    tableName,
    applicationName: `drain-${round}`,
    dynamodb,
    streams,
    processor: {
      processRecords: ({ records }) => {
        first ??= performance.now();
        processed += records.length;
        if (processed >= count) {
          last = performance.now();
          done();
        }
      },
    },
  });
  worker.events.on('checkpoint', () => checkpoints++);
  const started = performance.now();
  await worker.start();
  await finished;
  const total = performance.now() - started;
  await worker.stop();
  return { steadyMs: last - first, totalMs: total, processed, checkpoints };
}

console.log(`DynamoDB Local ${local.endpoint}; ${RECORDS} records`);

// 1. Throughput. DynamoDB Local's JVM warms up over the first reads, so two warm-up passes
// come first, then three rounds of (bare loop, Worker with a new application); medians.
if (part(1)) {
  freshDatabase(1);
  const { tableName, streamArn } = await createTable();
  const fillStart = performance.now();
  await fill(tableName, RECORDS);
  console.log(`filled ${RECORDS} items in ${((performance.now() - fillStart) / 1000).toFixed(1)} s`);
  await bareLoop(streamArn, RECORDS);
  await bareLoop(streamArn, RECORDS);
  const bare = [];
  const readers = [];
  const workers = [];
  for (let round = 0; round < ROUNDS; round++) {
    bare.push((await bareLoop(streamArn, RECORDS)).ms);
    readers.push(await readerOnly(streamArn, RECORDS));
    workers.push(await workerDrain(tableName, RECORDS, round));
  }
  const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
  const bareMs = median(bare);
  const steadyMs = median(workers.map((w) => w.steadyMs));
  const totalMs = median(workers.map((w) => w.totalMs));
  const rate = (ms) => Math.round((RECORDS / ms) * 1000);
  const ratios = workers.map((w, i) => bare[i] / w.steadyMs);
  console.log(`\n1. throughput (one shard, Limit 1000; medians of ${ROUNDS} interleaved rounds after warm-up)`);
  console.log(`   bare GetRecords loop   ${rate(bareMs)} records/s (${bare.map((ms) => ms.toFixed(0)).join(', ')} ms)`);
  console.log(
    `   ShardReader alone      ${rate(median(readers))} records/s (${readers.map((ms) => ms.toFixed(0)).join(', ')} ms)`,
  );
  console.log(
    `   Worker, first→last     ${rate(steadyMs)} records/s (${workers.map((w) => w.steadyMs.toFixed(0)).join(', ')} ms; checkpoints ${workers.map((w) => w.checkpoints).join(', ')})`,
  );
  console.log(
    `   Worker, incl. start-up ${rate(totalMs)} records/s (${workers.map((w) => w.totalMs.toFixed(0)).join(', ')} ms: lease table, leader, first lease)`,
  );
  console.log(
    `   ratio worker/bare      ${(bareMs / steadyMs).toFixed(2)} of medians, ${median(ratios).toFixed(2)} median of per-round ratios (goal ≥ 0.9); with start-up ${(bareMs / totalMs).toFixed(2)}; worker/reader ${(median(readers) / steadyMs).toFixed(2)}`,
  );
  charts.push({
    type: 'bar',
    id: 'throughput',
    title: `Throughput, one shard, vs the bare GetRecords loop (medians of ${ROUNDS} rounds)`,
    unit: 'records/s',
    bars: [
      { label: 'bare GetRecords loop', value: rate(bareMs) },
      { label: 'ShardReader alone', value: rate(median(readers)) },
      { label: 'Worker, first→last', value: rate(steadyMs) },
      { label: 'Worker, incl. start-up', value: rate(totalMs) },
    ],
    note: `worker/bare ${(bareMs / steadyMs).toFixed(2)} (goal ≥ 0.9); ${RECORDS} records on DynamoDB Local`,
  });
}

// 2. Latency at a steady 100 writes/s, default settings.
if (part(2)) {
  freshDatabase(2);
  const { tableName } = await createTable();
  const latencies = [];
  let into = latencies; // the steady run's latencies, then the idle probes'
  const worker = new Worker({
    tableName,
    dynamodb,
    streams,
    processor: {
      processRecords: ({ records }) => {
        const now = Date.now();
        for (const r of records) into.push(now - r.newItem.writtenAt);
      },
    },
  });
  const started = worker.events.waitFor('shard:start');
  await worker.start();
  await started;
  const total = LATENCY_SECONDS * 100;
  const t0 = Date.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + i * 10;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    void dynamodb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: `k${i % 500}` }, writtenAt: { N: String(Date.now()) } },
      }),
    );
  }
  const deadline = Date.now() + 10_000;
  while (latencies.length < total && Date.now() < deadline) await sleep(50);
  const afterIdle = [];
  into = afterIdle;
  for (let i = 0; i < IDLE_PROBES; i++) {
    await sleep(IDLE_S * 1000);
    await dynamodb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: `idle${i}` }, writtenAt: { N: String(Date.now()) } },
      }),
    );
    const probeDeadline = Date.now() + 10_000;
    while (afterIdle.length <= i && Date.now() < probeDeadline) await sleep(10);
  }
  await worker.stop();
  latencies.sort((a, b) => a - b);
  console.log(
    `\n2. latency put → processor at 100 writes/s for ${LATENCY_SECONDS} s (default settings: idleIntervalMs ${SHARD_READER_DEFAULTS.idleIntervalMs} ms)`,
  );
  console.log(
    `   received ${latencies.length}/${total}; p50 ${pct(latencies, 50)} ms, p90 ${pct(latencies, 90)} ms, p99 ${pct(latencies, 99)} ms, max ${latencies.at(-1)} ms (goal p50 ≤ 110, p99 ≤ 250); load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
  );
  charts.push({
    type: 'line',
    id: 'latency',
    title: `Latency distribution, put → processor at 100 writes/s for ${LATENCY_SECONDS} s`,
    x: { label: 'percentile' },
    y: { label: 'ms' },
    series: [
      {
        name: 'default settings',
        points: [1, 10, 25, 50, 75, 90, 95, 99, 100].map((p) => [p, pct(latencies, p)]),
      },
    ],
    note: `p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms (goal p50 ≤ 110, p99 ≤ 250); ${latencies.length}/${total} received`,
  });
  const capMs = SHARD_READER_DEFAULTS.maxIdleIntervalMs;
  console.log(
    `   first record after ${IDLE_S} s idle: ${afterIdle.map((ms) => `${ms} ms`).join(', ')}${afterIdle.length < IDLE_PROBES ? ` (${IDLE_PROBES - afterIdle.length} not received within 10 s)` : ''}; max ${Math.max(...afterIdle)} ms (goal ≤ cap ${capMs} + 150 ms)`,
  );
}

// 3. SIGTERM hand-off between two `shardline run` processes under 100 writes/s.
if (part(3)) {
  freshDatabase(3);
  const { tableName } = await createTable();
  const output = join(dir, 'handoff.jsonl');
  const cli = join(ROOT, 'apps/shardline/dist/cli.js');
  const processor = join(ROOT, 'test/fixtures/record-processor.mjs');
  const spawnWorker = (name) => {
    const child = spawn(
      process.execPath,
      [
        cli,
        'run',
        '--table',
        tableName,
        '--processor',
        processor,
        '--endpoint',
        local.endpoint,
        '--region',
        region,
        '--worker-id',
        name,
        '--log-level',
        'warn',
      ],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          E2E_OUTPUT: output,
          E2E_WORKER: name,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    children.add(child);
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
    return { name, child, exited };
  };
  const seen = () =>
    existsSync(output)
      ? readFileSync(output, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  const childPeak = (pid) => {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return kb ? Number(kb) * 1024 : NaN;
    } catch {
      return NaN;
    }
  };
  const a = spawnWorker('a');
  const b = spawnWorker('b');
  let writing = true;
  let n = 0;
  const writer = (async () => {
    const t0 = Date.now();
    while (writing) {
      const due = t0 + n * 10;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      await dynamodb.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { pk: { S: `h${n}` }, writtenAt: { N: String(Date.now()) } },
        }),
      );
      n++;
    }
  })();
  const until = async (predicate, ms) => {
    const deadline = Date.now() + ms;
    while (!predicate() && Date.now() < deadline) await sleep(20);
    return predicate();
  };
  await until(() => seen().length >= 300, 60_000);
  const owner = seen().at(-1).worker === 'a' ? a : b;
  const other = owner === a ? b : a;
  const ownerPeak = childPeak(owner.child.pid);
  const termAt = Date.now();
  owner.child.kill('SIGTERM');
  const exitCode = await owner.exited;
  const exitMs = Date.now() - termAt;
  const tookOver = await until(() => seen().some((r) => r.worker === other.name), 30_000);
  const firstOther = seen().find((r) => r.worker === other.name);
  const lastOwner = seen()
    .filter((r) => r.worker === owner.name)
    .at(-1);
  await sleep(1_000);
  writing = false;
  await writer;
  await until(() => new Set(seen().map((r) => r.key)).size >= n, 20_000);
  const otherPeak = childPeak(other.child.pid);
  other.child.kill('SIGTERM');
  await other.exited;
  const records = seen();
  const counts = new Map();
  for (const r of records) counts.set(r.sequenceNumber, (counts.get(r.sequenceNumber) ?? 0) + 1);
  const duplicates = [...counts.values()].filter((c) => c > 1).length;
  const lost = n - new Set(records.map((r) => r.key)).size;
  console.log('\n3. SIGTERM hand-off (two `shardline run` processes, 100 writes/s)');
  console.log(
    `   owner exited ${exitCode} after ${exitMs} ms; other worker's first record ${tookOver ? `${firstOther.at - termAt} ms after SIGTERM` : 'never (30 s)'}`,
  );
  console.log(
    `   gap between the owner's last and the successor's first record: ${tookOver && lastOwner ? `${firstOther.at - lastOwner.at} ms` : 'n/a'} (goal ≤ 2 s)`,
  );
  console.log(
    `   records written ${n}, delivered ${records.length}, duplicates ${duplicates}, lost ${lost} (goal 0 duplicates)`,
  );
  console.log(
    `   peak RSS of a \`shardline run\` process: ${(ownerPeak / 2 ** 20).toFixed(0)} MiB (owner), ${(otherPeak / 2 ** 20).toFixed(0)} MiB (successor)`,
  );
  charts.push({
    type: 'timeline',
    id: 'hand-off',
    title: 'SIGTERM hand-off between two `shardline run` processes at 100 writes/s',
    unit: 'ms',
    lanes: [
      {
        label: 'owner',
        spans: [{ from: 0, to: exitMs, label: 'graceful shutdown' }],
        marks: [
          { at: 0, label: 'SIGTERM' },
          ...(lastOwner ? [{ at: lastOwner.at - termAt, label: 'last record' }] : []),
        ],
      },
      {
        label: 'successor',
        marks: tookOver ? [{ at: firstOther.at - termAt, label: 'first record' }] : [],
      },
    ],
    note: `duplicates ${duplicates}, lost ${lost} of ${n}; gap last → first record ${tookOver && lastOwner ? `${firstOther.at - lastOwner.at} ms` : 'n/a'} (goal ≤ 2 s)`,
  });
}

clearInterval(rssTimer);
console.log(
  `\npeak RSS of this benchmark process (in-process Worker + load generator): ${(Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(0)} MiB`,
);
writeFigures('e2e', charts, { records: RECORDS, rounds: ROUNDS, 'latency seconds': LATENCY_SECONDS });
dynamodb.destroy();
streams.destroy();
await local.stop();
rmSync(dir, { recursive: true, force: true });
