#!/usr/bin/env node
// Soak on real processes: `shardline run` workers (the built CLI) read the stream simulator
// (steady traffic, RATE records/s, 250 by default, paced by the clock; lease table on DynamoDB
// Local) for --minutes N. Two workers
// stay up the whole run ("stayers", the ones measured for growth); a third slot is replaced
// every REPLACE_MS (20 s), alternately by SIGTERM (graceful hand-off) and by kill -9, so the
// stayers keep taking and handing back shards. Each worker's memory, handles and event-loop delay
// come from its own /metrics (prom-client's default metrics, on with --health-port), scraped
// every SAMPLE_MS: the harness (simulator, audit) runs in this process and is never measured, and
// the workers hold no audit state (the processor appends to a file, read here at the end).
// Prints a per-interval table, a growth verdict per stayer (soak-verdict.mjs: least-squares slope
// over the last half of the run against thresholds, or "too short to judge" when that half is
// under 5 minutes) and an audit against the simulator's manifest.
// `npm run soak -- --minutes 30`; exit 1 when something was lost or a stayer grew; a bad setting
// is one line and exit 2.
import './sdk-notice.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { audit, startDynamoDBLocal, startStreamSimulator } from '@shardline/testkit';
import { alive, exited, readDeliveries, spawnCliWorker } from './cli-workers.mjs';
import { flagValue, onlyFlags, parseOrExit, positiveNumber } from './script-args.mjs';
import { LIMITS, runVerdict, stayerVerdict, TOO_SHORT } from './soak-verdict.mjs';
import { legend, textTable, wrapParts } from './text-table.mjs';

const { MINUTES, RATE, SAMPLE_MS, REPLACE_MS } = parseOrExit('soak', () => {
  const argv = process.argv.slice(2);
  onlyFlags(argv, ['--minutes'], 'soak takes --minutes N (and RATE, SAMPLE_MS, REPLACE_MS from the environment)');
  return {
    MINUTES: positiveNumber('--minutes', flagValue(argv, '--minutes') ?? process.env.MINUTES, 30),
    /** Records a second, across the shards. */
    RATE: positiveNumber('RATE', process.env.RATE, 250),
    SAMPLE_MS: positiveNumber('SAMPLE_MS', process.env.SAMPLE_MS, 30_000),
    REPLACE_MS: positiveNumber('REPLACE_MS', process.env.REPLACE_MS, 20_000),
  };
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The gauges the soak reads from a worker's Prometheus text (prom-client default metric names). */
async function scrape(port) {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) }).then((r) =>
    r.text(),
  );
  const value = (name) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return {
    rssMiB: value('process_resident_memory_bytes') / 2 ** 20,
    heapMiB: value('nodejs_heap_size_used_bytes') / 2 ** 20,
    handles: value('nodejs_active_handles_total'),
    loopP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1_000,
    loopMaxMs: value('nodejs_eventloop_lag_max_seconds') * 1_000,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'shardline-soak-'));
const local = await startDynamoDBLocal({});
const sim = await startStreamSimulator({ shards: 4, seed: 30 });
const app = `soak-${Date.now()}`;
const accessKeyId = `soak${Date.now()}`;
const children = new Set();
process.on('exit', () => {
  for (const c of children) if (alive(c)) c.kill('SIGKILL');
});

