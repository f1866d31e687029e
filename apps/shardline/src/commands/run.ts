import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, createLogger, silentLogger, type Logger } from '@shardline/core';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  applicationNameOf,
  createDynamoDBClient,
  lambdaPayloadBatching,
  lambdaProcessor,
  tableNameFromStreamArn,
  Worker,
  type DestinationOption,
  type FailureDestination,
  type LambdaMappingOptions,
  type WorkerOptions,
} from '@shardline/worker';
import { explainStartupError } from '../aws-errors.js';
import { readingOptions } from '../batching-settings.js';
import {
  addSettingOptions,
  checkRunSettings,
  flagName,
  loadSettings,
  RUN_SETTING_KEYS,
  runSettingsSchema,
  workerOptionOf,
  type RunSettings,
} from '../config.js';
import { UsageError } from '../usage-error.js';
import { workerStatusPage } from '../status-page/worker-page.js';
import { localDefaults } from '../local-endpoint.js';
import { loadProcessor } from '../processor-loader.js';
import { loadHandler } from '../handler-loader.js';
import {
  applyEventSourceMapping,
  lambdaRunParts,
  readEventSourceMapping,
  withHandlerTimeouts,
} from '../lambda-settings.js';
import { handleShutdownSignals } from '../signals.js';
import { withStreamRegion } from '../stream-region.js';

/**
 * `shardline run`: one worker in the foreground until SIGTERM/SIGINT. The first signal shuts
 * down gracefully (in-flight batches finished and checkpointed, leases handed off) and exits 0;
 * a second one exits at once (1).
 */
export function registerRun(program: Command): void {
  const command = program
    .command('run')
    .description(
      "Consume a table's stream with a record processor or a Lambda handler, sharing shards with other `run` processes of the same --app",
    );
  addSettingOptions(command, runSettingsSchema)
    .option('--config <path>', 'JSON file with any of these settings (camelCase keys); flags and SHARDLINE_* env win')
    .allowExcessArguments(false)
    .action(async (flags: Record<string, unknown> & { config?: string }) => {
      let settings = loadSettings(runSettingsSchema, flags, { configPath: flags.config });
      const mapping =
        settings.eventSourceMapping && settings.handler
          ? readEventSourceMapping(settings.eventSourceMapping)
          : undefined;
      if (mapping) settings = applyEventSourceMapping(settings, mapping);
      settings = withStreamRegion(settings, [
        ...(settings.streamArn ?? []),
        ...(settings.streams ?? []).map((entry) => entry.streamArn),
      ]);
      checkRunSettings(settings);
      settings = withHandlerTimeouts(settings);
      await run(settings, mapping);
    });
}

/** The Worker options of a `run`: each set setting goes where its schema entry says. */
export function toWorkerOptions(
  settings: RunSettings,
  processor: WorkerOptions['processor'],
  logger: Logger,
  /** Instead of the built-in one `--failure-jsonl` / `--failure-table` name (a Lambda handler's). */
  failureDestination?: FailureDestination,
  /** The processors of `streams` entries that name one, by table. */
  processors?: WorkerOptions['processors'],
): WorkerOptions {
  const options: Record<string, unknown> = { ...(processor ? { processor } : {}), logger };
  const groups: Record<string, Record<string, unknown>> = {};
  for (const key of RUN_SETTING_KEYS) {
    const path = workerOptionOf(key);
    const value = settings[key];
    if (path === undefined || value === undefined) continue;
    const [group, name] = path.split('.');
    if (name === undefined) options[path] = value;
    else (groups[group!] ??= {})[name] = value;
  }
  const destination: DestinationOption | undefined = failureDestination
    ? failureDestination
    : settings.failureJsonl
      ? { type: 'jsonl' as const, path: resolve(settings.failureJsonl) }
      : settings.failureTable
        ? { type: 'dynamodb' as const, tableName: settings.failureTable }
        : undefined;
  if (destination) (groups.failurePolicy ??= {}).destination = destination;
  // `streams` entries add to --table / --stream-arn (the Worker refuses a stream given twice).
  for (const entry of settings.streams ?? []) {
    if (entry.table !== undefined) options.tables = [...((options.tables as string[] | undefined) ?? []), entry.table];
    else options.streamArns = [...((options.streamArns as string[] | undefined) ?? []), entry.streamArn!];
  }
  if (processors && Object.keys(processors).length > 0) options.processors = processors;
  const { batching, ...grouped } = groups;
  const reading = readingOptions(batching, settings.handler ? lambdaPayloadBatching() : undefined);
  return {
    ...(options as unknown as WorkerOptions),
    ...grouped,
    ...reading,
    ...(reading.reader || grouped.reader ? { reader: { ...grouped.reader, ...reading.reader } } : {}),
    processMetrics: settings.healthPort !== undefined,
  };
}

/**
 * A bad value that only the owning package can judge (a range, a cross-field rule) fails in
 * `new Worker()` with that package's message; name the flag it came from, when one did.
 */
