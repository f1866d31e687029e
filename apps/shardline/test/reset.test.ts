import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readLeaseTable } from '@shardline/leases';
import { connectTestDynamoDB } from '@shardline/testkit';
import { Worker, defineProcessor } from '@shardline/worker';
import { captureCli, stubDatabaseEnv } from './capture-cli.js';

/** `shardline reset` on DynamoDB Local with real workers: dry run, refusal, --force fencing, audit. */

const db = connectTestDynamoDB();
const workers: Worker[] = [];
beforeEach(() => {
  stubDatabaseEnv(db);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  vi.unstubAllEnvs();
});
afterAll(() => db.close());

const capture = captureCli;

async function put(tableName: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++)
    await db.dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: `k${n}` }, n: { N: String(n) } } }),
    );
}

async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function startWorker(tableName: string, seen: number[], id: string): Worker {
  const worker = new Worker<{ n: number }>({
    tableName,
    workerId: id,
    dynamodb: db.dynamodb,
    streams: db.streams,
    leases: { leaseDurationMs: 3_000 },
    reader: { idleIntervalMs: 50 },
    checkpointIntervalMs: 0,
    shutdownTimeoutMs: 5_000,
    processor: defineProcessor<{ n: number }>({
      processRecords: ({ records }) => {
        for (const r of records) seen.push(r.newItem!.n);
      },
    }),
  });
  workers.push(worker);
  return worker;
}

async function checkpoints(tableName: string): Promise<string[]> {
  return (await readLeaseTable(db.dynamodb, `shardline-${tableName}`)).leases.map((l) => l.checkpoint);
}

