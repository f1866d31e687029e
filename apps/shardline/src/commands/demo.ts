import type { Command } from 'commander';
import { z } from 'zod';
import { createDynamoDBClient, createDynamoDBStreamsClient } from '@shardline/worker';
import { listShards } from '@shardline/streams';
import { readLeaseTable } from '@shardline/leases';
import { loadSettings } from '../config.js';
import { handleShutdownSignals } from '../signals.js';
import { loadTestkit } from '../testkit.js';
import { shardStatuses } from './status.js';
import { WorkerFleet } from '../demo/fleet.js';
import { DeliveryLedger, shardKey } from '../demo/ledger.js';
import { runScenario, startFleet } from '../demo/scenario.js';
import { summarize } from '../demo/summary.js';
import { Traffic } from '../demo/traffic.js';
import { ProgressView, type ShardRow } from '../demo/view.js';

const demoSchema = z
  .object({
    duration: z.coerce.number().min(0).default(30),
    rate: z.coerce.number().int().min(1).max(2_000).default(60),
    keys: z.coerce.number().int().min(1).max(100_000).default(100),
    workers: z.coerce.number().int().min(2).max(6).default(3),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('silent'),
  })
  .strict();
type DemoSettings = z.infer<typeof demoSchema>;

/** The one application consuming every demo table; its lease table is `shardline-demo`. */
const APPLICATION_NAME = 'demo';
/** Short leases so the crash is taken over in seconds (the default, 10 s, is for production). */
const LEASE_DURATION_MS = 5_000;
/** The timeline of an open-ended run (`--duration 0`): its steps, then traffic until Ctrl-C. */
const OPEN_ENDED_TIMELINE_MS = 30_000;
/** How long the workers may take to catch up with the last writes (a takeover near the end, on a loaded machine). */
const CATCH_UP_MS = 60_000;

