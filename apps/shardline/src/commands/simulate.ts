import { existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { createLogger, isLogLevel, LOG_LEVELS, type LogLevel } from '@shardline/core';
import { isTableName } from '@shardline/leases';
import type { ManifestEntry, StreamViewType } from '@shardline/testkit';
import { loadTestkit } from '../testkit.js';
import { handleShutdownSignals, type ShutdownReason } from '../signals.js';
import { UsageError } from '../usage-error.js';

interface SimulateFlags {
  port: string;
  table: string;
  shards: string;
  rate: string;
  keys: string;
  rolloverEvery?: string;
  splitEvery?: string;
  throttleRate?: string;
  serviceLimits?: boolean;
  viewType: string;
  manifest?: string;
  seed: string;
  logLevel: string;
}

export interface SimulateOptions {
  port: number;
  table: string;
  shards: number;
  ratePerSecond: number;
  keys: number;
  rolloverEveryMs: number | undefined;
  splitEveryMs: number | undefined;
  throttleRate: number | undefined;
  serviceLimits: boolean;
  viewType: StreamViewType;
  manifestPath: string | undefined;
  seed: number;
  logLevel: LogLevel;
}

const VIEW_TYPES: readonly StreamViewType[] = ['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES'];

/**
 * `shardline simulate`: the testkit's DynamoDB Streams simulator in the foreground, with
 * generated traffic and scheduled rollovers and splits, so a worker (or any Streams client) can
 * be pointed at a stream whose lineage changes while it runs. On SIGINT/SIGTERM it stops and
 * writes the manifest of every record written, for `audit()`.
 */
export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('Run the DynamoDB Streams simulator with generated traffic, rollovers, splits and throttling')
    .requiredOption('--port <port>', 'port to listen on (127.0.0.1; 0 picks a free one)')
    .option('--table <name>', 'table name in the stream ARN', 'shardline-sim')
    .option('--shards <n>', 'open shards at start', '1')
    .option('--rate <writes>', 'generated writes per second (0: none)', '10')
    .option('--keys <n>', 'distinct item keys the traffic writes', '100')
    .option('--rollover-every <seconds>', 'roll every open shard over once it is this old')
    .option('--split-every <seconds>', 'split the open shard with the widest key range this often')
    .option('--throttle-rate <fraction>', 'answer this fraction of calls (0 to 1) with LimitExceededException')
    .option(
      '--service-limits',
      'throttle beyond the service call rates: ListStreams 5/s, DescribeStream 10/s, GetRecords 5/s per shard',
    )
    .option('--view-type <type>', `stream view type: ${VIEW_TYPES.join(', ')}`, 'NEW_AND_OLD_IMAGES')
    .option('--manifest <file>', 'on exit, write every record written to this file as JSON lines')
    .option('--seed <n>', 'seed for shard ids, keys and faults', '1')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')}`, 'info')
    .action(async (flags: SimulateFlags) => {
      await runSimulate(parseSimulateFlags(flags));
    });
}

export function parseSimulateFlags(flags: SimulateFlags): SimulateOptions {
  const port = integer('--port', flags.port, 0, 65_535);
  if (!isTableName(flags.table)) {
    throw new UsageError(`--table must be a DynamoDB table name (3-255 of a-z A-Z 0-9 _ - .), got "${flags.table}"`);
  }
  const throttleRate = flags.throttleRate === undefined ? undefined : decimal('--throttle-rate', flags.throttleRate);
  if (throttleRate !== undefined && throttleRate > 1)
    throw new UsageError(`--throttle-rate must be a fraction from 0 to 1, got "${flags.throttleRate}"`);
  const seconds = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const parsed = decimal(name, value);
    if (parsed === 0) throw new UsageError(`${name} must be more than 0 seconds, got "${value}"`);
    return Math.round(parsed * 1000);
  };
  if (!(VIEW_TYPES as readonly string[]).includes(flags.viewType)) {
    throw new UsageError(`--view-type must be one of ${VIEW_TYPES.join(', ')}, got "${flags.viewType}"`);
  }
  if (!isLogLevel(flags.logLevel))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${flags.logLevel}"`);
  let manifestPath: string | undefined;
  if (flags.manifest !== undefined) {
    if (flags.manifest === '') throw new UsageError('--manifest needs a file path');
    manifestPath = resolve(flags.manifest);
    const dir = dirname(manifestPath);
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new UsageError(`--manifest: directory ${dir} does not exist`);
  }
  return {
    port,
    table: flags.table,
    shards: integer('--shards', flags.shards, 1, 10_000),
    ratePerSecond: decimal('--rate', flags.rate),
    keys: integer('--keys', flags.keys, 1, 10_000_000),
    rolloverEveryMs: seconds('--rollover-every', flags.rolloverEvery),
    splitEveryMs: seconds('--split-every', flags.splitEvery),
    throttleRate,
    serviceLimits: flags.serviceLimits === true,
    viewType: flags.viewType as StreamViewType,
    manifestPath,
    seed: integer('--seed', flags.seed, 0, 2 ** 31 - 1),
    logLevel: flags.logLevel,
  };
}