describe('shardline reset on DynamoDB Local', () => {
  it('an application without a lease table is one line and exit 2, for the dry run and --yes', async () => {
    const app = db.uniqueName('wrong');
    for (const yes of [[], ['--yes']]) {
      const result = await capture(['reset', '--app', app, '--to', 'latest', '--endpoint', db.endpoint, ...yes]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`shardline: no lease table for app ${app} (shardline-${app}): nothing to reset\n`);
      expect(result.stdout).toBe('');
    }
  });

  it('dry run, then --to trim_horizon replays; a live worker is refused unless --force fences it', async () => {
    const { tableName } = await db.createStreamTable();
    const base = ['reset', '--app', tableName, '--endpoint', db.endpoint, '--region', db.region];
    const seen: number[] = [];
    const first = startWorker(tableName, seen, 'w1');
    await first.start();
    await put(tableName, 1, 5);
    await until(() => seen.length >= 5, 20_000, 'records 1-5');

    // Held by a live worker: the dry run says it would be refused, the real one refuses.
    const dry = await capture([...base, '--to', 'trim_horizon']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(/would be refused: 1 lease\(s\) held by live worker\(s\) w1/);
    const refused = await capture([...base, '--to', 'trim_horizon', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/held by live worker\(s\) w1.*--force/);
    expect(seen).toEqual([1, 2, 3, 4, 5]);

    // --force fences w1: it loses the lease, then takes it again at TRIM_HORIZON and replays.
    const lost = first.events.waitFor('lease:lost');
    const forced = await capture([...base, '--to', 'trim_horizon', '--yes', '--force']);
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/TRIM_HORIZON\s+w1/);
    expect(forced.stdout).toMatch(/reset 1 lease\(s\) \(owners fenced\)/);
    await lost;
    await until(() => seen.length >= 10, 20_000, 'the replay');
    expect(seen).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);

    const status = await capture([
      'status',
      '--app',
      tableName,
      '--endpoint',
      db.endpoint,
      '--region',
      db.region,
      '--no-lag',
    ]);
    expect(status.stdout).toMatch(/reset by .*: TRIM_HORIZON \(forced\), 1 shard\(s\): shardId-\S+ \d+ → TRIM_HORIZON/);
  });

  it('with no worker running: --to latest skips what is there, --to-timestamp finds the place by time', async () => {
    const { tableName } = await db.createStreamTable();
    const base = ['reset', '--app', tableName, '--endpoint', db.endpoint, '--region', db.region];
    const seen: number[] = [];
    const w = startWorker(tableName, seen, 'w1');
    await w.start();
    await put(tableName, 1, 3);
    await until(() => seen.length >= 3, 20_000, 'records 1-3');
    await w.stop();
    await put(tableName, 4, 6);

    // A dry run changes nothing.
    const before = await checkpoints(tableName);
    const dry = await capture([...base, '--to', 'latest']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/dry run: run again with --yes/);
    expect(await checkpoints(tableName)).toEqual(before);

    // A time before everything: back to the first record.
    const early = await capture([...base, '--to-timestamp', '2020-01-01T00:00:00Z', '--yes']);
    expect(early.code).toBe(0);
    expect(await checkpoints(tableName)).toEqual(['TRIM_HORIZON']);
    // Now (DynamoDB Local stamps records to the minute, so all are before it): after the last record.
    const late = await capture([...base, '--to-timestamp', new Date().toISOString(), '--yes']);
    expect(late.stderr).toBe('');
    const [afterLast] = await checkpoints(tableName);
    expect(afterLast).toMatch(/^\d{21,}$/);

    const again = await capture([...base, '--to', 'latest', '--yes']);
    expect(again.code).toBe(0);
    // A real position after the last record (no new one since): a hand-off keeps it, where a
    // LATEST checkpoint would be turned into TRIM_HORIZON and replay everything.
    expect(await checkpoints(tableName)).toEqual([afterLast]);
    const seen2: number[] = [];
    const w2 = startWorker(tableName, seen2, 'w2');
    const acquired = w2.events.waitFor('lease:acquired');
    await w2.start();
    await acquired;
    // Nothing from before the reset: only what arrives after the worker started at LATEST.
    await until(() => w2.shardIds.length === 1, 20_000, 'w2 reading');
    // Where LATEST opens is the worker's moment: write until something arrives (deadline-bound),
    // then nothing from before the reset may be among it.
    const deadline = Date.now() + 20_000;
    for (let n = 7; seen2.length === 0; n++) {
      if (Date.now() > deadline) throw new Error('nothing delivered after the reset to LATEST');
      await put(tableName, n, n);
      await until(() => seen2.length > 0, 250, 'a delivery').catch(() => undefined);
    }
    expect(seen2.every((n) => n >= 7)).toBe(true);
    const view = await readLeaseTable(db.dynamodb, `shardline-${tableName}`);
    expect(view.audits.map((a) => a.target)).toEqual([
      'timestamp 2020-01-01T00:00:00.000Z',
      expect.stringMatching(/^timestamp /),
      'LATEST',
    ]);
  });

  it('#12: after --to latest and a graceful hand-off to another worker, nothing written before the reset is delivered', async () => {
    const { tableName } = await db.createStreamTable();
    const base = ['reset', '--app', tableName, '--endpoint', db.endpoint, '--region', db.region];
    const seen1: number[] = [];
    const w1 = startWorker(tableName, seen1, 'w1');
    await w1.start();
    await put(tableName, 1, 3);
    await until(() => seen1.length >= 3, 20_000, 'records 1-3');
    await w1.stop();
    // Written before the reset and never delivered: the reset must skip them for every later owner.
    await put(tableName, 4, 6);
    const reset = await capture([...base, '--to', 'latest', '--yes']);
    expect(reset.stderr).toBe('');
    expect(reset.code).toBe(0);

    // w2 takes the lease at the reset position and hands it off to w3 before it checkpointed
    // anything (the case where a LATEST-like position would turn into TRIM_HORIZON and replay).
    const seen2: number[] = [];
    const w2 = startWorker(tableName, seen2, 'w2');
    const acquired2 = w2.events.waitFor('lease:acquired');
    await w2.start();
    await acquired2;
    await until(() => w2.shardIds.length === 1, 20_000, 'w2 reading');
    const seen3: number[] = [];
    const w3 = startWorker(tableName, seen3, 'w3');
    await w3.start();
    const acquired3 = w3.events.waitFor('lease:acquired');
    await w2.stop();
    await acquired3;
    await until(() => w3.shardIds.length === 1, 20_000, 'w3 reading');

    // Records after the hand-off reach w3 exactly once; w3 then hands off to w4 after
    // checkpointing them, and w4 repeats none of them either.
    await put(tableName, 7, 9);
    await until(() => seen3.length >= 3, 20_000, 'records 7-9 at w3');
    const seen4: number[] = [];
    const w4 = startWorker(tableName, seen4, 'w4');
    await w4.start();
    const acquired4 = w4.events.waitFor('lease:acquired');
    await w3.stop();
    await acquired4;
    await put(tableName, 10, 10);
    await until(() => seen4.length >= 1, 20_000, 'record 10 at w4');
    expect(seen2).toEqual([]);
    expect(seen3).toEqual([7, 8, 9]);
    expect(seen4).toEqual([10]);
  });
});
