import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readLeaseTable } from '@shardline/leases';
import { freePort } from '@shardline/testkit';
import { ROOT } from './cli-process.js';

/**
 * The README's first steps as a new user runs them, through the `shardline` that `npm ci` links
 * (node_modules/.bin/shardline → apps/shardline/bin/shardline.js → dist): a shell with no AWS
 * variables, HOME without ~/.aws, the SDK's Node-version warning not silenced. Needs the build
 * (`npm test` builds first; alone: `npm run build && npx vitest run test/first-run.e2e.test.ts`).
 */
const BIN = join(ROOT, 'node_modules/.bin/shardline');
const endpoint = process.env.SHARDLINE_TEST_ENDPOINT!;
let home: string;
const live = new Set<ChildProcess>();
const tables: string[] = [];
// What `shardline run`/`status` and the producer fill in against a local endpoint.
const local = new DynamoDBClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

beforeAll(() => {
  if (!existsSync(join(ROOT, 'apps/shardline/dist/cli.js')))
    throw new Error('apps/shardline/dist/cli.js is missing: run `npm run build` first');
  home = mkdtempSync(join(tmpdir(), 'shardline-first-run-'));
});
afterEach(async () => {
  for (const child of live) child.kill('SIGKILL');
  await Promise.all([...live].map((child) => new Promise((resolve) => child.once('close', resolve))));
});
afterAll(async () => {
  for (const name of tables) await local.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
  local.destroy();
  rmSync(home, { recursive: true, force: true });
});

