import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { INITIAL_POSITIONS, type InitialPosition } from '@shardline/core';
import { HEARTBEATS_PER_LEASE_DURATION, LEASE_DEFAULTS, type LeaseTuningOptions } from '@shardline/leases';
import { SHARD_READER_DEFAULTS, type ShardReaderTuning } from '@shardline/streams';
import {
  BATCHING_DEFAULTS,
  CLIENT_DEFAULTS,
  LAMBDA_FUNCTION_DEFAULTS,
  WORKER_DEFAULTS,
  type BatchingOptions,
  type FailurePolicyOptions,
  type WorkerOptions,
} from '@shardline/worker';
import { DEFAULT_HANDLER_EXPORT } from './handler-loader.js';
import { UsageError } from './usage-error.js';

/**
 * Settings of `shardline run`, from (lowest to highest precedence) a JSON config file
 * (`--config`), the environment (`SHARDLINE_<FLAG>`), and the command line. This module is the
 * only place in shardline that reads `process.env` for settings.
 *
 * One schema per command says everything about a setting: its type (parsed here), its flag and
 * help text (the commander options are built from it), the Worker option it sets, and the
 * default `--help` shows, taken from the package that owns it. Ranges and cross-field rules
 * are the owning package's (checked when the Worker is built), not restated here.
 */

/** Where a `run` setting goes in `WorkerOptions` (grouped options by their group). */
export type WorkerOptionPath =
  | Exclude<keyof WorkerOptions, 'leases' | 'reader' | 'failurePolicy' | 'metrics' | 'batching'>
  | `metrics.${keyof NonNullable<WorkerOptions['metrics']>}`
  | `leases.${keyof LeaseTuningOptions}`
  | `reader.${keyof ShardReaderTuning}`
  | `batching.${keyof BatchingOptions}`
  | `failurePolicy.${keyof FailurePolicyOptions}`;

export interface SettingMeta {
  /** commander's value placeholder (`<ms>`, `[bool]`); none for a switch. */
  arg?: string;
  /** The flag, when not `--<kebab-case key>` (e.g. `--no-lag`). */
  flag?: string;
  help: string;
  /** The default `--help` shows: the owning package's, never a copy. A zod `.default()` shows by itself. */
  default?: string | number;
  /** The Worker option this setting sets (run only). */
  option?: WorkerOptionPath;
  /** The flag may be given several times (a list: `--table a --table b`; in the environment, comma-separated). */
  repeatable?: boolean;
}

export const settingMeta = z.registry<SettingMeta>();

/** A setting: its schema plus what the CLI says about it. */
export function setting<S extends z.ZodType>(schema: S, meta: SettingMeta): S {
  settingMeta.add(schema, meta);
  return schema;
}

/** A schema's settings, by key. */
function settingsOf(schema: z.ZodObject): Record<string, z.ZodType> {
  return schema.shape;
}

function metaOf(schema: z.ZodObject, key: string): SettingMeta {
  const entry = settingsOf(schema)[key];
  const meta = entry && settingMeta.get(entry);
  if (!meta) throw new Error(`setting ${key} has no flag metadata: declare it with setting()`);
  return meta;
}

/** The text `--help` shows for a setting. */
export function helpText(meta: SettingMeta, schema: z.ZodType): string {
  const shown =
    meta.default ?? (schema instanceof z.ZodDefault ? (schema.def.defaultValue as string | number) : undefined);
  return shown === undefined ? meta.help : `${meta.help} (default ${shown})`;
}

