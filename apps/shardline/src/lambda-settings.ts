import { readFileSync } from 'node:fs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { resolve } from 'node:path';
import {
  InvocationLedger,
  LAMBDA_FUNCTION_DEFAULTS,
  LambdaFailureDestination,
  lambdaProcessorOptionsFromMapping,
  lanesWithWindowRefusal,
  parseEventSourceMapping,
  type LambdaFunctionOptions,
  type LambdaMappingOptions,
  type LambdaProcessorOptions,
  WORKER_DEFAULTS,
} from '@shardline/worker';
import type { RunSettings } from './config.js';
import { UsageError } from './usage-error.js';

/**
 * `shardline run --handler … --event-source-mapping FILE.json`: the mapping's fields become
 * `run` settings wherever no flag, environment variable or config key set them (flags override
 * the file), and what only the Lambda processor honours (filters, tumbling windows, partial
 * batch responses, the function's name) becomes its options. `parseEventSourceMapping` (in
 * @shardline/worker) owns the file's grammar and refusals; this module refuses only what the
 * CLI's worker cannot do yet, one line each, never ignoring a field.
 */

export function readEventSourceMapping(path: string, cwd = process.cwd()): LambdaMappingOptions {
  const absolute = resolve(cwd, path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read --event-source-mapping ${absolute}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return parseEventSourceMapping(text);
}

/** The settings with the mapping's fields under them; throws UsageError for a field not honoured yet. */
export function applyEventSourceMapping(settings: RunSettings, mapping: LambdaMappingOptions): RunSettings {
  const out: RunSettings = { ...settings };
  if (mapping.parallelizationFactor > 1 && mapping.tumblingWindowMs > 0)
    throw new UsageError(`event source mapping: ${lanesWithWindowRefusal(mapping.parallelizationFactor)}`);
  if (!out.table && !out.streamArn && !out.streams) out.streamArn = [mapping.eventSourceArn];
  out.initialPosition ??= mapping.startingPosition;
  // Above GetRecords' 1,000, or with a window, the worker gathers across reads (batching-settings.ts).
  out.batchSize ??= mapping.batchSize;
  out.maxBatchingWindowMs ??= mapping.maxBatchingWindowMs;
  // Lambda's -1 (until the records expire) is the failure policy's -1.
  out.maxRetries ??= mapping.maxRetryAttempts ?? -1;
  out.maxRecordAgeMs ??= mapping.maxRecordAgeMs;
  out.bisectOnError ??= mapping.bisectBatchOnFunctionError;
  out.reportBatchItemFailures ??= mapping.reportBatchItemFailures;
  return out;
}

/** `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` → NAME and QUALIFIER. */
function parseFunctionArn(arn: string | undefined): { name: string; qualifier?: string } | undefined {
  const match = /^arn:[^:]+:lambda:[^:]*:\d*:function:([^:]+)(?::(.+))?$/.exec(arn ?? '');
  if (!match) return undefined;
  return match[2] ? { name: match[1]!, qualifier: match[2] } : { name: match[1]! };
}

export interface LambdaRunParts {
  processorOptions: LambdaProcessorOptions;
  /** Lambda's on-failure records to `--failure-jsonl` or `--failure-table`, when one is set. */
  destination: LambdaFailureDestination | undefined;
}

/**
 * The Lambda processor's options and failure destination of a `run --handler`. `client`: the
 * DynamoDB client `--failure-table` writes with (required with it).
 */
export function lambdaRunParts(
  settings: RunSettings,
  mapping: LambdaMappingOptions | undefined,
  client?: DynamoDBClient,
): LambdaRunParts {
  const fromArn = settings.functionName === undefined ? parseFunctionArn(mapping?.source.functionArn) : undefined;
  const fn: LambdaFunctionOptions = {
    ...(settings.functionName !== undefined ? { functionName: settings.functionName } : {}),
    ...(fromArn
      ? {
          functionName: fromArn.name,
          invokedFunctionArn: mapping!.source.functionArn!,
          ...(fromArn.qualifier && fromArn.qualifier !== '$LATEST' ? { functionVersion: fromArn.qualifier } : {}),
        }
      : {}),
    ...(settings.functionTimeoutMs !== undefined ? { timeoutMs: settings.functionTimeoutMs } : {}),
  };
  // One ledger: the on-failure record names the last invocation the processor made.
  const ledger = new InvocationLedger();
  const processorOptions: LambdaProcessorOptions = {
    ...(mapping ? lambdaProcessorOptionsFromMapping(mapping) : {}),
    reportBatchItemFailures: settings.reportBatchItemFailures ?? false,
    function: fn,
    ledger,
  };
  if (settings.failureTable && !client) throw new Error('--failure-table needs a DynamoDB client');
  const to = settings.failureJsonl
    ? { type: 'jsonl' as const, path: resolve(settings.failureJsonl) }
    : settings.failureTable && client
      ? { type: 'dynamodb' as const, tableName: settings.failureTable, client }
      : undefined;
  const destination = to ? new LambdaFailureDestination({ to, function: fn, ledger }) : undefined;
  return { processorOptions, destination };
}

/**
 * Each invocation of a handler is bounded by the function timeout (context.ts fails it as
 * Lambda does, "Task timed out"); the processor timeout bounds the whole processRecords call
 * around it. A processor timeout below the function timeout would fail a call whose invocation
 * is still within its time, and the retry would run the handler again beside the one still
 * running. So with --handler the processor timeout is at least the function timeout: derived
 * when not given, refused when given lower.
 */
export function withHandlerTimeouts(settings: RunSettings): RunSettings {
  if (!settings.handler) return settings;
  const functionTimeoutMs = settings.functionTimeoutMs ?? LAMBDA_FUNCTION_DEFAULTS.timeoutMs;
  if (settings.processorTimeoutMs === undefined) {
    const processorTimeoutMs = Math.max(
      WORKER_DEFAULTS.failurePolicy.processorTimeoutMs,
      functionTimeoutMs + HANDLER_TIMEOUT_MARGIN_MS,
    );
    return { ...settings, processorTimeoutMs };
  }
  if (settings.processorTimeoutMs < functionTimeoutMs)
    throw new UsageError(
      `--processor-timeout-ms ${settings.processorTimeoutMs} is below --function-timeout-ms ${functionTimeoutMs}: a batch would fail while its invocation still has time, and its retry would run beside it; give at least the function timeout (or leave --processor-timeout-ms out)`,
    );
  return settings;
}

/** Time for the invocation's own timeout to fire and settle before the processor timeout would. */
const HANDLER_TIMEOUT_MARGIN_MS = 1_000;
