import {
  CreateTableCommand,
  PutItemCommand,
  ScanCommand,
  waitUntilTableExists,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readLeaseTable } from '@shardline/leases';
import {
  connectTestDynamoDB,
  kclLeaseRow,
  kclNonLeaseRows,
  testDynamoDBControls,
  type KclLeaseRowInput,
} from '@shardline/testkit';
import { Worker, defineProcessor } from '@shardline/worker';
import { captureCli, stubDatabaseEnv } from './capture-cli.js';

/**
 * The cutover from the Java KCL end to end: KCL lease rows written exactly as its serializer
 * writes them, `shardline import-kcl`, then a real Worker on DynamoDB Local: the first record
 * each shard delivers is the one right after the KCL checkpoint, and parents finish first.
 */

const db = connectTestDynamoDB();
const controls = testDynamoDBControls(db);
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

/** Every record in the stream, by shard: [n, sequence number] in order (what the KCL fleet had read). */
async function streamContents(streamArn: string): Promise<Map<string, Array<{ n: number; seq: string }>>> {
  const out = await db.streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const shards = new Map<string, Array<{ n: number; seq: string }>>();
  for (const shard of out.StreamDescription?.Shards ?? []) {
    const records: Array<{ n: number; seq: string }> = [];
    let iterator = (
      await db.streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    // A closed shard ends with a null iterator; an open one answers empty once read to its end.
    while (iterator) {
      const page = await db.streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const r of page.Records ?? [])
        records.push({ n: Number(r.dynamodb?.NewImage?.n?.N), seq: r.dynamodb!.SequenceNumber! });
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
    shards.set(shard.ShardId!, records);
  }
  return shards;
}

function onlyShard(
  contents: Map<string, Array<{ n: number; seq: string }>>,
): [string, Array<{ n: number; seq: string }>] {
  expect(contents.size).toBe(1);
  return [...contents][0]!;
}

async function kclTable(rows: Array<Record<string, AttributeValue>>): Promise<string> {
  const name = db.uniqueName('kcl');
  await db.dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await waitUntilTableExists({ client: db.dynamodb, maxWaitTime: 30 }, { TableName: name });
  for (const row of rows) await db.dynamodb.send(new PutItemCommand({ TableName: name, Item: row }));
  return name;
}

async function scanAll(tableName: string): Promise<unknown[]> {
  const out = await db.dynamodb.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
  return (out.Items ?? []).sort((a, b) => (a.leaseKey!.S! < b.leaseKey!.S! ? -1 : 1));
}

interface Delivery {
  shardId: string;
  n: number;
}

async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function startWorker(tableName: string, app: string, seen: Delivery[]): Worker {
  const worker = new Worker<{ n: number }>({
    tableName,
    applicationName: app,
    workerId: `${app}-w1`,
    dynamodb: db.dynamodb,
    streams: db.streams,
    leases: { leaseDurationMs: 3_000 },
    reader: { idleIntervalMs: 50 },
    shutdownTimeoutMs: 5_000,
    processor: defineProcessor<{ n: number }>({
      processRecords: ({ shardId, records }) => {
        for (const r of records) seen.push({ shardId, n: r.newItem!.n });
      },
    }),
  });
  workers.push(worker);
  return worker;
}

/** Imports the KCL rows (built from the stream's own shards), runs a worker, returns what it delivered. */
async function cutover(options: {
  tableName: string;
  kclRows: Array<Record<string, AttributeValue>>;
  expectTotal: number;
  tableFlag?: boolean;
}): Promise<{ seen: Delivery[]; stdout: string; app: string }> {
  const kcl = await kclTable(options.kclRows);
  const before = await scanAll(kcl);
  const app = db.uniqueName('app');
  const base = ['--kcl-table', kcl, '--app', app, '--endpoint', db.endpoint, '--region', db.region];
  const args = [...base, ...(options.tableFlag === false ? [] : ['--table', options.tableName])];
  // Short watch: nothing renews these rows, and the real default (10 s) would only slow the test.
  const dry = await capture(['import-kcl', ...args, '--kcl-failover-ms', '50']);
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/dry run: \d+ lease\(s\) would be written/);
  const applied = await capture(['import-kcl', ...args, '--kcl-failover-ms', '50', '--yes']);
  expect(applied.stderr).toBe('');
  expect(applied.code).toBe(0);
  expect(applied.stdout).toMatch(/imported \d+ lease\(s\); the KCL table was not changed/);
  // The KCL table is exactly as it was: rolling back is starting the Java fleet again.
  expect(await scanAll(kcl)).toEqual(before);

  const seen: Delivery[] = [];
  await startWorker(options.tableName, app, seen).start();
  await until(() => seen.length >= options.expectTotal, 20_000, `${options.expectTotal} records`);
  return { seen, stdout: dry.stdout, app };
}

