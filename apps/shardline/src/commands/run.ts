import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger, type Logger } from '@shardline/core';
import { Worker, type WorkerOptions } from '@shardline/worker';
import { explainStartupError } from '../aws-errors.js';
import { checkRunSettings, loadSettings, runSettingsSchema, type RunSettings } from '../config.js';
import { loadProcessor } from '../processor-loader.js';
import { handleShutdownSignals } from '../signals.js';

/**
 * `shardline run`: one worker in the foreground until SIGTERM/SIGINT. The first signal shuts
 * down gracefully (in-flight batches finished and checkpointed, leases handed off) and exits 0;
 * a second one exits at once (1).
 */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      "Consume a table's stream with a record processor, sharing shards with other `run` processes of the same --app",
    )
    .option('--table <name>', 'table whose (latest) stream to consume')
    .option('--stream-arn <arn>', 'stream ARN to consume (instead of --table)')
    .option('--processor <path>', 'ES module or CommonJS file whose default export is a processor or a factory')
    .option('--app <name>', 'application name: names the lease table shardline-<app> (default: the table name)')
    .option('--endpoint <url>', 'one endpoint for DynamoDB and DynamoDB Streams (DynamoDB Local)')
    .option('--dynamodb-endpoint <url>', 'DynamoDB endpoint (table and lease table)')
    .option('--streams-endpoint <url>', 'DynamoDB Streams endpoint (e.g. the stream simulator)')
    .option('--region <region>', 'AWS region (default: AWS_REGION)')
    .option('--worker-id <id>', 'unique worker name (default: <hostname>-<pid>-<random>)')
    .option(
      '--initial-position <position>',
      'trim_horizon or latest: where a new application starts (default trim_horizon)',
    )
    .option('--health-port <port>', 'serve /healthz, /readyz, /metrics on this port')
    .option('--health-host <host>', 'address for the health server (default 127.0.0.1)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--checkpoint-mode <mode>', 'auto (after each batch) or manual (the processor calls ctx.checkpointer)')
    .option(
      '--checkpoint-interval-ms <ms>',
      'auto mode: at most one checkpoint write per shard per interval (default 1000; 0 = every batch)',
    )
    .option('--key-concurrency <n>', 'process up to n item keys of a shard concurrently (default 1)')
    .option('--batch-size <n>', 'GetRecords limit, 1-1000 (default 1000)')
    .option('--idle-interval-ms <ms>', 'wait after an empty read of an open shard (default 200)')
    .option('--lease-duration-ms <ms>', 'lease duration (default 10000)')
    .option('--heartbeat-interval-ms <ms>', 'heartbeat interval (default lease duration / 5)')
    .option('--shutdown-timeout-ms <ms>', 'graceful shutdown deadline (default 20000)')
    .option(
      '--request-timeout-ms <ms>',
      'AWS request timeout per attempt; a hung request fails and is retried (default 10000)',
    )
    .option('--connection-timeout-ms <ms>', 'AWS connection timeout (default 3000)')
    .option('--max-retries <n>', 'retries of a failing batch (default 3)')
    .option('--bisect-on-error [bool]', 'split a failing batch to isolate the bad record')
    .option('--on-failure <action>', 'destination (store and move on) or stop (stall the shard and alert)')
    .option('--failure-jsonl <path>', 'failure destination: append failed records to this JSONL file')
    .option(
      '--failure-table <name>',
      'failure destination: put failed records into this DynamoDB table (string key "id")',
    )
    .option('--processor-timeout-ms <ms>', 'an attempt of processRecords fails after this (default 60000)')
    .option('--max-record-age-ms <ms>', 'records older than this go to the failure action unprocessed')
    .option('--config <path>', 'JSON file with any of these settings (camelCase keys); flags and SHARDLINE_* env win')
    .allowExcessArguments(false)
    .action(async (flags: Record<string, unknown> & { config?: string }) => {
      const settings = loadSettings(runSettingsSchema, flags, { configPath: flags.config });
      checkRunSettings(settings);
      await run(settings);
    });
}

export function toWorkerOptions(
  settings: RunSettings,
  processor: WorkerOptions['processor'],
  logger: Logger,
): WorkerOptions {
  const destination = settings.failureJsonl
    ? { type: 'jsonl' as const, path: resolve(settings.failureJsonl) }
    : settings.failureTable
      ? { type: 'dynamodb' as const, tableName: settings.failureTable }
      : undefined;
  const defined = <T extends object>(value: T): Partial<T> =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
  const failurePolicy = defined({
    maxRetries: settings.maxRetries,
    bisectOnError: settings.bisectOnError,
    onFailure: settings.onFailure,
    destination,
    processorTimeoutMs: settings.processorTimeoutMs,
    maxRecordAgeMs: settings.maxRecordAgeMs,
  });
  return {
    processor,
    logger,
    ...defined({
      tableName: settings.table,
      streamArn: settings.streamArn,
      applicationName: settings.app,
      endpoint: settings.endpoint,
      dynamodbEndpoint: settings.dynamodbEndpoint,
      streamsEndpoint: settings.streamsEndpoint,
      region: settings.region,
      workerId: settings.workerId,
      initialPosition: settings.initialPosition,
      healthPort: settings.healthPort,
      healthHost: settings.healthHost,
      checkpointMode: settings.checkpointMode,
      checkpointIntervalMs: settings.checkpointIntervalMs,
      keyConcurrency: settings.keyConcurrency,
      batchSize: settings.batchSize,
      idleIntervalMs: settings.idleIntervalMs,
      leaseDurationMs: settings.leaseDurationMs,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      shutdownTimeoutMs: settings.shutdownTimeoutMs,
      requestTimeoutMs: settings.requestTimeoutMs,
      connectionTimeoutMs: settings.connectionTimeoutMs,
    }),
    ...(Object.keys(failurePolicy).length > 0 ? { failurePolicy } : {}),
    processMetrics: settings.healthPort !== undefined,
  };
}

async function run(settings: RunSettings): Promise<void> {
  const processor = await loadProcessor(settings.processor);
  const logger = createLogger({ level: settings.logLevel, base: { app: settings.app ?? settings.table ?? null } });
  const worker = new Worker(toWorkerOptions(settings, processor, logger));
  const log = logger.child({ component: 'cli', workerId: worker.workerId });

  let stopping: Promise<void> | undefined;
  const removeHandlers = handleShutdownSignals({
    graceful: (signal) => {
      log.info({ signal }, 'shutting down gracefully (send the signal again to force)');
      stopping ??= worker.stop();
    },
    force: (signal) => {
      log.warn({ signal }, 'second signal: exiting without finishing the shutdown');
      process.exit(1);
    },
  });
  const stopped = new Promise<void>((resolveStopped) => worker.events.once('worker:stopped', () => resolveStopped()));
  try {
    try {
      await worker.start();
    } catch (err) {
      throw explainStartupError(err, {
        dynamodbEndpoint: settings.dynamodbEndpoint ?? settings.endpoint,
        streamsEndpoint: settings.streamsEndpoint ?? settings.endpoint,
        region: settings.region,
      });
    }
    log.info(
      { streamArn: worker.streamArn, leaseTable: worker.leaseTableName, healthPort: worker.healthPort },
      'worker running; SIGTERM or Ctrl-C to stop',
    );
    // Resolves when a signal's graceful stop (or a stop from elsewhere) completes.
    await stopped;
    await stopping;
  } finally {
    removeHandlers();
  }
}
