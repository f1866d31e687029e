import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '@shardline/core';
import { HEARTBEATS_PER_LEASE_DURATION, LEASE_DEFAULTS } from '@shardline/leases';
import { SHARD_READER_DEFAULTS } from '@shardline/streams';
import { isRecordProcessor } from '@shardline/worker';
import { main } from '../src/cli.js';
import { toWorkerOptions } from '../src/commands/run.js';
import {
  checkRunSettings,
  envName,
  flagName,
  loadSettings,
  RUN_SETTING_KEYS,
  runSettingsSchema,
} from '../src/config.js';
import { loadProcessor } from '../src/processor-loader.js';
import { UsageError } from '../src/usage-error.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
/** A run that gets as far as checking its settings: a table, a region, a processor. */
const RUN_T = ['run', '--table', 't', '--region', 'us-east-1', '--processor', join(fixtures, 'object.mjs')];
const dir = mkdtempSync(join(tmpdir(), 'shardline-run-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run settings', () => {
  it('maps names between flags, env and config keys', () => {
    expect(flagName('streamArn')).toBe('--stream-arn');
    expect(envName('healthPort')).toBe('SHARDLINE_HEALTH_PORT');
  });

  it('merges config file < environment < flags, and coerces types', () => {
    const config = join(dir, 'shardline.json');
    writeFileSync(
      config,
      JSON.stringify({ table: 'from-file', processor: 'p.mjs', healthPort: 9000, region: 'eu-west-1' }),
    );
    const settings = loadSettings(
      runSettingsSchema,
      { region: 'us-east-2' },
      { configPath: config, env: { SHARDLINE_HEALTH_PORT: '9100', SHARDLINE_INITIAL_POSITION: 'latest' } },
    );
    expect(settings).toMatchObject({
      table: ['from-file'],
      processor: 'p.mjs',
      healthPort: 9100,
      region: 'us-east-2',
      initialPosition: 'LATEST',
      logLevel: 'info',
    });
  });

  it('reads SHARDLINE_CONFIG when --config is absent', () => {
    const config = join(dir, 'env-config.json');
    writeFileSync(
      config,
      JSON.stringify({ streamArn: 'arn:aws:dynamodb:us-east-1:1:table/t/stream/x', processor: 'p.mjs' }),
    );
    expect(loadSettings(runSettingsSchema, {}, { env: { SHARDLINE_CONFIG: config } }).streamArn?.[0]).toMatch(/^arn:/);
  });

  it('says which flag is wrong and where the value came from', () => {
    expect(() =>
      loadSettings(runSettingsSchema, { processor: 'p' }, { env: { SHARDLINE_HEALTH_PORT: 'abc' } }),
    ).toThrow(/--health-port \(from SHARDLINE_HEALTH_PORT\)/);
    expect(() => checkRunSettings(loadSettings(runSettingsSchema, {}, { env: {} }))).toThrow(
      /give --processor PATH \(a shardline processor\) or --handler PATH\[#EXPORT\]/,
    );
    expect(() => loadSettings(runSettingsSchema, { processor: 'p', initialPosition: 'middle' }, { env: {} })).toThrow(
      UsageError,
    );
    const config = join(dir, 'typo.json');
    writeFileSync(config, JSON.stringify({ processor: 'p', tabel: 'x' }));
    expect(() => loadSettings(runSettingsSchema, {}, { configPath: config, env: {} })).toThrow(/unknown setting tabel/);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ nope');
    expect(() => loadSettings(runSettingsSchema, {}, { configPath: broken, env: {} })).toThrow(/not valid JSON/);
    expect(() => loadSettings(runSettingsSchema, {}, { configPath: join(dir, 'absent.json'), env: {} })).toThrow(
      /cannot read config file/,
    );
  });

  it('cross-field rules: a stream to read, one endpoint style, a destination for onFailure destination', () => {
    const base = loadSettings(runSettingsSchema, { processor: 'p' }, { env: {} });
    expect(() => checkRunSettings(base)).toThrow(/--table NAME or --stream-arn ARN/);
    expect(() =>
      checkRunSettings({ ...base, table: ['t'], endpoint: 'http://a', streamsEndpoint: 'http://b' }),
    ).toThrow(/not both/);
    expect(() => checkRunSettings({ ...base, table: ['t'], onFailure: 'destination' })).toThrow(/--failure-jsonl/);
    expect(() => checkRunSettings({ ...base, table: ['t'] })).not.toThrow();
  });

  it('builds Worker options: separate endpoints, failure policy, only what was set', () => {
    const settings = loadSettings(
      runSettingsSchema,
      {
        table: 't',
        processor: 'p',
        dynamodbEndpoint: 'http://localhost:8000',
        streamsEndpoint: 'http://localhost:9000',
        maxRetries: '2',
        bisectOnError: true,
        failureJsonl: 'failed.jsonl',
      },
      { env: {} },
    );
    const options = toWorkerOptions(settings, { processRecords: () => undefined }, silentLogger());
    expect(options).toMatchObject({
      tables: ['t'],
      dynamodbEndpoint: 'http://localhost:8000',
      streamsEndpoint: 'http://localhost:9000',
      failurePolicy: { maxRetries: 2, bisectOnError: true, destination: { type: 'jsonl' } },
    });
    expect(options).not.toHaveProperty('healthPort');
  });
});

describe('several streams', () => {
  it('takes --table and --stream-arn repeatedly, comma-separated from the environment, and streams from the config file', () => {
    const arn = 'arn:aws:dynamodb:us-east-1:1:table/c/stream/x';
    const flags = loadSettings(runSettingsSchema, { table: ['a', 'b'], streamArn: [arn], processor: 'p' }, { env: {} });
    expect(toWorkerOptions(flags, { processRecords: () => undefined }, silentLogger())).toMatchObject({
      tables: ['a', 'b'],
      streamArns: [arn],
    });
    expect(loadSettings(runSettingsSchema, {}, { env: { SHARDLINE_TABLE: 'a, b' } }).table).toEqual(['a', 'b']);
    const dir = mkdtempSync(join(tmpdir(), 'shardline-streams-'));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ streams: [{ table: 'a', processor: 'a.mjs' }, { streamArn: arn }] }));
    const fromFile = loadSettings(runSettingsSchema, {}, { configPath: config, env: {} });
    expect(fromFile.streams).toEqual([{ table: 'a', processor: 'a.mjs' }, { streamArn: arn }]);
    // Each stream needs a processor: its own, or --processor for the others.
    expect(() => checkRunSettings(fromFile)).toThrow(/--processor PATH/);
    expect(() => checkRunSettings({ ...fromFile, processor: 'p' })).not.toThrow();
    expect(
      toWorkerOptions({ ...fromFile, processor: 'p' }, { processRecords: () => undefined }, silentLogger(), undefined, {
        a: { processRecords: () => undefined },
      }),
    ).toMatchObject({ tables: ['a'], streamArns: [arn], processors: { a: {} } });
    writeFileSync(config, JSON.stringify({ streams: [{ table: 'a', streamArn: arn }] }));
    expect(() => loadSettings(runSettingsSchema, {}, { configPath: config, env: {} })).toThrow(
      /one of table and streamArn/,
    );
  });
});