/** Worker processes by name: { name, child, port, out, startedAt }. Stayers are w0 and w1. */
const workers = new Map();
let generation = 0;
async function start(slot) {
  const name = slot === 'churn' ? `churn-${++generation}` : slot;
  const port = await freePort();
  const out = join(dir, `${name}.txt`);
  const child = spawnCliWorker({
    out,
    accessKeyId,
    debug: Boolean(process.env.SOAK_DEBUG),
    args: [
      ...['--stream-arn', sim.streamArn, '--streams-endpoint', sim.endpoint],
      ...['--dynamodb-endpoint', local.endpoint, '--region', 'us-east-1', '--app', app, '--worker-id', name],
      ...['--lease-duration-ms', '3000', '--health-port', String(port), '--log-level', 'warn'],
    ],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const worker = { name, slot, child, port, out, startedAt: Date.now() };
  workers.set(name, worker);
  // Up when its health server answers (the CLI probes both endpoints first).
  const deadline = Date.now() + 60_000;
  while (
    !(await scrape(port).then(
      () => true,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`soak: ${name} did not start`);
    await sleep(200);
  }
  return worker;
}

const SAMPLE_COLUMNS = [
  { key: 'minute', heading: 't min', width: 5, format: (m) => m.toFixed(1) },
  { key: 'worker', heading: 'worker', align: 'left', width: 9 },
  { key: 'rssMiB', heading: 'rss MiB', format: (v) => v.toFixed(0) },
  { key: 'heapMiB', heading: 'heap MiB', format: (v) => v.toFixed(1) },
  { key: 'handles', heading: 'handles' },
  { key: 'loopP99Ms', heading: 'loop p99 ms', format: (v) => v.toFixed(1) },
  { key: 'loopMaxMs', heading: 'loop max ms', format: (v) => v.toFixed(0) },
];

const samples = [];
async function sampleAll(minute) {
  const now = [];
  for (const w of workers.values()) {
    if (!alive(w.child)) continue;
    const s = await scrape(w.port).catch(() => undefined);
    if (s) now.push({ minute, worker: w.name, slot: w.slot, ...s });
  }
  samples.push(...now);
  // The headings once; every interval's rows line up under them (the columns have fixed widths).
  const lines = textTable(now, SAMPLE_COLUMNS);
  console.log((minute === 0 ? lines : lines.slice(2)).join('\n'));
}

await Promise.all([start('w0'), start('w1'), start('churn')]);
// Paced by the clock, not by the timer's count: a late tick (a busy machine) writes what is due,
// so the records written are RATE a second however the timer drifts.
let puts = 0;
const trafficFrom = Date.now();
const traffic = setInterval(() => {
  const due = Math.floor(((Date.now() - trafficFrom) / 1_000) * RATE);
  while (puts < due) sim.put(`key-${puts++ % 200}`, { n: puts });
}, 20);
const started = Date.now();
const minutes = () => (Date.now() - started) / 60_000;
await sampleAll(0);
let nextSample = started + SAMPLE_MS;
let nextReplace = started + REPLACE_MS;
const replacements = { sigterm: 0, kill9: 0 };
while (Date.now() - started < MINUTES * 60_000) {
  await sleep(Math.max(0, Math.min(nextSample, nextReplace, started + MINUTES * 60_000) - Date.now()));
  if (Date.now() >= nextSample) {
    nextSample += SAMPLE_MS;
    await sampleAll(minutes());
  }
  if (Date.now() >= nextReplace && Date.now() - started < MINUTES * 60_000) {
    nextReplace += REPLACE_MS;
    const churn = [...workers.values()].find((w) => w.slot === 'churn' && alive(w.child));
    const signal = (replacements.sigterm + replacements.kill9) % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
    churn.child.kill(signal);
    replacements[signal === 'SIGTERM' ? 'sigterm' : 'kill9']++;
    await exited(churn.child);
    await start('churn');
  }
}
clearInterval(traffic);
const trafficSeconds = (Date.now() - trafficFrom) / 1_000;
await sampleAll(minutes());

// Drain, then stop everyone gracefully and audit from the delivery files.
const manifest = sim.manifest();
const files = [...workers.values()].map((w) => w.out);
const drainDeadline = Date.now() + 60_000;
while (new Set(readDeliveries(files).map((r) => r.sequenceNumber)).size < manifest.length && Date.now() < drainDeadline)
  await sleep(500);
for (const w of workers.values()) if (alive(w.child)) w.child.kill('SIGTERM');
await Promise.all([...workers.values()].map((w) => exited(w.child)));
const delivered = readDeliveries(files);
const report = audit(manifest, delivered, sim.shards());

// Verdict: per stayer, slopes over the last half of the run (warm-up excluded by construction).
const verdicts = ['w0', 'w1'].map((worker) => {
  const mine = samples.filter((s) => s.worker === worker);
  const span = (key, digits) => `${mine[0][key].toFixed(digits)} → ${mine.at(-1)[key].toFixed(digits)}`;
  return {
    worker,
    samples: mine.length,
    rssMiB: span('rssMiB', 0),
    heapMiB: span('heapMiB', 1),
    handles: span('handles', 0),
    loopP99MaxMs: Math.max(...mine.map((s) => s.loopP99Ms)).toFixed(1),
    ...stayerVerdict(mine, MINUTES),
  };
});
const perMinute = (v) => (v === undefined ? '-' : `${v >= 0 ? '+' : ''}${v.toFixed(2)}`);
const VERDICT_COLUMNS = [
  { key: 'worker', heading: 'stayer', align: 'left' },
  { key: 'samples', heading: 'samples' },
  { key: 'rssMiB', heading: 'rss MiB' },
  { key: 'heapMiB', heading: 'heap MiB' },
  { key: 'handles', heading: 'handles' },
  { key: 'loopP99MaxMs', heading: 'p99 ms', means: 'worst event-loop p99' },
  { key: 'rssSlope', heading: 'rss/min', format: perMinute },
  { key: 'heapSlope', heading: 'heap/min', format: perMinute },
  { key: 'handlesSlope', heading: 'hnd/min', format: perMinute },
  // The verdict line under the table says why a run is too short.
  { key: 'verdict', heading: 'verdict', align: 'left', format: (v) => (v === TOO_SHORT ? 'too short' : v) },
];
const churnLast = new Map();
for (const s of samples.filter((x) => x.slot === 'churn')) churnLast.set(s.worker, s);
const churnRss = [...churnLast.values()].map((s) => s.rssMiB);
const duplicates = report.duplicates.reduce((n, d) => n + d.count - 1, 0);
const verdict = runVerdict(verdicts);
console.log(
  [
    '',
    `Growth over the last half (${MINUTES / 2} min; slopes per minute, limits rss ${LIMITS.rssMiBPerMin} MiB, heap ${LIMITS.heapMiBPerMin} MiB, handles ${LIMITS.handlesPerMin})`,
    ...textTable(verdicts, VERDICT_COLUMNS),
    legend(VERDICT_COLUMNS),
    '',
    ...wrapParts('records: ', [
      `${manifest.length.toLocaleString('en-US')} over ${sim.shards().length} shards`,
      `${(manifest.length / trafficSeconds).toFixed(1)}/s written (RATE ${RATE})`,
    ]),
    ...wrapParts('workers: ', [
      `${replacements.sigterm} SIGTERM and ${replacements.kill9} kill -9 replacements`,
      `${generation} churn generations`,
      ...(churnRss.length
        ? [`their last RSS ${Math.round(Math.min(...churnRss))}–${Math.round(Math.max(...churnRss))} MiB`]
        : []),
    ]),
    ...wrapParts('audit: ', [
      `lost ${report.lost.length}`,
      `order ${report.orderViolations.length} (shard) / ${report.keyOrderViolations.length} (key)`,
      `child before parent ${report.childBeforeParent.length}`,
      `duplicates ${duplicates.toLocaleString('en-US')}`,
    ]),
    `verdict: ${verdict === TOO_SHORT ? `${TOO_SHORT} (each half of the run is under 5 minutes; run --minutes 10 or more)` : verdict}`,
  ].join('\n'),
);
await sim.stop();
await local.stop();
rmSync(dir, { recursive: true, force: true });
process.exitCode =
  report.lost.length > 0 ||
  report.orderViolations.length > 0 ||
  report.keyOrderViolations.length > 0 ||
  verdict === 'grows'
    ? 1
    : 0;
