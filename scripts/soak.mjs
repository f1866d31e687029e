#!/usr/bin/env node
// Soak on real processes: `shardline run` workers (the built CLI) read the stream simulator
// (steady traffic, 250 records/s, lease table on DynamoDB Local) for --minutes N. Two workers
// stay up the whole run ("stayers", the ones measured for growth); a third slot is replaced
// every REPLACE_MS (20 s), alternately by SIGTERM (graceful hand-off) and by kill -9, so the
// stayers keep taking and handing back shards. Each worker's memory, handles and event-loop delay
// come from its own /metrics (prom-client's default metrics, on with --health-port), scraped
// every SAMPLE_MS: the harness (simulator, audit) runs in this process and is never measured, and
// the workers hold no audit state (the processor appends to a file, read here at the end).
// Prints a per-interval table, a growth verdict per stayer (least-squares slope over the last
// half of the run against thresholds) and an audit against the simulator's manifest.
// `npm run soak -- --minutes 30`; exit 1 when something was lost or a stayer grew.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { audit, startDynamoDBLocal, startStreamSimulator } from '@shardline/testkit';
import { alive, exited, readDeliveries, spawnCliWorker } from './cli-workers.mjs';

const at = process.argv.indexOf('--minutes');
const MINUTES = Number(at > 0 ? process.argv[at + 1] : (process.env.MINUTES ?? 30));
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 30_000);
const REPLACE_MS = Number(process.env.REPLACE_MS ?? 20_000);
/** Growth over the last half of the run above these slopes fails the verdict. */
const LIMITS = { rssMiBPerMin: 1, heapMiBPerMin: 0.5, handlesPerMin: 0.5 };
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

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
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

const samples = [];
async function sampleAll(minute) {
  for (const w of workers.values()) {
    if (!alive(w.child)) continue;
    const s = await scrape(w.port).catch(() => undefined);
    if (s) samples.push({ minute, worker: w.name, slot: w.slot, ...s });
  }
  const row = (w) => samples.filter((s) => s.minute === minute && s.worker === w);
  const line = [...workers.values()]
    .filter((w) => w.slot !== 'churn' || row(w.name).length > 0)
    .flatMap((w) =>
      row(w.name).map(
        (s) =>
          `${s.worker.padEnd(9)} rss ${s.rssMiB.toFixed(0).padStart(4)} MiB  heap ${s.heapMiB.toFixed(1).padStart(5)} MiB  handles ${String(s.handles).padStart(3)}  loop p99 ${s.loopP99Ms.toFixed(1).padStart(6)} ms max ${s.loopMaxMs.toFixed(0).padStart(4)} ms`,
      ),
    );
  console.log(`t=${minute.toFixed(1).padStart(5)} min  ${line.join('\n                 ')}`);
}

await Promise.all([start('w0'), start('w1'), start('churn')]);
let puts = 0;
const traffic = setInterval(() => {
  for (let k = 0; k < 5; k++) sim.put(`key-${puts++ % 200}`, { n: puts });
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
  const late = mine.filter((s) => s.minute >= MINUTES / 2);
  const per = (key) => slope(late.map((s) => ({ x: s.minute, y: s[key] })));
  const v = {
    worker,
    samples: mine.length,
    rssMiB: `${mine[0].rssMiB.toFixed(0)} → ${mine.at(-1).rssMiB.toFixed(0)}`,
    heapMiB: `${mine[0].heapMiB.toFixed(1)} → ${mine.at(-1).heapMiB.toFixed(1)}`,
    handles: `${mine[0].handles} → ${mine.at(-1).handles}`,
    loopP99MaxMs: Math.max(...mine.map((s) => s.loopP99Ms)).toFixed(1),
    rssSlope: per('rssMiB'),
    heapSlope: per('heapMiB'),
    handlesSlope: per('handles'),
  };
  v.flat =
    v.rssSlope <= LIMITS.rssMiBPerMin && v.heapSlope <= LIMITS.heapMiBPerMin && v.handlesSlope <= LIMITS.handlesPerMin;
  return v;
});
const churnLast = new Map();
for (const s of samples.filter((x) => x.slot === 'churn')) churnLast.set(s.worker, s);
const churnRss = [...churnLast.values()].map((s) => s.rssMiB);
console.log('\nGrowth over the last half (slopes per minute; limits', JSON.stringify(LIMITS), ')');
console.table(
  verdicts.map((v) => ({
    ...v,
    rssSlope: v.rssSlope.toFixed(2),
    heapSlope: v.heapSlope.toFixed(2),
    handlesSlope: v.handlesSlope.toFixed(2),
  })),
);
const summary = {
  minutes: MINUTES,
  records: manifest.length,
  shards: sim.shards().length,
  replacements,
  churnGenerations: generation,
  churnLastRssMiB: churnRss.length ? [Math.min(...churnRss), Math.max(...churnRss)].map((x) => Math.round(x)) : [],
  lost: report.lost.length,
  orderViolations: report.orderViolations.length,
  keyOrderViolations: report.keyOrderViolations.length,
  childBeforeParent: report.childBeforeParent.length,
  duplicates: report.duplicates.reduce((n, d) => n + d.count - 1, 0),
  verdict: verdicts.every((v) => v.flat) ? 'flat' : 'GROWS',
};
console.log(JSON.stringify(summary));
await sim.stop();
await local.stop();
rmSync(dir, { recursive: true, force: true });
process.exitCode = summary.lost > 0 || summary.orderViolations > 0 || summary.verdict !== 'flat' ? 1 : 0;
