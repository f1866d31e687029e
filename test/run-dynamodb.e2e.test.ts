import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { readLeaseTable } from '@shardline/leases';
import { connectTestDynamoDB } from '@shardline/testkit';
import {
  FIXTURE_PROCESSOR,
  processTestFile,
  readSeen,
  spawnCli,
  waitFor,
  waitForAsync,
  type CliProcess,
} from './cli-process.js';

/**
 * `shardline run` processes on DynamoDB Local (one shard per stream there): everything is
 * processed, a kill -9 loses nothing, a SIGTERM hands off without duplicates, and a poison
 * record lands in the JSONL destination while processing continues.
 */
const db = connectTestDynamoDB();
const { dir } = processTestFile('shardline-e2e-');
afterAll(() => db.close());

async function put(tableName: string, from: number, to: number, key = (i: number) => `k${i}`): Promise<void> {
  for (let i = from; i <= to; i++) {
    await db.dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: key(i) }, n: { N: String(i) } } }),
    );
  }
}

function startWorker(
  name: string,
  tableName: string,
  output: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): CliProcess {
  return spawnCli(
    name,
    [
      'run',
      '--table',
      tableName,
      '--processor',
      FIXTURE_PROCESSOR,
      '--endpoint',
      db.endpoint,
      '--app',
      tableName,
      '--worker-id',
      name,
      '--lease-duration-ms',
      '3000',
      '--idle-interval-ms',
      '50',
      '--shutdown-timeout-ms',
      '8000',
      ...extra,
    ],
    { ...db.env, E2E_OUTPUT: output, E2E_WORKER: name, ...env },
  );
}

const keysOf = (output: string) => new Set(readSeen(output).map((r) => r.key));
const expectedKeys = (to: number) => Array.from({ length: to }, (_, i) => `k${i + 1}`);