/** A shell of a new user: PATH and HOME, nothing of AWS, nothing of the test run. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

interface Run {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

function start(command: string, args: string[], env = userEnv()): Run {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, exit, stdout: () => stdout, stderr: () => stderr };
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const stderrLines = (run: Run) => run.stderr().split('\n').filter(Boolean);
const nodeMajor = Number(process.versions.node.split('.')[0]);

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Running (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('the linked shardline command', () => {
  it('is the checked-in bin shim, which runs the build', async () => {
    expect(realpathSync(BIN)).toBe(join(ROOT, 'apps/shardline/bin/shardline.js'));
    const run = start(BIN, ['--version']);
    expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(run.stdout()).toBe('0.1.0\n');
    expect(run.stderr()).toBe('');
  });

  it("prints the AWS SDK's Node-version warning as one line, once (Node 20), then the error", async () => {
    const port = await freePort();
    const run = start(BIN, ['status', '--app', 'orders', '--endpoint', `http://127.0.0.1:${port}`]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).not.toContain('NodeVersionSupportWarning');
    const lines = stderrLines(run);
    expect(lines.at(-1)).toMatch(/^shardline: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    if (nodeMajor < 22) {
      expect(lines).toHaveLength(2);
      expect(lines[0]).toBe(
        `shardline: note: Node ${process.version}; AWS SDK releases after the first week of January 2027 need Node >=22 (https://a.co/c895JFp)`,
      );
    } else expect(lines).toHaveLength(1);
  });

  it('says which credentials are missing when the endpoint is not local', async () => {
    const run = start(BIN, [
      'status',
      '--app',
      'orders',
      '--endpoint',
      'http://dynamodb.example.invalid',
      '--region',
      'eu-west-1',
    ]);
    expect((await run.exit).code).toBe(2);
    expect(stderrLines(run).at(-1)).toBe(
      'shardline: no AWS credentials found for http://dynamodb.example.invalid: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role (IRSA, ECS task role, instance profile)',
    );
  });
});

describe('the README by hand, against a local endpoint with no AWS variables', () => {
  it('producer, a TypeScript processor, SIGTERM to the linked bin, status', async () => {
    const table = `first-${Date.now().toString(36)}`;
    tables.push(table, `shardline-${table}`);
    const producer = start(process.execPath, ['examples/producer.mjs'], {
      ...userEnv({ DYNAMODB_ENDPOINT: endpoint, PRODUCER_TABLE: table, PRODUCER_RATE: '50', PRODUCER_COUNT: '30' }),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    expect((await producer.exit).code).toBe(0);
    expect(producer.stdout()).toContain('stopped after 30 writes');

    // examples/order-totals.ts as it is: Node's type stripping where it has it, tsx on Node 20.
    const worker = start(BIN, [
      'run',
      '--table',
      table,
      '--endpoint',
      endpoint,
      '--processor',
      'examples/order-totals.ts',
      '--worker-id',
      'first',
      '--idle-interval-ms',
      '50',
    ]);
    const checkpoint = async () =>
      (await readLeaseTable(local, `shardline-${table}`).catch(() => undefined))?.leases[0]?.checkpoint;
    await until(async () => /^\d+$/.test((await checkpoint()) ?? ''), 'a numeric checkpoint');
    await until(
      async () => (await readLeaseTable(local, `shardline-${table}`)).leases[0]?.owner === 'first',
      'the lease owned by the worker',
    );

    // The linked bin is the node process itself: the signal reaches the worker, which hands off.
    worker.child.kill('SIGTERM');
    expect(await worker.exit).toEqual({ code: 0, signal: null });
    expect(worker.stderr()).not.toMatch(/could not load processor|cannot load the TypeScript/);
    const view = await readLeaseTable(local, `shardline-${table}`);
    expect(view.leases[0]?.owner).toBeUndefined();

    const status = start(BIN, ['status', '--app', table, '--endpoint', endpoint]);
    expect((await status.exit).code).toBe(0);
    expect(status.stdout()).toContain(`lease table shardline-${table}: 1 shard(s)`);
    expect(status.stdout()).toMatch(/unassigned/);
  });

  it('a processor compiled with `tsc -p examples` runs from examples/dist', async () => {
    const tsc = start(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'examples']);
    expect((await tsc.exit).code, tsc.stdout()).toBe(0);
    expect(existsSync(join(ROOT, 'examples/dist/order-totals.js'))).toBe(true);
    // Loaded, then stopped by the missing table: a processor that failed to load says so first.
    const run = start(BIN, [
      'run',
      '--table',
      'no-such-table',
      '--endpoint',
      endpoint,
      '--processor',
      'examples/dist/order-totals.js',
    ]);
    expect((await run.exit).code).toBe(2);
    expect(stderrLines(run).at(-1)).toMatch(/^shardline: .*no-such-table/);
    expect(run.stderr()).not.toMatch(/could not load processor/);
  });

  it('a TypeScript Lambda handler loads through the linked bin as a processor does', async () => {
    // Loaded, then stopped by the missing table: a handler that failed to load says so first.
    const run = start(BIN, [
      'run',
      '--table',
      'no-such-table',
      '--endpoint',
      endpoint,
      '--handler',
      'test/fixtures/lambda/async-handler.ts',
    ]);
    expect((await run.exit).code).toBe(2);
    expect(stderrLines(run).at(-1)).toMatch(/^shardline: .*no-such-table/);
    expect(run.stderr()).not.toMatch(/could not load handler|cannot load the TypeScript/);
  });
});

describe('shardline local leaves no JVM behind', () => {
  it('under npx: SIGTERM to npm stops the orphaned CLI and its DynamoDB Local', async () => {
    const port = await freePort();
    const npx = start('npx', ['--no-install', 'shardline', 'local', '--port', String(port), '--log-level', 'debug']);
    await until(() => npx.stdout().includes('Press Ctrl-C to stop.'), 'DynamoDB Local', 30_000);
    const pid = Number(/"pid":(\d+)/.exec(npx.stderr())?.[1]);
    expect(alive(pid)).toBe(true);
    npx.child.kill('SIGTERM');
    await npx.exit;
    await until(() => !alive(pid), 'the DynamoDB Local process to exit');
    await until(async () => !(await listening(port)), `port ${port} to close`);
  });

  it('kill -9 of the CLI takes DynamoDB Local with it', async () => {
    const port = await freePort();
    const run = start(BIN, ['local', '--port', String(port), '--log-level', 'debug']);
    await until(() => run.stdout().includes('Press Ctrl-C to stop.'), 'DynamoDB Local', 30_000);
    const pid = Number(/"pid":(\d+)/.exec(run.stderr())?.[1]);
    run.child.kill('SIGKILL');
    expect((await run.exit).signal).toBe('SIGKILL');
    await until(() => !alive(pid), 'the DynamoDB Local process to exit');
    await until(async () => !(await listening(port)), `port ${port} to close`);
  });
});
