import type { Command } from 'commander';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { createLogger, silentLogger, type Logger } from '@shardline/core';
import { createDynamoDBClient, createDynamoDBStreamsClient, defineProcessor, Worker } from '@shardline/worker';
import { readLeaseTable } from '@shardline/leases';
import { loadSettings } from '../config.js';
import { handleShutdownSignals } from '../signals.js';
import { loadTestkit } from '../testkit.js';

const demoSchema = z
  .object({
    duration: z.coerce.number().min(0).default(20),
    rate: z.coerce.number().int().min(1).max(2_000).default(50),
    keys: z.coerce.number().int().min(1).max(100_000).default(100),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('silent'),
  })
  .strict();
type DemoSettings = z.infer<typeof demoSchema>;

/** How long a timed run may overrun its duration waiting for a shard owner to hand off. */
const HAND_OFF_DEADLINE_MS = 30_000;

interface DemoItem {
  pk: string;
  version: number;
  writtenAt: number;
}

/**
 * `shardline demo`: DynamoDB Local, a table with a stream, a traffic generator and two workers
 * in this process. Half-way through, the worker holding the shard stops gracefully and a fresh
 * one joins (a rolling deploy in miniature). At the end, an audit compares every write with what
 * the processors saw: lost must be 0, and each key's versions must arrive in order.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('See shardline work: DynamoDB Local, traffic, two workers, a hand-off, and an audit (lost = 0)')
    .option('--duration <seconds>', 'how long to write (0 = until Ctrl-C)', undefined)
    .option('--rate <n>', 'writes per second (default 50)')
    .option('--keys <n>', 'distinct item keys written to (default 100)')
    .option('--log-level <level>', 'worker logs on stderr (default silent)')
    .allowExcessArguments(false)
    .action(async (flags: Record<string, unknown>) => {
      const settings = loadSettings(demoSchema, flags, { env: {} });
      process.exitCode = await runDemo(settings);
    });
}

async function runDemo(settings: DemoSettings): Promise<number> {
  const { createStreamTable, startDynamoDBLocal, JdkMissingError } = await loadTestkit('demo');
  const out = process.stdout;
  const tty = out.isTTY === true;
  const logger = settings.logLevel === 'silent' ? silentLogger() : createLogger({ level: settings.logLevel });
  out.write('Starting DynamoDB Local (the real jar, in memory)…\n');
  // With a JDK at hand, DynamoDB Local's test hooks roll the shards over while the demo runs, so
  // the lineage (a parent finished before its child starts) shows; without one, one shard.
  let local: Awaited<ReturnType<typeof startDynamoDBLocal>>;
  try {
    local = await startDynamoDBLocal({ controls: true });
  } catch (err) {
    if (!(err instanceof JdkMissingError)) throw err;
    out.write('(No JDK found: shard rollovers are off, the stream keeps one shard.)\n');
    local = await startDynamoDBLocal({});
  }
  const clientConfig = {
    endpoint: local.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
  };
  const dynamodb = createDynamoDBClient(clientConfig);
  const streams = createDynamoDBStreamsClient(clientConfig);
  const tableName = 'shardline-demo-orders';
  const workers: Worker<DemoItem>[] = [];
  const seen = new Map<string, string[]>(); // worker → keys#version, in delivery order
  const firstSeen = new Map<string, number>(); // key#version → latency ms
  const latencies: number[] = [];
  let written = 0;
  let lastLatency = 0;
  const writes: string[] = [];
  // Per shard: who processed it, and the delivery order of its first and last record (a global
  // counter), to check that no child record came before its parent's last.
  const shardRuns = new Map<string, { workers: Set<string>; first: number; last: number; records: number }>();
  let delivery = 0;

  try {
    await createStreamTable(dynamodb, tableName, { maxWaitSeconds: 30 });

    let nextWorker = 1;
    const startWorker = async () => {
      const name = `worker-${nextWorker++}`;
      const log: string[] = [];
      seen.set(name, log);
      const worker = new Worker<DemoItem>({
        tableName,
        applicationName: 'demo',
        workerId: name,
        dynamodb,
        streams,
        logger: logger.child({ workerId: name }),
        leases: { leaseDurationMs: 5_000 },
        shutdownTimeoutMs: 10_000,
        processor: defineProcessor<DemoItem>({
          processRecords: ({ records, shardId }) => {
            const now = Date.now();
            const run = shardRuns.get(shardId) ?? { workers: new Set(), first: delivery, last: delivery, records: 0 };
            shardRuns.set(shardId, run);
            run.workers.add(name);
            run.records += records.length;
            run.last = delivery += records.length;
            for (const record of records) {
              const item = record.newItem;
              if (!item) continue;
              const id = `${item.pk}#${item.version}`;
              log.push(id);
              if (!firstSeen.has(id)) {
                lastLatency = now - item.writtenAt;
                firstSeen.set(id, lastLatency);
                latencies.push(lastLatency);
              }
            }
          },
        }),
      });
      workers.push(worker);
      await worker.start();
      return worker;
    };
    await startWorker();
    await startWorker();
    out.write(
      `Table ${tableName} on ${local.endpoint}; 2 workers started; writing ${settings.rate}/s${settings.duration > 0 ? ` for ${settings.duration} s` : ' until Ctrl-C'}.\n`,
    );

    // Traffic: `rate` writes per second over `keys` keys, each with an increasing version.
    const versions = new Map<string, number>();
    const stop = new AbortController();
    const removeSignals = handleShutdownSignals({
      graceful: () => stop.abort(),
      force: () => process.exit(130),
    });
    const started = Date.now();
    const durationMs = settings.duration * 1_000;
    let handedOff = false;
    // Rollovers at these fractions of the run; the hand-off is at one half.
    const rollovers = local.rollover && durationMs > 0 ? [0.25, 0.6, 0.85] : [];
    let rolled = 0;
    const progress = setInterval(
      () => {
        const line = progressLine(written, firstSeen.size, lastLatency, workers);
        if (tty) out.write(`\r\x1b[2K${line}`);
        else out.write(`${line}\n`);
      },
      tty ? 250 : 2_000,
    );
    try {
      // A timed run does not end before its hand-off: on a loaded machine the shard may still be
      // unowned after a rollover when the time is up, so traffic goes on until an owner exists.
      const running = () =>
        durationMs === 0 ||
        Date.now() - started < durationMs ||
        (!handedOff && Date.now() - started < durationMs + HAND_OFF_DEADLINE_MS);
      while (!stop.signal.aborted && running()) {
        const tickStart = Date.now();
        const batch = Math.min(settings.keys, Math.max(1, Math.round(settings.rate / 10)));
        // Distinct keys within a tick: two concurrent writes to one key could land in either order.
        const tickKeys = new Set<string>();
        while (tickKeys.size < batch) tickKeys.add(`order-${Math.floor(Math.random() * settings.keys)}`);
        await Promise.all(
          [...tickKeys].map(async (pk) => {
            const version = (versions.get(pk) ?? 0) + 1;
            versions.set(pk, version);
            writes.push(`${pk}#${version}`);
            await dynamodb.send(
              new PutItemCommand({
                TableName: tableName,
                Item: { pk: { S: pk }, version: { N: String(version) }, writtenAt: { N: String(Date.now()) } },
              }),
            );
            written++;
          }),
        );
        // Half-way: a rolling deploy. The shard's owner stops gracefully, a new worker joins.
        // Right after a rollover the child may be unowned for a moment: wait for an owner.
        const owner =
          !handedOff && durationMs > 0 && Date.now() - started > durationMs / 2
            ? workers.find((w) => w.state === 'running' && w.shardIds.length > 0)
            : undefined;
        if (owner) {
          handedOff = true;
          if (tty) out.write('\n');
          out.write(
            `Rolling deploy: stopping ${owner.workerId} gracefully (its shard is handed off), starting a new worker.\n`,
          );
          void owner.stop();
          await startWorker();
        }
        if (rolled < rollovers.length && Date.now() - started > durationMs * rollovers[rolled]!) {
          rolled++;
          if (tty) out.write('\n');
          out.write(
            `Shard rollover ${rolled}: the open shard closes and a child takes new writes; the child is read only after its parent is finished.\n`,
          );
          await local.rollover!(clientConfig);
        }
        await sleep(Math.max(0, 100 - (Date.now() - tickStart)));
      }
      // Let the workers catch up (bounded), then stop them.
      const catchUpUntil = Date.now() + 30_000;
      while (firstSeen.size < new Set(writes).size && Date.now() < catchUpUntil && !stop.signal.aborted)
        await sleep(100);
    } finally {
      clearInterval(progress);
      removeSignals();
    }
    if (tty) out.write(`\r\x1b[2K${progressLine(written, firstSeen.size, lastLatency, workers)}\n`);
    await Promise.all(workers.map((w) => w.stop()));

    const report = auditDemo(writes, seen);
    const lineage = await readLeaseTable(dynamodb, 'shardline-demo');
    const parentsFirst = lineage.leases.every((lease) =>
      lease.parentShardIds.every((parent) => {
        const child = shardRuns.get(lease.shardId);
        const before = shardRuns.get(parent);
        return !child || !before || before.last <= child.first;
      }),
    );
    // Finished parents whose children are done may already be gone from the lease table: list
    // every shard a processor saw too, in the order their records were first delivered.
    const leaseOf = new Map(lineage.leases.map((lease) => [lease.shardId, lease]));
    const shardIds = [...new Set([...shardRuns.keys(), ...leaseOf.keys()])].sort(
      (a, b) => (shardRuns.get(a)?.first ?? Infinity) - (shardRuns.get(b)?.first ?? Infinity),
    );
    const lineageLines = shardIds.map((shardId) => {
      const lease = leaseOf.get(shardId);
      const run = shardRuns.get(shardId);
      const parents = lease?.parentShardIds ?? [];
      const parent = parents.length > 0 ? ` (child of …${parents.map((id) => id.slice(-8)).join(', …')})` : '';
      const state =
        lease === undefined ? 'finished, lease removed' : lease.checkpoint === 'SHARD_END' ? 'finished' : 'open';
      return `    …${shardId.slice(-8)}${parent}: ${run?.records ?? 0} records by ${run ? [...run.workers].join(' then ') : 'nobody yet'}, ${state}`;
    });
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
    out.write(
      [
        '',
        'Summary',
        `  written     ${writes.length}`,
        `  processed   ${report.processed} (unique), ${report.deliveries} deliveries, ${report.duplicates} duplicate(s)`,
        `  lost        ${report.lost.length}${report.lost.length > 0 ? `  e.g. ${report.lost.slice(0, 5).join(', ')}` : ''}`,
        `  out of order ${report.outOfOrder}`,
        `  latency     p50 ${pct(50)} ms, p99 ${pct(99)} ms (write → processor)`,
        `  per worker  ${[...seen].map(([name, log]) => `${name}: ${log.length}`).join(', ')}   (deliveries each worker's processor got)`,
        `  shards      ${shardIds.length} in the lineage${rolled > 0 ? `, after ${rolled} rollover(s)` : ''}; parents finished before their children started: ${parentsFirst ? 'yes' : 'NO'}`,
        ...lineageLines,
        '  (written: distinct writes; processed: distinct ones a processor got, deliveries counting repeats;',
        '   duplicates: repeats, expected only after a crash; lost: written but never delivered; out of order:',
        '   a key whose versions arrived out of sequence; latency: item write to processor call, measured with',
        '   a timestamp in each item.)',
        report.lost.length === 0 && report.outOfOrder === 0 && parentsFirst
          ? 'Audit passed: every write was processed, each key in order.'
          : 'AUDIT FAILED',
        '',
      ].join('\n'),
    );
    return report.lost.length === 0 && report.outOfOrder === 0 && parentsFirst ? 0 : 1;
  } finally {
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    dynamodb.destroy();
    streams.destroy();
    await local.stop();
  }
}

function progressLine(written: number, processed: number, lagMs: number, workers: Worker<DemoItem>[]): string {
  const leases = workers
    .map((w) => `${w.workerId}${w.state === 'running' ? '' : `(${w.state})`}=${w.shardIds.length}`)
    .join(' ');
  return `written ${written}  processed ${processed}  lag ${lagMs} ms  leases ${leases}`;
}

/** Every write seen at least once, and each key's versions first seen in increasing order. */
export function auditDemo(
  writes: string[],
  seen: Map<string, string[]>,
): { processed: number; deliveries: number; duplicates: number; lost: string[]; outOfOrder: number } {
  const delivered = new Set<string>();
  let deliveries = 0;
  let outOfOrder = 0;
  const lastVersion = new Map<string, number>();
  for (const log of seen.values()) {
    for (const id of log) {
      deliveries++;
      if (delivered.has(id)) continue;
      delivered.add(id);
      const [pk, version] = id.split('#') as [string, string];
      if ((lastVersion.get(pk) ?? 0) > Number(version)) outOfOrder++;
      lastVersion.set(pk, Number(version));
    }
  }
  const lost = writes.filter((id) => !delivered.has(id));
  return { processed: delivered.size, deliveries, duplicates: deliveries - delivered.size, lost, outOfOrder };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type { Logger };