/** Adds one commander option per setting of `schema`, in the schema's order. */
export function addSettingOptions(command: Command, schema: z.ZodObject): Command {
  for (const [key, entry] of Object.entries(settingsOf(schema))) {
    const meta = metaOf(schema, key);
    const flag = meta.flag ?? flagName(key);
    const text = helpText(meta, entry);
    if (meta.repeatable)
      command.option(
        `${flag} ${meta.arg ?? '<value>'}`,
        `${text}; repeatable`,
        collect,
        undefined as unknown as string[],
      );
    else command.option(meta.arg ? `${flag} ${meta.arg}` : flag, text);
  }
  return command;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A list setting: one string (a single flag, or comma-separated in the environment) or an array. */
function listOf<S extends z.ZodType<string>>(item: S) {
  return z.preprocess(
    (value) => (typeof value === 'string' ? value.split(',').map((v) => v.trim()) : value),
    z.array(item).min(1),
  );
}

/** One entry of `streams` (config file): a table or a stream ARN, and optionally its own processor. */
const streamEntry = z
  .object({
    table: z.string().min(1).optional(),
    streamArn: z.string().startsWith('arn:', 'must be a stream ARN').optional(),
    processor: z.string().min(1).optional(),
  })
  .strict()
  .refine((entry) => (entry.table === undefined) !== (entry.streamArn === undefined), {
    message: 'each entry names one of table and streamArn',
  });
export type StreamEntry = z.infer<typeof streamEntry>;

const integer = z.coerce.number().int();
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);
const initialPosition = z
  .string()
  .transform((v) => v.toUpperCase())
  .pipe(z.enum(INITIAL_POSITIONS as [InitialPosition, ...InitialPosition[]]));
const lower = (value: string) => value.toLowerCase();