function firstPerShard(seen: Delivery[]): Map<string, number> {
  const first = new Map<string, number>();
  for (const d of seen) if (!first.has(d.shardId)) first.set(d.shardId, d.n);
  return first;
}

describe('shardline import-kcl on DynamoDB Local', () => {
  it('a KCL table that is not there is one line naming where it was looked for, exit 2', async () => {
    const kcl = db.uniqueName('nokcl');
    const result = await capture(['import-kcl', '--kcl-table', kcl, '--app', 'a', '--endpoint', db.endpoint]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `shardline: KCL lease table ${kcl} not found (the KCL application name is its default name) (at ${db.endpoint})\n`,
    );
  });

  it('single-stream KCL 1.x/2.x rows: the worker starts right after the KCL checkpoint', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    await put(tableName, 1, 8);
    const [shardId, records] = onlyShard(await streamContents(streamArn));
    const row = (version: KclLeaseRowInput['version']) =>
      kclLeaseRow({ shardId, checkpoint: records[4]!.seq, leaseCounter: 17, leaseOwner: 'java-worker-1', version });
    const { seen, stdout } = await cutover({ tableName, kclRows: [row('1.x')], expectTotal: 3 });
    expect(stdout).toContain(records[4]!.seq);
    expect(seen.map((d) => d.n)).toEqual([6, 7, 8]);
  });

  it('KCL 3.x rows with entityType and the other 3.x items: only leases imported, the rest skipped', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    await put(tableName, 1, 5);
    const [shardId, records] = onlyShard(await streamContents(streamArn));
    const rows = [
      kclLeaseRow({ shardId, checkpoint: records[1]!.seq, version: '3.x', leaseOwner: 'java-worker-1' }),
      ...kclNonLeaseRows(),
    ];
    const { seen, stdout, app } = await cutover({ tableName, kclRows: rows, expectTotal: 3 });
    expect(stdout).toMatch(/skipped Leader: KCL LEADER item/);
    expect(stdout).toMatch(/skipped java-worker-1: KCL WORKER_METRIC_STATS item/);
    expect(seen.map((d) => d.n)).toEqual([3, 4, 5]);
    // The import is audited in the lease table, and status shows it.
    const view = await readLeaseTable(db.dynamodb, `shardline-${app}`);
    expect(view.audits).toEqual([
      expect.objectContaining({
        action: 'import-kcl',
        changes: [{ shardId, from: `kcl ${records[1]!.seq}`, to: records[1]!.seq }],
      }),
    ]);
    const status = await capture([
      'status',
      '--app',
      app,
      '--endpoint',
      db.endpoint,
      '--region',
      db.region,
      '--no-lag',
    ]);
    expect(status.stdout).toMatch(/import-kcl .* 1 shard\(s\)/);
  });

  it('multi-stream keys: the stream comes from the key itself (no --table)', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    await put(tableName, 1, 4);
    const [shardId, records] = onlyShard(await streamContents(streamArn));
    const rows = [kclLeaseRow({ shardId, checkpoint: records[0]!.seq, version: '3.x', multiStreamArn: streamArn })];
    const { seen } = await cutover({ tableName, kclRows: rows, expectTotal: 3, tableFlag: false });
    expect(seen.map((d) => d.n)).toEqual([2, 3, 4]);
  });

  it.skipIf(!controls)(
    'a lineage mid-rollover: the parent resumes after its checkpoint and finishes before the child',
    async () => {
      const { tableName, streamArn } = await db.createStreamTable();
      await put(tableName, 1, 4);
      await controls!.rollover();
      await put(tableName, 5, 8);
      const contents = await streamContents(streamArn);
      const parent = [...contents].find(([, r]) => r[0]?.n === 1)!;
      const child = [...contents].find(([, r]) => r[0]?.n === 5)!;
      const rows = [
        // KCL was inside the parent (checkpoint after record 2); the child's lease waits on it.
        kclLeaseRow({ shardId: parent[0], checkpoint: parent[1][1]!.seq, leaseCounter: 9, childShardIds: [child[0]] }),
        kclLeaseRow({ shardId: child[0], checkpoint: 'TRIM_HORIZON', parentShardIds: [parent[0]] }),
      ];
      const { seen } = await cutover({ tableName, kclRows: rows, expectTotal: 6 });
      expect(firstPerShard(seen)).toEqual(
        new Map([
          [parent[0], 3],
          [child[0], 5],
        ]),
      );
      expect(seen.map((d) => d.n)).toEqual([3, 4, 5, 6, 7, 8]);
    },
  );
});
