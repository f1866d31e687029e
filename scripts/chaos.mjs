#!/usr/bin/env node
// The chaos suite on real processes: `shardline run` workers (the built CLI) reading the stream
// simulator (lineage churn: a split and a rollover every few seconds), lease table on DynamoDB
// Local, faults from outside. Each scenario is audited against the simulator's manifest (ground
// truth): lost, per-shard order, child-before-parent, duplicates (with their cause), and the
// takeover / resume times it measures. Prints a report; exit 1 if anything was lost or out of order.
//   kill9     3 workers, one killed with SIGKILL every 3 s and restarted
//   sigterm   3 workers, one stopped with SIGTERM every 3 s and restarted
//   lease-blackhole  2 workers; one's lease-table connection blackholed (fault proxy) for
//             2 lease durations while its streams work: it must fence before the other takes over
//   backend-restart  2 workers; their DynamoDB Local (its own, on a --db-path) stopped for 10 s and
//             restarted on the same port and path: the workers ride it out, nothing lost
//   lossy     2 workers; one's lease-table and streams connections both through fault proxies
//             adding 0.3–2 s to every chunk and resetting its connections every 2 s
//   streams-blackhole  2 workers; one's streams connection blackholed for 3 lease durations while
//             its lease table works: it keeps its leases (nobody else reads its shards), then resumes
//   throttled 2 workers; the simulator's service rate limits on (GetRecords 5/s a shard,
//             DescribeStream 10/s) and a storm throttling half of all calls for 2 s in every 5 s
// Run with `npm run chaos` (builds first). SECONDS_PER_SCENARIO=20 by default; SCENARIOS=kill9,sigterm.
// `runChaos` is exported for the short run inside `npm test` (test/chaos.e2e.test.ts).
import './sdk-notice.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { audit, SERVICE_RATE_LIMITS, startDynamoDBLocal, startStreamSimulator } from '@shardline/testkit';
import { alive, readDeliveries, spawnCliWorker } from './cli-workers.mjs';
import { startFaultProxy } from './fault-proxy.mjs';
import { namesFrom, onlyFlags, parseOrExit, positiveNumber } from './script-args.mjs';
import { legend, textTable, wrapParts } from './text-table.mjs';

export const ALL_SCENARIOS = [
  'kill9',
  'sigterm',
  'lease-blackhole',
  'backend-restart',
  'lossy',
  'streams-blackhole',
  'throttled',
];
const LEASE_MS = 3_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const children = new Set();
const killChildren = () => {
  for (const c of children) if (alive(c)) c.kill('SIGKILL');
};
process.on('exit', killChildren);
// Set per run by runChaos.
let SECONDS = 20;
let dir = '';
let local;
let lowUrl;
let accessKeyId = 'chaos';