export const runSettingsSchema = z
  .object({
    table: setting(listOf(z.string().min(1)).optional(), {
      arg: '<name>',
      help: 'table whose (latest) stream to consume; several tables share one application and lease table',
      option: 'tables',
      repeatable: true,
    }),
    streamArn: setting(
      listOf(
        z.string().startsWith('arn:', 'must be a stream ARN (arn:aws:dynamodb:…:table/NAME/stream/LABEL)'),
      ).optional(),
      {
        arg: '<arn>',
        help: 'stream ARN to consume (instead of, or besides, --table)',
        option: 'streamArns',
        repeatable: true,
      },
    ),
    streams: setting(
      z
        .preprocess(
          (value) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value),
          z.array(streamEntry).min(1),
        )
        .optional(),
      {
        arg: '<json>',
        help: 'the streams as a list (usually in --config): [{"table":"a","processor":"./a.mjs"},{"streamArn":"arn:…"}]; an entry\'s processor handles that table only',
      },
    ),
    processor: setting(z.string().min(1).optional(), {
      arg: '<path>',
      help: 'ES module or CommonJS file whose default export is a processor or a factory',
    }),
    handler: setting(z.string().min(1).optional(), {
      arg: '<path[#export]>',
      help: `instead of --processor: a DynamoDB Streams Lambda handler, the export (default "${DEFAULT_HANDLER_EXPORT}") of an ES module or CommonJS file`,
    }),
    eventSourceMapping: setting(z.string().min(1).optional(), {
      arg: '<file.json>',
      help: 'with --handler: what `aws lambda get-event-source-mapping` printed; flags override its fields',
    }),
    reportBatchItemFailures: setting(bool.optional(), {
      arg: '[bool]',
      help: 'with --handler: honour partial batch responses (FunctionResponseTypes ReportBatchItemFailures)',
    }),
    functionName: setting(z.string().min(1).optional(), {
      arg: '<name>',
      help: "with --handler: the function's name in its context",
      default: `the name in the mapping's FunctionArn, or ${LAMBDA_FUNCTION_DEFAULTS.functionName}`,
    }),
    functionTimeoutMs: setting(integer.optional(), {
      arg: '<ms>',
      help: "with --handler: the invocation timeout getRemainingTimeInMillis() counts down to (your function's timeout)",
      default: LAMBDA_FUNCTION_DEFAULTS.timeoutMs,
    }),
    app: setting(z.string().min(1).optional(), {
      arg: '<name>',
      help: 'application name: names the lease table shardline-<app> (default: the table name)',
      option: 'applicationName',
    }),
    endpoint: setting(z.url().optional(), {
      arg: '<url>',
      help: 'one endpoint for DynamoDB and DynamoDB Streams (DynamoDB Local)',
      option: 'endpoint',
    }),
    dynamodbEndpoint: setting(z.url().optional(), {
      arg: '<url>',
      help: 'DynamoDB endpoint (table and lease table)',
      option: 'dynamodbEndpoint',
    }),
    streamsEndpoint: setting(z.url().optional(), {
      arg: '<url>',
      help: 'DynamoDB Streams endpoint (e.g. the stream simulator)',
      option: 'streamsEndpoint',
    }),
    region: setting(z.string().min(1).optional(), {
      arg: '<region>',
      help: 'AWS region (default: AWS_REGION)',
      option: 'region',
    }),
    workerId: setting(z.string().min(1).optional(), {
      arg: '<id>',
      help: 'unique worker name (default: <hostname>-<pid>-<random>)',
      option: 'workerId',
    }),
    initialPosition: setting(initialPosition.optional(), {
      arg: '<position>',
      help: `${INITIAL_POSITIONS.map(lower).join(' or ')}: where a new application starts`,
      default: lower(LEASE_DEFAULTS.initialPosition),
      option: 'leases.initialPosition',
    }),
    healthPort: setting(integer.optional(), {
      arg: '<port>',
      help: 'serve /healthz, /readyz, /metrics on this port',
      option: 'healthPort',
    }),
    healthHost: setting(z.string().min(1).optional(), {
      arg: '<host>',
      help: 'address for the health server',
      default: WORKER_DEFAULTS.healthHost,
      option: 'healthHost',
    }),
    statusPage: setting(bool.optional(), {
      arg: '[bool]',
      help: 'with --health-port: also serve the live status page (lineage, workers, records/s, recent events) at /status',
    }),
    emf: setting(bool.optional(), {
      arg: '[bool]',
      help: 'also write CloudWatch Embedded Metric Format lines to stdout each minute (RecordsProcessed, MillisBehindLatest, LeasesHeld)',
      option: 'metrics.emf',
    }),
    logLevel: setting(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), {
      arg: '<level>',
      help: 'fatal, error, warn, info, debug, trace or silent',
    }),
    checkpointMode: setting(z.enum(['auto', 'manual']).optional(), {
      arg: '<mode>',
      help: 'auto (after each batch) or manual (the processor calls ctx.checkpointer)',
      option: 'checkpointMode',
    }),
    checkpointIntervalMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'auto mode: at most one checkpoint write per shard per interval; 0 = after every batch',
      default: WORKER_DEFAULTS.checkpointIntervalMs,
      option: 'checkpointIntervalMs',
    }),
    keyConcurrency: setting(integer.optional(), {
      arg: '<n>',
      help: 'process up to n item keys of a shard concurrently',
      default: WORKER_DEFAULTS.keyConcurrency,
      option: 'keyConcurrency',
    }),
    batchSize: setting(integer.optional(), {
      arg: '<n>',
      help: 'the most records per processRecords call (per invocation with --handler), 1-10000: up to 1000 one GetRecords answer, above it gathered across answers',
      default: SHARD_READER_DEFAULTS.limit,
      option: 'batching.maxRecords',
    }),
    maxBatchingWindowMs: setting(integer.optional(), {
      arg: '<ms>',
      help: "gather records across GetRecords answers for up to this long before a call, 0-300000 (Lambda's MaximumBatchingWindowInSeconds)",
      default: BATCHING_DEFAULTS.maxWindowMs,
      option: 'batching.maxWindowMs',
    }),
    idleIntervalMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'wait after an empty read of an open shard',
      default: SHARD_READER_DEFAULTS.idleIntervalMs,
      option: 'reader.idleIntervalMs',
    }),
    maxIdleIntervalMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'each further empty read doubles the wait up to this cap (latency after idle vs GetRecords cost)',
      default: SHARD_READER_DEFAULTS.maxIdleIntervalMs,
      option: 'reader.maxIdleIntervalMs',
    }),
    leaseDurationMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'lease duration',
      default: LEASE_DEFAULTS.leaseDurationMs,
      option: 'leases.leaseDurationMs',
    }),
    heartbeatIntervalMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'heartbeat interval; bounds how fast a hand-off completes',
      default: `lease duration / ${HEARTBEATS_PER_LEASE_DURATION}`,
      option: 'leases.heartbeatIntervalMs',
    }),
    streamCheckIntervalMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'how often the leader asks each --table for its latest stream (a re-enabled stream is followed after the old one drained)',
      default: LEASE_DEFAULTS.streamCheckIntervalMs,
      option: 'leases.streamCheckIntervalMs',
    }),
    shutdownTimeoutMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'graceful shutdown deadline',
      default: WORKER_DEFAULTS.shutdownTimeoutMs,
      option: 'shutdownTimeoutMs',
    }),
    requestTimeoutMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'AWS request timeout per attempt; a hung request fails and is retried',
      default: CLIENT_DEFAULTS.requestTimeoutMs,
      option: 'requestTimeoutMs',
    }),
    connectionTimeoutMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'AWS connection timeout',
      default: `${CLIENT_DEFAULTS.connectionTimeoutMs}, or the request timeout when smaller`,
      option: 'connectionTimeoutMs',
    }),
    maxRetries: setting(integer.optional(), {
      arg: '<n>',
      help: 'retries of a failing batch, 0-10000, or -1: until the records expire',
      default: WORKER_DEFAULTS.failurePolicy.maxRetries,
      option: 'failurePolicy.maxRetries',
    }),
    bisectOnError: setting(bool.optional(), {
      arg: '[bool]',
      help: 'split a failing batch to isolate the bad record',
      option: 'failurePolicy.bisectOnError',
    }),
    onFailure: setting(z.enum(['destination', 'stop']).optional(), {
      arg: '<action>',
      help: 'destination (store and move on) or stop (stall the shard and alert)',
      option: 'failurePolicy.onFailure',
    }),
    failureJsonl: setting(z.string().min(1).optional(), {
      arg: '<path>',
      help: 'failure destination: append failed records to this JSONL file',
    }),
    failureTable: setting(z.string().min(1).optional(), {
      arg: '<name>',
      help: 'failure destination: put failed records into this DynamoDB table (string key "id")',
    }),
    processorTimeoutMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'an attempt of processRecords fails after this',
      default: WORKER_DEFAULTS.failurePolicy.processorTimeoutMs,
      option: 'failurePolicy.processorTimeoutMs',
    }),
    maxRecordAgeMs: setting(integer.optional(), {
      arg: '<ms>',
      help: 'records older than this go to the failure action unprocessed',
      option: 'failurePolicy.maxRecordAgeMs',
    }),
  })
  .strict();

