import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from './usage-error.js';

/**
 * Settings of `shardline run`, from (lowest to highest precedence) a JSON config file
 * (`--config`), the environment (`SHARDLINE_<FLAG>`), and the command line. This module is the
 * only place in shardline that reads `process.env` for settings.
 */

const port = z.coerce.number().int().min(0).max(65_535);
const positive = z.coerce.number().int().positive();
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

export const runSettingsSchema = z
  .object({
    table: z.string().min(1).optional(),
    streamArn: z
      .string()
      .startsWith('arn:', 'must be a stream ARN (arn:aws:dynamodb:…:table/NAME/stream/LABEL)')
      .optional(),
    processor: z.string().min(1),
    app: z.string().min(1).optional(),
    endpoint: z.url().optional(),
    dynamodbEndpoint: z.url().optional(),
    streamsEndpoint: z.url().optional(),
    region: z.string().min(1).optional(),
    workerId: z.string().min(1).optional(),
    initialPosition: z
      .string()
      .transform((v) => v.toUpperCase())
      .pipe(z.enum(['TRIM_HORIZON', 'LATEST']))
      .default('TRIM_HORIZON'),
    healthPort: port.optional(),
    healthHost: z.string().min(1).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    checkpointMode: z.enum(['auto', 'manual']).optional(),
    checkpointIntervalMs: z.coerce.number().int().min(0).optional(),
    keyConcurrency: positive.optional(),
    batchSize: z.coerce.number().int().min(1).max(1000).optional(),
    idleIntervalMs: positive.optional(),
    leaseDurationMs: positive.optional(),
    heartbeatIntervalMs: positive.optional(),
    shutdownTimeoutMs: positive.optional(),
    requestTimeoutMs: positive.optional(),
    connectionTimeoutMs: positive.optional(),
    maxRetries: z.coerce.number().int().min(0).optional(),
    bisectOnError: bool.optional(),
    onFailure: z.enum(['destination', 'stop']).optional(),
    failureJsonl: z.string().min(1).optional(),
    failureTable: z.string().min(1).optional(),
    processorTimeoutMs: positive.optional(),
    maxRecordAgeMs: positive.optional(),
  })
  .strict();

export type RunSettings = z.infer<typeof runSettingsSchema>;

/** Flag name (kebab) of each setting: commander's camelCase keys map back to these. */
export const RUN_SETTING_KEYS = Object.keys(runSettingsSchema.shape) as Array<keyof RunSettings>;

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
  options: { env?: NodeJS.ProcessEnv; configPath?: string | undefined; cwd?: string } = {},
): z.infer<S> {
  const env = options.env ?? process.env;
  const keys = Object.keys(schema.shape);
  const merged: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const configPath =
    options.configPath ??
    (typeof env.SHARDLINE_CONFIG === 'string' && env.SHARDLINE_CONFIG !== '' ? env.SHARDLINE_CONFIG : undefined);
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
        ? `${flagName(key)} is required (or ${envName(key)}, or "${key}" in --config)`
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
  if (!settings.table && !settings.streamArn)
    throw new UsageError('give --table NAME or --stream-arn ARN (or SHARDLINE_TABLE / SHARDLINE_STREAM_ARN)');
  if (settings.endpoint && (settings.dynamodbEndpoint || settings.streamsEndpoint)) {
    throw new UsageError('give either --endpoint or --dynamodb-endpoint/--streams-endpoint, not both');
  }
  if (settings.failureJsonl && settings.failureTable)
    throw new UsageError('give one of --failure-jsonl and --failure-table');
  if (settings.onFailure === 'destination' && !settings.failureJsonl && !settings.failureTable) {
    throw new UsageError('--on-failure destination needs --failure-jsonl PATH or --failure-table NAME');
  }
}