/**
 * `shardline demo`: DynamoDB Local, one table per worker (a stream there has one shard) consumed
 * by one application so that every worker has a shard, traffic, and worker *processes*: rollovers, a rolling deploy, a `kill -9` with
 * the takeover time, then an audit (lost must be 0, each key in order, parents before children).
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'See shardline work: DynamoDB Local, traffic, worker processes, rollovers, a hand-off, a kill -9, and an audit (lost = 0)',
    )
    .option('--duration <seconds>', 'how long to write (default 30; 0 = until Ctrl-C)')
    .option('--rate <n>', 'writes per second over all tables (default 60)')
    .option('--keys <n>', 'distinct item keys per table (default 100)')
    .option('--workers <n>', 'worker processes, and tables (default 3)')
    .option('--log-level <level>', 'worker logs on stderr (default silent)')
    .allowExcessArguments(false)
    .action(async (flags: Record<string, unknown>) => {
      const settings = loadSettings(demoSchema, flags, { env: {} });
      process.exitCode = await runDemo(settings);
    });
}

async function runDemo(settings: DemoSettings): Promise<number> {
  const { createStreamTable, startDynamoDBLocal, JdkMissingError } = await loadTestkit('demo');
  const view = new ProgressView(process.stdout);
  view.note('Starting DynamoDB Local (the real jar, in memory)…');
  // With a JDK at hand, DynamoDB Local's test hooks roll the shards over while the demo runs, so
  // the lineage (a parent finished before its child starts) shows; without one, one shard a table.
  let local: Awaited<ReturnType<typeof startDynamoDBLocal>>;
  try {
    local = await startDynamoDBLocal({ controls: true });
  } catch (err) {
    if (!(err instanceof JdkMissingError)) throw err;
    view.note('(No JDK found: shard rollovers are off, each stream keeps one shard.)');
    local = await startDynamoDBLocal({});
  }
  const clientConfig = {
    endpoint: local.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
  };
  const dynamodb = createDynamoDBClient(clientConfig);
  const streams = createDynamoDBStreamsClient(clientConfig);
  // DynamoDB Local gives a stream one shard: one table per worker, all in one application whose
  // assignment balances their shards over the workers, gives every worker work.
  const tableNames = Array.from({ length: settings.workers }, (_, i) => `shardline-demo-orders-${i + 1}`);
  const leaseTableName = `shardline-${APPLICATION_NAME}`;
  const ledger = new DeliveryLedger();
  const fleet = new WorkerFleet({
    applicationName: APPLICATION_NAME,
    tableNames,
    endpoint: local.endpoint,
    region: clientConfig.region,
    leaseDurationMs: LEASE_DURATION_MS,
    shutdownTimeoutMs: 10_000,
    logLevel: settings.logLevel,
    onMessage: (worker, message) => ledger.record(worker, message),
  });
  const traffic = new Traffic({
    dynamodb,
    tableNames,
    rate: settings.rate,
    keys: settings.keys,
  });
  const stop = new AbortController();
  const removeSignals = handleShutdownSignals({
    graceful: () => stop.abort(),
    force: () => {
      fleet.killAll();
      process.exit(130);
    },
  });
  const started = Date.now();
  let shards: ShardRow[] = [];
  const readShards = async (): Promise<ShardRow[]> => {
    const statuses = await shardStatuses(await readLeaseTable(dynamodb, leaseTableName), undefined);
    shards = statuses.map((s) => {
      const run = ledger.shardRuns.get(shardKey(s.tableName, s.shardId));
      return {
        tableName: s.tableName,
        shardId: s.shardId,
        owner: s.owner,
        state: s.state,
        records: run?.records ?? 0,
        lastLatencyMs: run?.lastLatencyMs ?? null,
      };
    });
    return shards;
  };
  const render = () =>
    view.render({
      elapsedMs: Date.now() - started,
      written: traffic.writes.length,
      processed: ledger.processed,
      duplicates: ledger.duplicates,
      shards,
      workers: fleet.workers.map((w) => ({ ...w, shards: shards.filter((s) => s.owner === w.name).length })),
    });
  let ticker: NodeJS.Timeout | undefined;

  try {
    const created = await Promise.all(
      tableNames.map((name) => createStreamTable(dynamodb, name, { maxWaitSeconds: 30 })),
    );
    await startFleet({ fleet, readShards, signal: stop.signal, view }, settings.workers);
    view.note(
      `${settings.workers} tables on ${local.endpoint}, one application (${APPLICATION_NAME}) consuming them all; ${settings.workers} worker processes started, a shard each; writing ${settings.rate}/s${settings.duration > 0 ? ` for ${settings.duration} s` : ' until Ctrl-C'}.`,
    );
    // DynamoDB Local keeps a database per access key and region: the hint names the demo's.
    view.note(
      `Its lease table, from another terminal:\n  AWS_ACCESS_KEY_ID=${clientConfig.credentials.accessKeyId} AWS_SECRET_ACCESS_KEY=${clientConfig.credentials.secretAccessKey} npx shardline status --app ${APPLICATION_NAME} --endpoint ${local.endpoint} --region ${clientConfig.region}`,
    );
    traffic.start();
    ticker = setInterval(() => void readShards().then(render, () => undefined), view.tty ? 500 : 2_000);
    const scenario = await runScenario({
      fleet,
      ledger,
      view,
      readShards,
      rollover: local.rollover ? () => local.rollover!(clientConfig) : undefined,
      signal: stop.signal,
      durationMs: settings.duration > 0 ? settings.duration * 1_000 : OPEN_ENDED_TIMELINE_MS,
      leaseDurationMs: LEASE_DURATION_MS,
    });
    if (settings.duration === 0 && !stop.signal.aborted)
      await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
    await traffic.stop();
    // Let the workers catch up (bounded), then stop them.
    const unique = new Set(traffic.writes).size;
    const catchUpUntil = Date.now() + CATCH_UP_MS;
    while (ledger.processed < unique && Date.now() < catchUpUntil && !stop.signal.aborted) await pause(100);
    clearInterval(ticker);
    await readShards().then(render, () => undefined);
    view.close();
    await fleet.stopAll();

    const { leases } = await readLeaseTable(dynamodb, leaseTableName);
    // The lineage from the streams themselves: a finished shard's lease may be gone by now.
    const parentOf = new Map<string, string | undefined>();
    for (const { tableName, streamArn } of created)
      for (const shard of await listShards(streams, streamArn))
        parentOf.set(shardKey(tableName, shard.shardId), shard.parentShardId);
    const summary = summarize({
      parentOf,
      writes: traffic.writes,
      tableNames,
      ledger,
      workers: fleet.workers,
      leases,
      scenario,
      leaseDurationMs: LEASE_DURATION_MS,
    });
    process.stdout.write(summary.text);
    return summary.passed ? 0 : 1;
  } finally {
    clearInterval(ticker);
    removeSignals();
    await traffic.stop().catch(() => undefined);
    await fleet.stopAll().catch(() => undefined);
    fleet.killAll();
    dynamodb.destroy();
    streams.destroy();
    await local.stop();
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