export type RunSettings = z.infer<typeof runSettingsSchema>;

/** Flag name (kebab) of each setting: commander's camelCase keys map back to these. */
export const RUN_SETTING_KEYS = Object.keys(runSettingsSchema.shape) as Array<keyof RunSettings>;

/** The Worker option each `run` setting sets, from the schema. */
export function workerOptionOf(key: keyof RunSettings): WorkerOptionPath | undefined {
  return metaOf(runSettingsSchema, key).option;
}

export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function envName(key: string): string {
  return `SHARDLINE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

type Source = 'flag' | 'env' | 'config';

/**
 * Merges config file, environment and flags, then validates. Bad input throws UsageError with
 * one line that names the flag and where the value came from.
 */
export function loadSettings<S extends z.ZodObject>(
  schema: S,
  flags: Record<string, unknown>,
  options: {
    env?: NodeJS.ProcessEnv;
    configPath?: string | undefined;
    cwd?: string;
    /** False for a command without `--config`: SHARDLINE_CONFIG is not read, and no message suggests it. */
    configFile?: boolean;
  } = {},
): z.infer<S> {
  const env = options.env ?? process.env;
  const keys = Object.keys(schema.shape);
  const merged: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const configFile = options.configFile ?? true;
  const configPath = !configFile
    ? undefined
    : (options.configPath ??
      (typeof env.SHARDLINE_CONFIG === 'string' && env.SHARDLINE_CONFIG !== '' ? env.SHARDLINE_CONFIG : undefined));
  if (configPath) {
    const file = readConfigFile(resolve(options.cwd ?? process.cwd(), configPath));
    for (const [key, value] of Object.entries(file)) {
      merged[key] = value;
      sources[key] = `config file ${configPath}`;
    }
  }
  for (const key of keys) {
    const value = env[envName(key)];
    if (value !== undefined && value !== '') {
      merged[key] = value;
      sources[key] = envName(key);
    }
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined || key === 'config') continue;
    merged[key] = value;
    sources[key] = flagName(key);
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      throw new UsageError(
        `unknown setting${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} in ${describeSource('config')}${configPath ? ` ${configPath}` : ''} (known: ${keys.join(', ')})`,
      );
    }
    const key = String(issue.path[0] ?? '');
    const given = sources[key];
    const what =
      given === undefined
        ? `${flagName(key)} is required (or ${envName(key)}${configFile ? `, or "${key}" in --config` : ''})`
        : `${flagName(key)}${given === flagName(key) ? '' : ` (from ${given})`}: ${issue.message}`;
    throw new UsageError(given === undefined ? what : `${what}, got ${JSON.stringify(merged[key])}`);
  }
  return parsed.data;
}

function describeSource(source: Source): string {
  return source === 'config' ? 'the config file' : source;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`config file ${path} must hold a JSON object of settings`);
  return value as Record<string, unknown>;
}

/** Cross-field rules of `run`, after validation. */
export function checkRunSettings(settings: RunSettings): void {
  if (settings.processor && settings.handler) throw new UsageError('give one of --processor and --handler, not both');
  const perStream = settings.streams?.filter((entry) => entry.processor !== undefined) ?? [];
  if (perStream.length > 0 && settings.handler)
    throw new UsageError('a processor per stream (streams[].processor) is for --processor, not --handler');
  const everyStreamHasOne =
    settings.streams !== undefined &&
    perStream.length === settings.streams.length &&
    !settings.table &&
    !settings.streamArn;
  if (!settings.processor && !settings.handler && !everyStreamHasOne)
    throw new UsageError(
      'give --processor PATH (a shardline processor) or --handler PATH[#EXPORT] (a Lambda handler), or SHARDLINE_PROCESSOR / SHARDLINE_HANDLER',
    );
  if (!settings.handler) {
    const lambdaOnly = (
      ['eventSourceMapping', 'reportBatchItemFailures', 'functionName', 'functionTimeoutMs'] as const
    ).find((key) => settings[key] !== undefined);
    if (lambdaOnly)
      throw new UsageError(`${flagName(lambdaOnly)} applies to a Lambda handler: give --handler PATH[#EXPORT]`);
  }
  if (!settings.table && !settings.streamArn && !settings.streams)
    throw new UsageError(
      'give --table NAME or --stream-arn ARN (or SHARDLINE_TABLE / SHARDLINE_STREAM_ARN, or "streams" in --config)',
    );
  if (settings.endpoint && (settings.dynamodbEndpoint || settings.streamsEndpoint)) {
    throw new UsageError('give either --endpoint or --dynamodb-endpoint/--streams-endpoint, not both');
  }
  if (settings.failureJsonl && settings.failureTable)
    throw new UsageError('give one of --failure-jsonl and --failure-table');
  if (settings.onFailure === 'destination' && !settings.failureJsonl && !settings.failureTable) {
    throw new UsageError('--on-failure destination needs --failure-jsonl PATH or --failure-table NAME');
  }
}
