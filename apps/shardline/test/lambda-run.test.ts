import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseEventSourceMapping } from '@shardline/worker';
import { checkRunSettings, loadSettings, runSettingsSchema, type RunSettings } from '../src/config.js';
import { loadHandler, parseHandlerSpec } from '../src/handler-loader.js';
import { toWorkerOptions } from '../src/commands/run.js';
import { silentLogger } from '@shardline/core';
import {
  applyEventSourceMapping,
  lambdaRunParts,
  readEventSourceMapping,
  withHandlerTimeouts,
} from '../src/lambda-settings.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const STREAM = 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000';

const settings = (flags: Record<string, unknown>): RunSettings => loadSettings(runSettingsSchema, flags, { env: {} });
const mapping = (fields: Record<string, unknown> = {}) =>
  parseEventSourceMapping({ EventSourceArn: STREAM, ...fields });

describe('--handler PATH[#EXPORT]', () => {
  it('splits the export name off the path, default handler', () => {
    expect(parseHandlerSpec('./dist/index.js')).toEqual({ path: './dist/index.js', exportName: 'handler' });
    expect(parseHandlerSpec('./dist/index.js#consume')).toEqual({ path: './dist/index.js', exportName: 'consume' });
    expect(() => parseHandlerSpec('./dist/index.js#')).toThrow(/give PATH or PATH#EXPORT/);
  });

  it('loads a named ES module export, a CommonJS exports.handler, and a name only module.exports has', async () => {
    const esm = await loadHandler(join(fixtures, 'handler.mjs'));
    expect(await (esm as () => Promise<unknown>)()).toEqual({ batchItemFailures: [] });
    expect(typeof (await loadHandler(`${join(fixtures, 'handler.mjs')}#other`))).toBe('function');
    expect((await loadHandler(join(fixtures, 'handler.cjs'))).length).toBe(3);
    expect(typeof (await loadHandler(`${join(fixtures, 'handler-object.cjs')}#consume`))).toBe('function');
  });

  it('refuses a missing file, a missing export and an export that is not a function, naming what is there', async () => {
    await expect(loadHandler(join(fixtures, 'absent.mjs'))).rejects.toThrow(/handler file not found/);
    await expect(loadHandler(`${join(fixtures, 'handler.mjs')}#nope`)).rejects.toThrow(
      /has no function export "nope"; function exports: handler, other/,
    );
    await expect(loadHandler(`${join(fixtures, 'handler.mjs')}#notAFunction`)).rejects.toThrow(/it is of type number/);
    await expect(loadHandler(join(fixtures, 'throws.mjs'))).rejects.toThrow(/could not load handler/);
  });
});

describe('--function-timeout-ms and the processor timeout', () => {
  it('derives a processor timeout that outlasts the function timeout, and refuses a lower one', () => {
    // The default function timeout (60 s) gets a second more: the invocation's own timeout fires first.
    expect(withHandlerTimeouts(settings({ handler: 'h.mjs' })).processorTimeoutMs).toBe(61_000);
    // A 120 s function must not be cut off (and retried beside itself) at the 60 s default.
    expect(withHandlerTimeouts(settings({ handler: 'h.mjs', functionTimeoutMs: '120000' })).processorTimeoutMs).toBe(
      121_000,
    );
    expect(() =>
      withHandlerTimeouts(settings({ handler: 'h.mjs', functionTimeoutMs: '120000', processorTimeoutMs: '90000' })),
    ).toThrow(/--processor-timeout-ms 90000 is below --function-timeout-ms 120000/);
    // A processor (no --handler) keeps its own timeout untouched.
    expect(withHandlerTimeouts(settings({ processor: 'p.mjs' })).processorTimeoutMs).toBeUndefined();
  });
});

describe('--event-source-mapping FILE.json', () => {
  it('fills what no flag set: the stream, starting position, batch size and failure policy', () => {
    const applied = applyEventSourceMapping(
      settings({ handler: 'h.mjs' }),
      mapping({
        StartingPosition: 'LATEST',
        BatchSize: 50,
        MaximumRetryAttempts: 5,
        MaximumRecordAgeInSeconds: 3600,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      }),
    );
    expect(applied).toMatchObject({
      streamArn: [STREAM],
      initialPosition: 'LATEST',
      batchSize: 50,
      maxRetries: 5,
      maxRecordAgeMs: 3_600_000,
      bisectOnError: true,
      reportBatchItemFailures: true,
    });
    expect(() => checkRunSettings(applied)).not.toThrow();
    // Lambda's defaults: retry until the records expire, no age limit.
    expect(applyEventSourceMapping(settings({ handler: 'h.mjs' }), mapping())).toMatchObject({
      maxRetries: -1,
      maxRecordAgeMs: undefined,
      batchSize: 100,
      bisectOnError: false,
    });
  });

  it('flags override the file', () => {
    const applied = applyEventSourceMapping(
      settings({
        handler: 'h.mjs',
        table: 'other',
        batchSize: '7',
        maxRetries: '1',
        bisectOnError: 'false',
        reportBatchItemFailures: 'false',
        initialPosition: 'trim_horizon',
      }),
      mapping({
        StartingPosition: 'LATEST',
        BatchSize: 5000,
        MaximumRetryAttempts: 9,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      }),
    );
    expect(applied).toMatchObject({
      table: ['other'],
      batchSize: 7,
      maxRetries: 1,
      bisectOnError: false,
      reportBatchItemFailures: false,
      initialPosition: 'TRIM_HORIZON',
    });
    expect(applied.streamArn).toBeUndefined();
  });

  it('refuses, in one line each, the fields the CLI cannot honour yet', () => {
    const base = settings({ handler: 'h.mjs' });
    expect(() =>
      applyEventSourceMapping(base, mapping({ ParallelizationFactor: 2, TumblingWindowInSeconds: 60 })),
    ).toThrow(
      /^event source mapping: ParallelizationFactor 2 with TumblingWindowInSeconds is refused: Lambda documents one window state per shard/,
    );
    // Lanes alone are built (lambdaProcessor's parallelizationFactor).
    expect(() => applyEventSourceMapping(base, mapping({ ParallelizationFactor: 2 }))).not.toThrow();
  });

  it('BatchSize above 1,000 and MaximumBatchingWindowInSeconds turn the batch gatherer on', () => {
    const handler = settings({ handler: 'h.mjs' });
    const gathered = applyEventSourceMapping(handler, mapping({ BatchSize: 5000, MaximumBatchingWindowInSeconds: 5 }));
    expect(gathered).toMatchObject({ batchSize: 5000, maxBatchingWindowMs: 5000 });
    const options = toWorkerOptions(gathered, { processRecords: () => undefined }, silentLogger());
    expect(options.reader).toEqual({ limit: 1000 });
    expect(options.batching).toMatchObject({ maxRecords: 5000, maxWindowMs: 5000 });
    // A handler's records are measured as Lambda's event carries them, against 6 MB.
    expect(options.batching?.maxBytes).toBeLessThan(6 * 1024 * 1024);
    expect(options.batching?.recordBytes).toBeTypeOf('function');
    // Lambda's defaults (100, no window) read one answer per call, nothing gathered.
    const plain = toWorkerOptions(
      applyEventSourceMapping(handler, mapping()),
      { processRecords: () => undefined },
      silentLogger(),
    );
    expect([plain.reader, plain.batching]).toEqual([{ limit: 100 }, undefined]);
    // --max-batching-window-ms overrides the file.
    const flag = applyEventSourceMapping(
      settings({ handler: 'h.mjs', maxBatchingWindowMs: '0' }),
      mapping({ BatchSize: 50, MaximumBatchingWindowInSeconds: 30 }),
    );
    expect(flag.maxBatchingWindowMs).toBe(0);
  });

  it('reads the file, and says so when it cannot', () => {
    expect(() => readEventSourceMapping(join(fixtures, 'absent.json'))).toThrow(
      /cannot read --event-source-mapping .*absent\.json: ENOENT/,
    );
    expect(() => readEventSourceMapping(join(fixtures, 'handler.mjs'))).toThrow(/event source mapping: not valid JSON/);
  });

  it('names the function from the mapping’s FunctionArn; --function-name and --function-timeout-ms win', () => {
    const withArn = mapping({ FunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:orders:live' });
    expect(lambdaRunParts(settings({ handler: 'h.mjs' }), withArn).processorOptions.function).toEqual({
      functionName: 'orders',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:orders:live',
      functionVersion: 'live',
    });
    expect(
      lambdaRunParts(settings({ handler: 'h.mjs', functionName: 'mine', functionTimeoutMs: '9000' }), withArn)
        .processorOptions.function,
    ).toEqual({ functionName: 'mine', timeoutMs: 9000 });
    const parts = lambdaRunParts(settings({ handler: 'h.mjs', failureJsonl: 'out/failed.jsonl' }), undefined);
    expect(parts.destination?.name).toMatch(/^lambda-on-failure:jsonl:.*out\/failed\.jsonl$/);
    expect(parts.processorOptions.reportBatchItemFailures).toBe(false);
  });

  it('cross-field rules: one of --processor and --handler; the Lambda flags need --handler', () => {
    expect(() => checkRunSettings(settings({ table: 't', processor: 'p', handler: 'h' }))).toThrow(/not both/);
    expect(() => checkRunSettings(settings({ table: 't', processor: 'p', eventSourceMapping: 'm.json' }))).toThrow(
      /--event-source-mapping applies to a Lambda handler/,
    );
    expect(() => checkRunSettings(settings({ table: 't', processor: 'p', reportBatchItemFailures: true }))).toThrow(
      /--report-batch-item-failures applies to a Lambda handler/,
    );
    expect(() => checkRunSettings(settings({ table: 't', handler: 'h', failureTable: 'f' }))).not.toThrow();
  });
});
