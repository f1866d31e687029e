import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync, realpathSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { ConfigError } from '@shardline/core';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { freePort, resolveDynamoDBLocalOptions, startDynamoDBLocal } from '../src/dynamodb-local.js';
import { controlsClient, TEST_CONTROLS_ENV } from '../src/controls.js';
import { processAlive } from '../src/dynamodb-local-process.js';
import { JdkMissingError } from '../src/dynamodb-local-launcher.js';

const scratch = mkdtempSync(join(tmpdir(), 'shardline-launcher-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/hold-dynamodb-local.ts', import.meta.url));

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

async function listTables(endpoint: string): Promise<string[]> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'probe', secretAccessKey: 'x' },
  });
  try {
    return (await client.send(new ListTablesCommand({}))).TableNames ?? [];
  } finally {
    client.destroy();
  }
}

// Each test starts JVMs: generous limits, since two busy cores can make a start take 20 s.
describe('startDynamoDBLocal', { timeout: 180_000 }, () => {
  it('starts the plain jar on a free port; stop() ends the JVM and is idempotent', async () => {
    const local = await startDynamoDBLocal();
    try {
      expect(local.endpoint).toBe(`http://127.0.0.1:${local.port}`);
      expect(local.rollover).toBeUndefined();
      expect(await listTables(local.endpoint)).toEqual([]);
      expect(processAlive(local.pid)).toBe(true);
    } finally {
      await local.stop();
    }
    expect(processAlive(local.pid)).toBe(false);
    await local.stop();
  });

  it.each([
    ['plain jar (node supervisor)', []],
    ['controls launcher (stdin watchdog in the JVM)', ['--controls']],
  ])('leaves no JVM behind when its parent is killed with SIGKILL: %s', async (_, extra) => {
    const parent = spawn(process.execPath, ['--conditions=@shardline/source', '--import', 'tsx', fixture, ...extra], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      parent.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
      });
      parent.once('exit', (code) => reject(new Error(`fixture exited with ${code} before starting: ${out}`)));
    });
    const { jvmPid, endpoint } = JSON.parse(line) as { jvmPid: number; endpoint: string };
    expect(await listTables(endpoint)).toEqual([]);
    const exited = new Promise((resolve) => parent.once('exit', resolve));
    parent.kill('SIGKILL');
    await exited;
    parent.stdout.destroy();
    const gone = await waitFor(() => !processAlive(jvmPid), 30_000);
    if (!gone) process.kill(jvmPid, 'SIGKILL');
    expect(gone).toBe(true);
  });

  it('controls on a -sharedDb instance act on its single database', async () => {
    const local = await startDynamoDBLocal({ controls: true, sharedDb: true });
    const client = new DynamoDBClient({
      endpoint: local.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'anyone', secretAccessKey: 'x' },
    });
    const streams = new DynamoDBStreamsClient({
      endpoint: local.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'someoneElse', secretAccessKey: 'x' },
    });
    try {
      const created = await client.send(
        new CreateTableCommand({
          TableName: 'shared',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
          StreamSpecification: { StreamEnabled: true, StreamViewType: 'KEYS_ONLY' },
        }),
      );
      expect(await controlsClient(local.controlUrl ?? '').databases()).toEqual(['shared-local-instance']);
      await local.rollover?.();
      const described = await streams.send(
        new DescribeStreamCommand({ StreamArn: created.TableDescription?.LatestStreamArn }),
      );
      const shards = described.StreamDescription?.Shards ?? [];
      expect(shards).toHaveLength(2);
      expect(shards[1]?.ParentShardId).toBe(shards[0]?.ShardId);
    } finally {
      client.destroy();
      streams.destroy();
      await local.stop();
    }
  });

  it('names the port when it is already in use', async () => {
    const server: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, resolve));
    try {
      const started = startDynamoDBLocal({ port });
      await expect(started).rejects.toBeInstanceOf(ConfigError);
      await expect(started).rejects.toThrow(`port ${port} is already in use`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('says clearly when the database directory is not writable', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a directory');
    await expect(startDynamoDBLocal({ dbPath: join(file, 'db') })).rejects.toThrow(
      /database directory .*a-file\/db is not writable/,
    );
  });

  it('says java is required, and how to install it, when there is no java', async () => {
    const started = startDynamoDBLocal({ javaHome: join(scratch, 'no-such-jdk') });
    await expect(started).rejects.toBeInstanceOf(ConfigError);
    await expect(started).rejects.toThrow(/java is required.*apt-get install openjdk-17-jre-headless/);
  });

  it('without javac, controls fail with a clear message and the plain jar still works', async () => {
    const jre = join(scratch, 'jre-only');
    mkdirSync(join(jre, 'bin'), { recursive: true });
    symlinkSync(
      realpathSync(execFileSync('sh', ['-c', 'command -v java'], { encoding: 'utf8' }).trim()),
      join(jre, 'bin', 'java'),
    );
    const withControls = startDynamoDBLocal({ javaHome: jre, controls: true });
    await expect(withControls).rejects.toBeInstanceOf(JdkMissingError);
    await expect(withControls).rejects.toThrow(/javac .*was not found: controls need a JDK/);
    const plain = await startDynamoDBLocal({ javaHome: jre });
    try {
      expect(await listTables(plain.endpoint)).toEqual([]);
    } finally {
      await plain.stop();
    }
  });

  it('rejects bad options with advice', () => {
    expect(() => resolveDynamoDBLocalOptions({ heap: 'lots' })).toThrow(/heap must look like 256m/);
    expect(() => resolveDynamoDBLocalOptions({ port: 70_000 })).toThrow(ConfigError);
    expect(() => resolveDynamoDBLocalOptions({ dbPath: scratch, inMemory: true })).toThrow(/exclude each other/);
    expect(() => resolveDynamoDBLocalOptions({ prot: 8000 } as never)).toThrow(ConfigError);
  });
});

describe.skipIf(!process.env[TEST_CONTROLS_ENV])('control port', () => {
  const controls = controlsClient(process.env[TEST_CONTROLS_ENV] ?? '');

  it('refuses to act on a database that does not exist, and bad durations', async () => {
    await expect(
      controls.rollover({ credentials: { accessKeyId: 'nobodyUsesThis' }, region: 'us-east-1' }),
    ).rejects.toThrow(/no database nobodyUsesThis_us-east-1/);
    await expect(controls.advanceTime(0)).rejects.toThrow(/positive integer/);
  });

  it('lists the per-credential databases', async () => {
    await listTables(process.env.SHARDLINE_TEST_ENDPOINT ?? '');
    expect(await controls.databases()).toContain('probe_us-east-1');
  });
});