function explainConfigError(err: unknown): unknown {
  if (!(err instanceof ConfigError)) return err;
  for (const key of RUN_SETTING_KEYS) {
    const path = workerOptionOf(key);
    if (path === undefined) continue;
    const name = path.split('.').at(-1)!;
    if (err.message.startsWith(`${path} `) || err.message.startsWith(`${name} `))
      return new UsageError(`${flagName(key)}: ${err.message}`);
  }
  return err;
}

/** Credentials and region for a run against this machine only (see local-endpoint.ts): every client of the run gets the same. */
function runLocalDefaults(settings: RunSettings): ReturnType<typeof localDefaults> {
  return localDefaults(
    [settings.dynamodbEndpoint ?? settings.endpoint, settings.streamsEndpoint ?? settings.endpoint],
    settings.region,
  );
}

/** The processor of a run: the `--processor` module's, or a Lambda handler wrapped by lambdaProcessor. */
async function processorOf(
  settings: RunSettings,
  mapping: LambdaMappingOptions | undefined,
): Promise<{
  processor: WorkerOptions['processor'];
  /** `streams` entries' own processors, by table. */
  processors?: WorkerOptions['processors'];
  destination?: FailureDestination | undefined;
  /** A client the run made for `--failure-table` (destroyed when it ends). */
  client?: DynamoDBClient | undefined;
}> {
  if (!settings.handler) {
    const processors: NonNullable<WorkerOptions['processors']> = {};
    for (const entry of settings.streams ?? []) {
      if (entry.processor === undefined) continue;
      const table = entry.table ?? tableNameFromStreamArn(entry.streamArn!);
      if (table === undefined) throw new UsageError(`streams: cannot tell the table of ${entry.streamArn}`);
      processors[table] = await loadProcessor(entry.processor);
    }
    return {
      processor: settings.processor === undefined ? undefined : await loadProcessor(settings.processor),
      processors,
    };
  }
  const handler = await loadHandler(settings.handler);
  // Lambda's on-failure records go to the table through a client like the worker's own.
  const client = settings.failureTable
    ? createDynamoDBClient({
        endpoint: settings.dynamodbEndpoint ?? settings.endpoint,
        region: settings.region,
        requestTimeoutMs: settings.requestTimeoutMs,
        connectionTimeoutMs: settings.connectionTimeoutMs,
        ...runLocalDefaults(settings),
      })
    : undefined;
  const { processorOptions, destination } = lambdaRunParts(settings, mapping, client);
  try {
    return { processor: lambdaProcessor(handler, processorOptions), destination, client };
  } catch (err) {
    throw err instanceof ConfigError ? new UsageError(`--handler: ${err.message}`) : err;
  }
}

async function run(settings: RunSettings, mapping: LambdaMappingOptions | undefined): Promise<void> {
  const { processor, processors, destination, client } = await processorOf(settings, mapping);
  try {
    await runWorker(settings, mapping, processor, destination, processors);
  } finally {
    client?.destroy();
  }
}

async function runWorker(
  settings: RunSettings,
  mapping: LambdaMappingOptions | undefined,
  processor: WorkerOptions['processor'],
  destination: FailureDestination | undefined,
  processors: WorkerOptions['processors'],
): Promise<void> {
  if (settings.statusPage && settings.healthPort === undefined)
    throw new UsageError("--status-page needs --health-port: the page is served by the worker's health server");
  const options = toWorkerOptions(settings, processor, silentLogger(), destination, processors);
  const app = applicationNameOf(options);
  const logger = createLogger({ level: settings.logLevel, base: app === undefined ? {} : { app } });
  const statusPage = settings.statusPage ? workerStatusPage(settings) : undefined;
  let worker: Worker;
  try {
    worker = new Worker({
      ...options,
      logger,
      ...(statusPage ? { healthRoutes: statusPage.routes } : {}),
      ...runLocalDefaults(settings),
    });
  } catch (err) {
    statusPage?.close();
    throw explainConfigError(err);
  }
  statusPage?.attach(worker);
  const log = logger.child({ component: 'cli', workerId: worker.workerId });
  if (mapping)
    log.info(
      { mapping: mapping.source, streamArn: mapping.eventSourceArn },
      'running a Lambda handler under its event source mapping',
    );

  let stopping: Promise<void> | undefined;
  const removeHandlers = handleShutdownSignals({
    graceful: (reason) => {
      log.info(
        { signal: reason },
        reason === 'parent-exited'
          ? 'the parent process (npm) exited: shutting down gracefully'
          : 'shutting down gracefully (send the signal again to force)',
      );
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
      { streamArns: worker.streamArns, leaseTable: worker.leaseTableName, healthPort: worker.healthPort },
      'worker running; SIGTERM or Ctrl-C to stop',
    );
    // Resolves when a signal's graceful stop (or a stop from elsewhere) completes.
    await stopped;
    await stopping;
  } finally {
    removeHandlers();
    statusPage?.close();
  }
}