async function waitFor(condition, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`chaos: timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function scenario(name) {
  const sim = await startStreamSimulator({ shards: 2, seed: name.length });
  const app = `chaos-${name}-${Date.now()}`;
  const files = [];
  const workers = [];
  const proxies = [];
  // backend-restart: a DynamoDB Local of the scenario's own, on disk, so it can be restarted.
  const dbPath = join(dir, `db-${app}`);
  let backend = name === 'backend-restart' ? await startDynamoDBLocal({ dbPath }) : undefined;
  const leaseEndpoint = backend?.endpoint ?? local.endpoint;
  const start = (index, dynamodbEndpoint = leaseEndpoint, streamsEndpoint = sim.endpoint) => {
    const out = join(dir, `${app}-${index}-${workers.filter(Boolean).length}-${Date.now()}.txt`);
    files.push(out);
    const child = spawnCliWorker({
      out,
      accessKeyId,
      debug: Boolean(process.env.CHAOS_DEBUG),
      args: [
        ...['--stream-arn', sim.streamArn, '--streams-endpoint', streamsEndpoint],
        ...['--dynamodb-endpoint', dynamodbEndpoint, '--region', 'us-east-1', '--app', app],
        ...['--worker-id', `w${index}`, '--lease-duration-ms', String(LEASE_MS)],
        ...['--idle-interval-ms', '20', '--checkpoint-interval-ms', '200', '--request-timeout-ms', '2500'],
        ...['--log-level', 'warn'],
      ],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    workers[index] = { child, out };
    return workers[index];
  };
  const count = name === 'kill9' || name === 'sigterm' ? 3 : 2;
  for (let i = 0; i < count; i++) {
    if (name === 'lease-blackhole' && i === 0) {
      const proxy = await startFaultProxy({ host: lowUrl.hostname, port: Number(lowUrl.port) });
      proxies.push(proxy);
      start(i, proxy.endpoint);
    } else if (name === 'streams-blackhole' && i === 0) {
      const simUrl = new URL(sim.endpoint);
      const proxy = await startFaultProxy({ host: simUrl.hostname, port: Number(simUrl.port) });
      proxies.push(proxy);
      start(i, leaseEndpoint, proxy.endpoint);
    } else if (name === 'lossy' && i === 0) {
      const simUrl = new URL(sim.endpoint);
      const leases = await startFaultProxy({ host: lowUrl.hostname, port: Number(lowUrl.port) });
      const streams = await startFaultProxy({ host: simUrl.hostname, port: Number(simUrl.port) });
      proxies.push(leases, streams);
      start(i, leases.endpoint, streams.endpoint);
    } else start(i);
  }
  // Traffic and lineage churn for SECONDS; faults meanwhile.
  let puts = 0;
  const traffic = setInterval(() => {
    for (let k = 0; k < 10; k++) sim.put(`key-${puts++ % 50}`, { n: puts });
  }, 100);
  const churn = setInterval(() => {
    const open = sim.openShardIds();
    if (open.length < 4) sim.split(open[0]);
    else sim.rollover(open[puts % open.length]);
  }, 4_000);
  const figures = {};
  const t0 = Date.now();
  // Past their start-up probes (which fail fast on an unreachable endpoint, by design) and
  // delivering: an outage scenario is about riding out an outage mid-run.
  const everyWorkerDelivering = () =>
    waitFor(() => new Set(readDeliveries(files).map((r) => r.w)).size === count, 60_000, 'every worker delivering');
  if (name === 'kill9' || name === 'sigterm') {
    let kills = 0;
    while (Date.now() - t0 < SECONDS * 1_000) {
      await sleep(3_000);
      const i = kills++ % count;
      const { child } = workers[i];
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(name === 'kill9' ? 'SIGKILL' : 'SIGTERM');
      await exited;
      start(i);
    }
    figures.kills = kills;
  } else if (name === 'backend-restart') {
    // Every worker past its start-up probe (which fails fast on an unreachable endpoint, by design)
    // and delivering before the outage: the scenario is about riding out an outage mid-run.
    await everyWorkerDelivering();
    await sleep(SECONDS * 300);
    await backend.stop();
    await sleep(10_000);
    backend = await startDynamoDBLocal({ dbPath, port: backend.port });
    const restartedAt = Date.now();
    const before = readDeliveries(files).length;
    await waitFor(() => readDeliveries(files).length > before, 60_000, 'deliveries after the restart');
    figures.resumeMs = Date.now() - restartedAt;
    await sleep(Math.max(0, SECONDS * 1_000 - (Date.now() - t0)));
  } else if (name === 'streams-blackhole') {
    await everyWorkerDelivering();
    await sleep(SECONDS * 300);
    const victimShards = new Set(
      readDeliveries(files)
        .filter((r) => r.w === 0 && r.t > Date.now() - 1_000)
        .map((r) => r.shardId),
    );
    const cutAt = Date.now();
    proxies[0].mode('blackhole');
    await sleep(3 * LEASE_MS);
    proxies[0].mode('pass');
    const healAt = Date.now();
    await waitFor(
      () => readDeliveries(files).some((r) => r.w === 0 && r.t > healAt),
      60_000,
      'the cut-off worker delivering again',
    );
    const rows = readDeliveries(files);
    figures.victimShards = victimShards.size;
    // Its leases stay its own: no other worker reads one of its shards while it is cut off.
    figures.takenDuringCut = new Set(
      rows
        .filter((r) => r.w !== 0 && victimShards.has(r.shardId) && r.t >= cutAt && r.t <= healAt)
        .map((r) => r.shardId),
    ).size;
    figures.resumeMs = Math.min(...rows.filter((r) => r.w === 0 && r.t > healAt).map((r) => r.t)) - healAt;
    await sleep(Math.max(0, SECONDS * 1_000 - (Date.now() - t0)));
  } else if (name === 'throttled') {
    sim.faults.limits(SERVICE_RATE_LIMITS);
    let storms = 0;
    while (Date.now() - t0 < SECONDS * 1_000) {
      await sleep(3_000);
      sim.faults.throttle({ rate: 0.5 });
      storms++;
      await sleep(2_000);
      sim.faults.throttle({ rate: 0 });
    }
    sim.faults.limits(undefined);
    figures.storms = storms;
  } else if (name === 'lossy') {
    // Past the start-up probe first (it fails fast on a reset, by design), then lossy.
    await everyWorkerDelivering();
    const lossyFrom = Date.now();
    for (const p of proxies) p.mode({ delayMs: [300, 2_000] });
    while (Date.now() - lossyFrom < SECONDS * 1_000) {
      await sleep(2_000);
      for (const p of proxies) p.resetNow();
    }
    for (const p of proxies) p.mode('pass');
  } else {
    await sleep(SECONDS * 500);
    const rowsBefore = readDeliveries(files);
    const victimShards = new Set(rowsBefore.filter((r) => r.w === 0 && r.t > Date.now() - 1_000).map((r) => r.shardId));
    const cutAt = Date.now();
    if (process.env.CHAOS_KEEP) process.stderr.write(`chaos: cut at ${cutAt}\n`);
    proxies[0].mode('blackhole');
    await sleep(2 * LEASE_MS + 1_000);
    proxies[0].mode('pass');
    const healAt = Date.now();
    await sleep(Math.max(0, SECONDS * 1_000 - (Date.now() - t0)));
    const rows = readDeliveries(files);
    // Overlap: the victim still delivering a shard after another worker started on it, while the
    // partition lasts (it cannot have re-taken the lease then). Once healed it may take shards
    // back through the lease table, a hand-off and not an overlap (counting those made a 6 s
    // "overlap" out of a legitimate re-take in the first long run).
    let overlapMs = 0;
    let takeoverMs = 0;
    let victimStoppedMs = 0;
    for (const shardId of victimShards) {
      const during = rows.filter((r) => r.shardId === shardId && r.t >= cutAt && r.t <= healAt);
      const firstByOther = Math.min(...during.filter((r) => r.w !== 0).map((r) => r.t));
      const lastByVictim = Math.max(...during.filter((r) => r.w === 0).map((r) => r.t), cutAt);
      victimStoppedMs = Math.max(victimStoppedMs, lastByVictim - cutAt);
      if (Number.isFinite(firstByOther)) {
        overlapMs = Math.max(overlapMs, lastByVictim - firstByOther);
        takeoverMs = Math.max(takeoverMs, firstByOther - cutAt);
      }
    }
    figures.victimShards = victimShards.size;
    figures.overlapMs = Math.max(0, overlapMs);
    figures.takeoverMs = takeoverMs;
    figures.victimStoppedMs = victimStoppedMs;
  }
  clearInterval(traffic);
  clearInterval(churn);
  // Drain: every record written delivered (first deliveries), or give up after 60 s.
  const manifest = sim.manifest();
  const drainStart = Date.now();
  await waitFor(
    () => new Set(readDeliveries(files).map((r) => r.sequenceNumber)).size >= manifest.length,
    60_000,
    `${name}: every record delivered`,
  ).catch((err) => console.error(String(err)));
  figures.drainMs = Date.now() - drainStart;
  for (const { child } of workers) if (alive(child)) child.kill('SIGTERM');
  await waitFor(() => workers.every(({ child }) => !alive(child)), 30_000, 'workers stopped').catch(() =>
    killChildren(),
  );
  const delivered = readDeliveries(files);
  const report = audit(manifest, delivered, sim.shards());
  const dupCount = report.duplicates.reduce((n, d) => n + d.count - 1, 0);
  // Cause, where the deliveries tell: a duplicate delivered again by another process (a file is
  // one process) is a hand-off after the previous owner's last checkpoint (a kill, or a fence
  // whose checkpoints could not land); by the same process, a re-read after its own restart of the
  // shard (after a fence it recovered from).
  const byRecord = new Map();
  for (const r of delivered) {
    const k = `${r.shardId}/${r.sequenceNumber}`;
    byRecord.set(k, [...(byRecord.get(k) ?? []), r.w]);
  }
  let handOffDuplicates = 0;
  let sameProcessDuplicates = 0;
  for (const d of report.duplicates) {
    const [first, ...again] = byRecord.get(`${d.shardId}/${d.sequenceNumber}`);
    for (const w of again) {
      if (w === first) sameProcessDuplicates++;
      else handOffDuplicates++;
    }
  }
  const cause = {
    kill9: 'records after the killed worker’s last checkpoint (≤ 200 ms interval)',
    sigterm: 'none expected (graceful hand-off)',
    'lease-blackhole': 'records after the fenced worker’s last checkpoint',
    'backend-restart': 'records after the last checkpoint before the outage',
    lossy: 'checkpoints delayed or reset; fences under 0.3–2 s delays',
    'streams-blackhole': 'none expected (the leases stay put)',
    throttled: 'none expected (throttled calls are retried)',
  }[name];
  await backend?.stop();
  for (const p of proxies) await p.close();
  await sim.stop();
  return {
    scenario: name,
    records: manifest.length,
    shards: sim.shards().length,
    lost: report.lost.length,
    orderViolations: report.orderViolations.length,
    keyOrderViolations: report.keyOrderViolations.length,
    childBeforeParent: report.childBeforeParent.length,
    duplicates: dupCount,
    duplicateCause: dupCount > 0 ? cause : '-',
    handOffDuplicates,
    sameProcessDuplicates,
    ...figures,
  };
}

/**
 * Runs the scenarios one after another and returns one audited row per scenario. Starts its own
 * DynamoDB Local unless `dynamodbEndpoint` is given (the test suite passes its shared one, with a
 * fresh access key, i.e. a database of its own).
 * @param {{ scenarios?: string[], seconds?: number, dynamodbEndpoint?: string, accessKeyId?: string, log?: (line: string) => void }} options
 */
export async function runChaos(options = {}) {
  SECONDS = options.seconds ?? 20;
  accessKeyId = options.accessKeyId ?? 'chaos';
  dir = mkdtempSync(join(tmpdir(), 'shardline-chaos-'));
  const own = options.dynamodbEndpoint ? undefined : await startDynamoDBLocal({});
  local = own ?? { endpoint: options.dynamodbEndpoint };
  lowUrl = new URL(local.endpoint);
  const results = [];
  try {
    for (const name of options.scenarios ?? ALL_SCENARIOS) {
      if (!ALL_SCENARIOS.includes(name)) throw new Error(`chaos: unknown scenario ${name}`);
      options.log?.(`chaos: ${name} (${SECONDS} s)…`);
      results.push(await scenario(name));
    }
  } finally {
    killChildren();
    await own?.stop();
    if (process.env.CHAOS_KEEP) options.log?.(`chaos: delivery files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

/** Rows that fail the suite: anything lost, out of order, a child before its parent, or an overlap. */
export const failures = (results) =>
  results.filter(
    (r) =>
      r.lost > 0 ||
      r.orderViolations > 0 ||
      r.keyOrderViolations > 0 ||
      r.childBeforeParent > 0 ||
      (r.overlapMs ?? 0) > 0 ||
      (r.takenDuringCut ?? 0) > 0,
  );

const CHAOS_COLUMNS = [
  { key: 'scenario', heading: 'scenario', align: 'left' },
  { key: 'records', heading: 'records' },
  { key: 'shards', heading: 'shards' },
  { key: 'lost', heading: 'lost' },
  {
    key: 'orderViolations',
    heading: 'order s/k',
    means: 'per shard / per key',
    format: (value, row) => `${value}/${row.keyOrderViolations}`,
  },
  { key: 'childBeforeParent', heading: 'c<p', means: 'child before parent' },
  { key: 'duplicates', heading: 'dups' },
  { key: 'handOffDuplicates', heading: 'hand-off' },
  { key: 'sameProcessDuplicates', heading: 're-read', means: 'dup by the same process' },
  { key: 'drainMs', heading: 'drain s', format: seconds },
];

/** The scenario-specific figures, by row key: how each is named in the notes under the table. */
const FIGURES = [
  ['kills', 'kills', String],
  ['storms', 'throttle storms', String],
  ['victimShards', 'victim shards', String],
  ['takenDuringCut', 'taken during the cut', String],
  ['overlapMs', 'overlap', (ms) => `${ms} ms`],
  ['victimStoppedMs', 'victim stopped', (ms) => `${seconds(ms)} s`],
  ['takeoverMs', 'takeover', (ms) => `${seconds(ms)} s`],
  ['resumeMs', 'resumed', (ms) => `${seconds(ms)} s`],
];

function seconds(ms) {
  return typeof ms === 'number' ? (ms / 1_000).toFixed(1) : '-';
}

/** The report: an aligned table (≤ 98 columns), its legend, then each scenario's own figures and duplicate cause. */
export function renderChaos(results) {
  const notes = results.flatMap((r) => {
    const figures = FIGURES.filter(([key]) => r[key] !== undefined).map(([key, name, f]) => `${name} ${f(r[key])}`);
    return [
      ...(figures.length > 0 ? wrapParts(`  ${r.scenario}: `, figures) : []),
      ...(r.duplicates > 0
        ? wrapParts(`  ${r.scenario} duplicates: `, r.duplicateCause.split(' '), { separator: ' ' })
        : []),
    ];
  });
  return [...textTable(results, CHAOS_COLUMNS), legend(CHAOS_COLUMNS), ...notes];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { seconds: perScenario, scenarios } = parseOrExit('chaos', () => {
    onlyFlags(process.argv.slice(2), [], 'chaos takes SECONDS_PER_SCENARIO=N and SCENARIOS=a,b from the environment');
    return {
      seconds: positiveNumber('SECONDS_PER_SCENARIO', process.env.SECONDS_PER_SCENARIO, 20),
      scenarios: namesFrom('SCENARIOS', process.env.SCENARIOS, ALL_SCENARIOS),
    };
  });
  const results = await runChaos({
    seconds: perScenario,
    scenarios,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  console.log(renderChaos(results).join('\n'));
  process.exitCode = failures(results).length > 0 ? 1 : 0;
}