function integer(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}

function decimal(name: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`${name} must be a number >= 0, got "${value}"`);
  return Number(value);
}

async function runSimulate(options: SimulateOptions): Promise<void> {
  const { SERVICE_RATE_LIMITS, startStreamSimulator } = await loadTestkit('simulate');
  // Logs go to stderr: stdout carries the lines a user copies.
  const log = createLogger({
    level: options.logLevel,
    base: { component: 'simulate' },
    destination: pino.destination({ fd: 2, sync: true }),
  });
  const sim = await startStreamSimulator({
    port: options.port,
    tableName: options.table,
    shards: options.shards,
    viewType: options.viewType,
    seed: options.seed,
  }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new UsageError(`--port ${options.port} is already in use`);
    throw err;
  });
  if (options.throttleRate !== undefined) sim.faults.throttle({ rate: options.throttleRate });
  if (options.serviceLimits) sim.faults.limits(SERVICE_RATE_LIMITS);
  // sim.stop() stops the schedule too.
  sim.schedule({
    writesPerSecond: options.ratePerSecond,
    keys: options.keys,
    ...(options.rolloverEveryMs === undefined ? {} : { rolloverEveryMs: options.rolloverEveryMs }),
    ...(options.splitEveryMs === undefined ? {} : { splitEveryMs: options.splitEveryMs }),
  });
  const every = (ms: number | undefined) => (ms === undefined ? 'never' : `every ${ms / 1000} s`);
  process.stdout.write(
    [
      `endpoint   ${sim.endpoint}`,
      `streamArn  ${sim.streamArn}`,
      `DynamoDB Streams simulator: table ${sim.tableName}, ${options.shards} shard(s), ${options.viewType}, ` +
        `${options.ratePerSecond} writes/s over ${options.keys} keys, rollover ${every(options.rolloverEveryMs)}, split ${every(options.splitEveryMs)}` +
        (options.throttleRate === undefined ? '' : `, throttling ${options.throttleRate * 100}% of calls`) +
        (options.serviceLimits ? ', service call-rate limits' : '') +
        '.',
      'Point a worker at it with:',
      `  export SHARDLINE_STREAM_ARN=${sim.streamArn}`,
      `  export SHARDLINE_STREAMS_ENDPOINT=${sim.endpoint}`,
      `  export AWS_ENDPOINT_URL_DYNAMODB_STREAMS=${sim.endpoint}`,
      '  export SHARDLINE_DYNAMODB_ENDPOINT=http://127.0.0.1:8000   # the lease table: `shardline local` listens here',
      '  export AWS_REGION=us-east-1',
      '  export AWS_ACCESS_KEY_ID=local',
      '  export AWS_SECRET_ACCESS_KEY=local',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  // The shared handling: a second signal exits at once, and under npm (`npx shardline simulate`)
  // the parent's exit stops it too, so a supervisor's SIGTERM to npx leaves no orphan behind.
  let removeHandlers = () => {};
  const signal = await new Promise<ShutdownReason>((resolveSignal) => {
    removeHandlers = handleShutdownSignals({ graceful: resolveSignal, force: () => process.exit(130) });
  });
  removeHandlers();
  // The user asked for it: the "Simulator stopped" line says it, once.
  log.debug({ signal }, 'stopping the simulator');
  await sim.stop();
  const manifest = sim.manifest();
  if (options.manifestPath) {
    await writeFile(options.manifestPath, manifestLines(manifest));
    log.debug({ path: options.manifestPath, records: manifest.length }, 'manifest written');
  }
  process.stdout.write(
    `Simulator stopped: ${manifest.length} records written over ${plural(sim.shards().length, 'shard')}` +
      (options.manifestPath ? `; manifest in ${options.manifestPath}` : '') +
      '.\n',
  );
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function manifestLines(manifest: readonly ManifestEntry[]): string {
  let out = '';
  for (const entry of manifest) out += `${JSON.stringify(entry)}\n`;
  return out;
}