describe('shardline run on DynamoDB Local', () => {
  it('processes everything; kill -9 of the owner → another worker takes the shard, nothing lost', async () => {
    const { tableName } = await db.createStreamTable();
    const output = join(dir, `${tableName}.jsonl`);
    await put(tableName, 1, 50);
    const workers = [startWorker('w1', tableName, output), startWorker('w2', tableName, output)];
    await waitFor(
      () => keysOf(output).size >= 50,
      30_000,
      () => `first 50 processed; seen ${keysOf(output).size}\n${workers.map((w) => w.output()).join('\n')}`,
    );
    const owner = readSeen(output).at(-1)!.worker;
    const victim = workers.find((w) => w.name === owner)!;
    const survivor = workers.find((w) => w.name !== owner)!;
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    await put(tableName, 51, 100);
    await waitFor(
      () => keysOf(output).size >= 100,
      30_000,
      () => `all 100 after the kill; seen ${keysOf(output).size}\n${survivor.output()}`,
    );
    const seen = readSeen(output);
    expect([...keysOf(output)].sort()).toEqual(expectedKeys(100).sort());
    expect(seen.filter((r) => Number(r.key.slice(1)) > 50).every((r) => r.worker === survivor.name)).toBe(true);
    survivor.child.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);
  });

  it('SIGTERM → the worker exits 0 and hands the shard off: the other continues with no duplicates', async () => {
    const { tableName } = await db.createStreamTable();
    const output = join(dir, `${tableName}.jsonl`);
    // Info logs from a: its coordinator logs each lease it releases, naming the successor.
    const first = startWorker('a', tableName, output, [], { SHARDLINE_LOG_LEVEL: 'info' });
    await put(tableName, 1, 30);
    await waitFor(
      () => keysOf(output).size >= 30,
      30_000,
      () => `first 30; seen ${keysOf(output).size}\n${first.output()}`,
    );
    const second = startWorker('b', tableName, output);
    // Wait until b has joined (its heartbeat row exists), so a names it as the successor.
    let workers: string[] = [];
    const joined = async () =>
      (workers = (await readLeaseTable(db.dynamodb, `shardline-${tableName}`)).workers.map((w) => w.workerId)).includes(
        'b',
      );
    await waitForAsync(joined, 20_000, () => `b joins; workers ${workers.join(',')}\n${second.output()}`);
    const writing = put(tableName, 31, 60);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // The hand-off, not expiry: a released the lease before exiting, so right after its exit the
    // lease row is b's (or nobody's, if a had not seen b yet, for b to take at its next read)
    // and never still a's, which only the lease duration would undo.
    const releases = first
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"lease released"'))
      .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as { shardId?: string; to?: string | null });
    expect(releases).toHaveLength(1);
    expect([null, 'b']).toContain(releases[0]!.to);
    const afterExit = (await readLeaseTable(db.dynamodb, `shardline-${tableName}`)).leases.find(
      (l) => l.shardId === releases[0]!.shardId,
    );
    expect(afterExit).toBeDefined();
    expect(afterExit!.owner).not.toBe('a');
    await writing;
    await waitFor(
      () => keysOf(output).size >= 60,
      30_000,
      () => `all 60; seen ${keysOf(output).size}\n${second.output()}`,
    );
    const seen = readSeen(output);
    const counts = new Map<string, number>();
    for (const r of seen) counts.set(r.sequenceNumber, (counts.get(r.sequenceNumber) ?? 0) + 1);
    expect([...counts.values()].filter((c) => c > 1)).toEqual([]);
    expect(seen).toHaveLength(60);
    expect(seen.some((r) => r.worker === 'b')).toBe(true);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('a processor that throws on one record: retries, bisects, the record lands in the JSONL destination, processing continues', async () => {
    const { tableName } = await db.createStreamTable();
    const output = join(dir, `${tableName}.jsonl`);
    const failed = join(dir, `${tableName}.failed.jsonl`);
    await put(tableName, 1, 20, (i) => (i === 7 ? 'poison' : `k${i}`));
    const worker = startWorker(
      'w',
      tableName,
      output,
      ['--max-retries', '2', '--bisect-on-error', '--failure-jsonl', failed],
      { E2E_FAIL_KEY: 'poison' },
    );
    await put(tableName, 21, 30);
    await waitFor(
      () => keysOf(output).size >= 29 && readSeen(failed).length >= 1,
      30_000,
      () => `29 processed + 1 failed; ${keysOf(output).size}\n${worker.output()}`,
    );
    const failures = readSeen(failed) as unknown as Array<{
      keys: { pk: string };
      error: { message: string };
      attempts: number;
      reason: string;
      shardId: string;
      sequenceNumber: string;
    }>;
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      keys: { pk: 'poison' },
      error: { message: 'refusing poison' },
      attempts: 3,
      reason: 'retries-exhausted',
    });
    expect(keysOf(output).has('poison')).toBe(false);
    expect(keysOf(output).has('k30')).toBe(true);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('a second SIGTERM forces the exit (1) while a batch is still in flight', async () => {
    const { tableName } = await db.createStreamTable();
    const output = join(dir, `${tableName}.jsonl`);
    await put(tableName, 1, 1);
    const worker = startWorker('slow', tableName, output, ['--shutdown-timeout-ms', '60000', '--log-level', 'info'], {
      E2E_DELAY_MS: '60000',
    });
    await waitFor(
      () => existsSync(`${output}.started`),
      30_000,
      () => `a batch in flight\n${worker.output()}`,
    );
    worker.child.kill('SIGTERM');
    // The graceful stop waits for the batch; the second signal must not.
    await waitFor(
      () => worker.output().includes('shutting down gracefully'),
      10_000,
      () => worker.output(),
    );
    worker.child.kill('SIGTERM');
    // The batch in flight sleeps 60 s, so only the forced path can end the process within this
    // deadline: a generous one, not a measure of how fast the machine is.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(() => reject(new Error(`no forced exit within 20 s\n${worker.output()}`)), 20_000)),
    );
    try {
      expect(await Promise.race([worker.exited, deadline])).toBe(1);
    } finally {
      clearTimeout(timer);
    }
    expect(worker.output()).toContain('second signal: exiting without finishing the shutdown');
    expect(worker.output()).not.toContain('"msg":"worker stopped"');
    expect(readSeen(output)).toEqual([]);
  });

  it('bad input exits 2 with one line: missing processor export, table without a stream, unreachable endpoint', async () => {
    const noExport = spawnCli(
      'bad',
      ['run', '--table', 'x', '--processor', 'package.json', '--endpoint', db.endpoint],
      db.env,
    );
    expect(await noExport.exited).toBe(2);
    expect(noExport.output()).toMatch(/exports no processor/);

    const plain = db.uniqueName('plain');
    const { CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
    await db.dynamodb.send(
      new CreateTableCommand({
        TableName: plain,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const noStream = spawnCli(
      'nostream',
      ['run', '--table', plain, '--processor', FIXTURE_PROCESSOR, '--endpoint', db.endpoint],
      { ...db.env, E2E_OUTPUT: join(dir, 'x.jsonl') },
    );
    expect(await noStream.exited).toBe(2);
    expect(
      noStream
        .output()
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('shardline:')),
    ).toEqual([expect.stringMatching(/has no stream/)]);

    const unreachable = spawnCli(
      'down',
      ['run', '--table', 't', '--processor', FIXTURE_PROCESSOR, '--endpoint', 'http://127.0.0.1:9'],
      { ...db.env, E2E_OUTPUT: join(dir, 'y.jsonl') },
    );
    expect(await unreachable.exited).toBe(2);
    expect(unreachable.output()).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