describe('--emf', () => {
  it('turns on the worker option metrics.emf, and is off unless given', () => {
    const parse = (flags: Record<string, unknown>) =>
      toWorkerOptions(
        loadSettings(runSettingsSchema, { table: 't', processor: 'p', ...flags }, { env: {} }),
        { processRecords: () => undefined },
        silentLogger(),
      );
    expect(parse({ emf: true }).metrics).toEqual({ emf: true });
    expect(parse({ emf: 'false' }).metrics).toEqual({ emf: false });
    expect(parse({})).not.toHaveProperty('metrics');
  });
});

describe('processor loading', () => {
  it('accepts an ES module default object, a CommonJS factory and transpiled ESM', async () => {
    expect(isRecordProcessor(await loadProcessor(join(fixtures, 'object.mjs')))).toBe(true);
    expect(typeof (await loadProcessor(join(fixtures, 'factory.cjs')))).toBe('function');
    expect(isRecordProcessor(await loadProcessor(join(fixtures, 'transpiled.cjs')))).toBe(true);
  });

  it('refuses a missing file, a module without a processor, a module that throws — each in one line', async () => {
    await expect(loadProcessor(join(fixtures, 'absent.mjs'))).rejects.toThrow(/processor file not found/);
    await expect(loadProcessor(fixtures)).rejects.toThrow(/not a file/);
    await expect(loadProcessor(join(fixtures, 'nothing.mjs'))).rejects.toThrow(
      /exports no processor \(no default export\)/,
    );
    await expect(loadProcessor(join(fixtures, 'throws.mjs'))).rejects.toThrow(
      /could not load processor .*cannot initialize/,
    );
  });
});

describe('run --help and bad values', () => {
  async function capture(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
    try {
      return { code: await main(argv), stdout, stderr };
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  }

  it('shows the defaults of the packages that own them, for every existing flag', async () => {
    const { code, stdout } = await capture(['run', '--help']);
    expect(code).toBe(0);
    const help = stdout.replace(/\s+/g, ' ');
    expect(help).toContain(`(default lease duration / ${HEARTBEATS_PER_LEASE_DURATION})`);
    expect(help).toContain(
      `wait after an empty read of an open shard (default ${SHARD_READER_DEFAULTS.idleIntervalMs})`,
    );
    expect(help).toContain(
      `up to this cap (latency after idle vs GetRecords cost) (default ${SHARD_READER_DEFAULTS.maxIdleIntervalMs})`,
    );
    expect(help).toContain(`lease duration (default ${LEASE_DEFAULTS.leaseDurationMs})`);
    expect(help).toContain(`(default ${SHARD_READER_DEFAULTS.limit})`);
    for (const key of RUN_SETTING_KEYS) expect(help).toContain(`${flagName(key)} `);
  });

  it('--status-page without --health-port is one line and exit 2: the page is served by the health server', async () => {
    const result = await capture([...RUN_T, '--status-page']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      "shardline: --status-page needs --health-port: the page is served by the worker's health server",
    ]);
  });

  it('a value only the owning package can judge fails with its message, naming the flag', async () => {
    const result = await capture([...RUN_T, '--lease-duration-ms', '4000', '--heartbeat-interval-ms', '2000']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^shardline: --heartbeat-interval-ms: heartbeatIntervalMs \(2000\) must be below/),
    ]);
    const batch = await capture([
      'run',
      '--table',
      't',
      '--processor',
      join(fixtures, 'object.mjs'),
      '--batch-size',
      '0',
    ]);
    expect(batch.code).toBe(2);
    expect(batch.stderr).toMatch(/--batch-size: batching\.maxRecords must be/);
  });

  it('maps every setting with a Worker option into the grouped options', () => {
    const settings = loadSettings(
      runSettingsSchema,
      { table: 't', processor: 'p', initialPosition: 'latest', heartbeatIntervalMs: '500', batchSize: '10' },
      { env: {} },
    );
    const options = toWorkerOptions(settings, { processRecords: () => undefined }, silentLogger());
    expect(options.leases).toEqual({ initialPosition: 'LATEST', heartbeatIntervalMs: 500 });
    expect(options.reader).toEqual({ limit: 10 });
  });
});
