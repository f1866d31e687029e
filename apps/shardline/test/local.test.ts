import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { freePort } from '@shardline/testkit';
import { cliRunner } from './cli-process.js';

const scratch = mkdtempSync(join(tmpdir(), 'shardline-local-'));
const children = new Set<ChildProcessWithoutNullStreams>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

const cli = cliRunner(children, 90_000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Real processes and JVMs: generous limits, since two busy cores can make a start take 20 s.
describe('shardline local', { timeout: 240_000 }, () => {
  it('runs DynamoDB Local with one shared database, prints how to use it, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const run = cli(['local', '--port', String(port), '--log-level', 'debug']);
    await run.until(() => run.stdout().includes('Press Ctrl-C to stop.'), 'ready banner');
    const endpoint = `http://127.0.0.1:${port}`;
    expect(run.stdout()).toContain(`running on ${endpoint}`);
    for (const line of [
      `export AWS_ENDPOINT_URL_DYNAMODB=${endpoint}`,
      `export AWS_ENDPOINT_URL_DYNAMODB_STREAMS=${endpoint}`,
      'export AWS_REGION=us-east-1',
      'export AWS_ACCESS_KEY_ID=local',
      'export AWS_SECRET_ACCESS_KEY=local',
    ]) {
      expect(run.stdout()).toContain(line);
    }
    // The jar binds every interface; the banner says so, and how to keep it local.
    expect(run.stdout()).toContain(`It listens on port ${port} of every network interface (0.0.0.0 and ::)`);
    expect(run.stdout()).toContain(`docker run -p 127.0.0.1:${port}:8000`);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) {
      // What the banner claims: it answers on a non-loopback address too.
      const socket = connect({ host: external.address, port });
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.destroy();
    }
    const jvmPid = Number(/"pid":(\d+)/.exec(run.stderr())?.[1]);
    expect(alive(jvmPid)).toBe(true);

    // -sharedDb: a table created with one credential and region is seen from another.
    const writer = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const reader = new DynamoDBClient({
      endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'someoneElse', secretAccessKey: 'x' },
    });
    try {
      await writer.send(
        new CreateTableCommand({
          TableName: 'shared',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      expect((await reader.send(new ListTablesCommand({}))).TableNames).toEqual(['shared']);
    } finally {
      writer.destroy();
      reader.destroy();
    }

    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.stdout()).toContain('DynamoDB Local stopped.');
    expect(alive(jvmPid)).toBe(false);
  });

  it('--db-path keeps the tables across runs; Ctrl-C (SIGINT) stops it cleanly', async () => {
    const dbPath = join(scratch, 'data');
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const client = () =>
      new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });

    const first = cli(['local', '--port', String(port), '--db-path', dbPath]);
    await first.until(() => first.stdout().includes('Press Ctrl-C to stop.'), 'ready banner');
    expect(first.stdout()).toContain(`data in ${dbPath}`);
    const writer = client();
    try {
      await writer.send(
        new CreateTableCommand({
          TableName: 'kept',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } finally {
      writer.destroy();
    }
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);
    // Quiet: one line on stdout after the banner, nothing on stderr (no log line, no JVM output).
    expect(first.stdout().split('Press Ctrl-C to stop.\n')[1]).toBe('DynamoDB Local stopped.\n');
    expect(first.stderr()).toBe('');

    const second = cli(['local', '--port', String(port), '--db-path', dbPath]);
    await second.until(() => second.stdout().includes('Press Ctrl-C to stop.'), 'ready banner');
    const reader = client();
    try {
      expect((await reader.send(new ListTablesCommand({}))).TableNames).toEqual(['kept']);
    } finally {
      reader.destroy();
    }
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);
  });

  it('bad input: one line and exit code 2', async () => {
    const busy = createServer();
    const busyPort = await freePort();
    await new Promise<void>((resolve) => busy.listen(busyPort, resolve));
    const file = join(scratch, 'a-file');
    writeFileSync(file, '');
    try {
      const cases: Array<[string[], RegExp]> = [
        [['local', '--bogus'], /unknown option '--bogus'/],
        [['local', '--port', 'eighty'], /--port must be an integer from 1 to 65535, got "eighty"/],
        [['local', '--port', '70000'], /--port must be an integer from 1 to 65535/],
        [['local', '--port', String(busyPort)], new RegExp(`port ${busyPort} is already in use`)],
        [
          ['local', '--port', String(busyPort + 1), '--db-path', join(file, 'db')],
          /database directory .*a-file\/db is not writable/,
        ],
        [['local', '--log-level', 'loud'], /--log-level must be one of/],
      ];
      const runs = cases.map(([args]) => cli(args));
      const codes = await Promise.all(runs.map((run) => run.exit));
      cases.forEach(([args, message], i) => {
        const run = runs[i]!;
        expect({ args, code: codes[i] }).toEqual({ args, code: 2 });
        expect(run.stderr()).toMatch(message);
        expect(run.stderr().trim().split('\n')).toHaveLength(1);
        expect(run.stdout()).toBe('');
      });
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});
