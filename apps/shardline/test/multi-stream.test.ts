import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { readLeaseTable } from '@shardline/leases';
import { connectTestDynamoDB } from '@shardline/testkit';
import { cliRunner } from './cli-process.js';

/**
 * Several tables, one application, end to end: `shardline run --table a --table b` in two
 * worker processes on DynamoDB Local, after a single-stream run of table a wrote the lease table
 * the way a single-stream application always has (plain shard-id keys).
 */
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'shardline-multi-stream-'));
const deliveries = join(scratch, 'deliveries.jsonl');
const children = new Set<ChildProcessWithoutNullStreams>();
const cli = cliRunner(children, 60_000);
const db = connectTestDynamoDB();

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await db.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Delivery {
  table: string;
  streamArn: string;
  pk: string;
  sequenceNumber: string;
  pid: number;
}

function delivered(): Delivery[] {
  if (!existsSync(deliveries)) return [];
  return readFileSync(deliveries, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Delivery);
}

async function put(table: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 25) {
    await db.dynamodb.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [table]: keys.slice(i, i + 25).map((pk) => ({ PutRequest: { Item: { pk: { S: pk } } } })),
        },
      }),
    );
  }
}

const range = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`);

describe('shardline run with several tables', { timeout: 180_000 }, () => {
  it('two worker processes deliver every record of both tables once, with the right stream, balanced; an existing single-stream lease table keeps working', async () => {
    const a = await db.createStreamTable({ name: db.uniqueName('orders') });
    const b = await db.createStreamTable({ name: db.uniqueName('payments') });
    const app = db.uniqueName('app');
    const leaseTable = `shardline-${app}`;
    const env = { ...db.env, DELIVERIES_FILE: deliveries };
    const common = [
      '--app',
      app,
      '--endpoint',
      db.endpoint,
      '--processor',
      join(fixtures, 'record-deliveries.mjs'),
      '--lease-duration-ms',
      '3000',
      '--idle-interval-ms',
      '100',
      '--max-idle-interval-ms',
      '200',
      '--checkpoint-interval-ms',
      '0',
    ];

    // 1. Today's single-stream application on table a.
    await put(a.tableName, range('a', 0, 20));
    const single = cli(['run', '--table', a.tableName, ...common, '--worker-id', 'single'], env);
    await single.until(() => delivered().length >= 20, 'the single-stream run to deliver table a');
    single.child.kill('SIGTERM');
    expect(await single.exit).toBe(0);
    let table = await readLeaseTable(db.dynamodb, leaseTable);
    expect(table.leases.map((l) => l.leaseKey)).toEqual(table.leases.map((l) => l.shardId));

    // 2. The same application, upgraded to two tables, in two processes.
    await put(a.tableName, range('a', 20, 40));
    await put(b.tableName, range('b', 0, 40));
    const args = ['run', '--table', a.tableName, '--table', b.tableName, ...common];
    const w1 = cli([...args, '--worker-id', 'w1'], env);
    const w2 = cli([...args, '--worker-id', 'w2'], env);
    await w1.until(() => delivered().length >= 80, 'every record of both tables', 90_000);
    // Balance: DynamoDB Local gives each stream one shard, so each worker ends up with one.
    await w1.until(
      async () => {
        table = await readLeaseTable(db.dynamodb, leaseTable);
        const owners = table.leases.filter((l) => l.checkpoint !== 'SHARD_END').map((l) => l.owner);
        return owners.length === 2 && new Set(owners).size === 2 && owners.every((o) => o !== undefined);
      },
      'one lease per worker',
      30_000,
    );
    await put(a.tableName, ['a-late']);
    await put(b.tableName, ['b-late']);
    await w1.until(() => delivered().length >= 82, 'the records written after the balance');
    for (const worker of [w1, w2]) worker.child.kill('SIGTERM');
    expect(await Promise.all([w1.exit, w2.exit])).toEqual([0, 0]);

    const all = delivered();
    const byTable = (name: string) => all.filter((d) => d.table === name);
    expect(new Set(byTable(a.tableName).map((d) => d.pk))).toEqual(new Set([...range('a', 0, 40), 'a-late']));
    expect(new Set(byTable(b.tableName).map((d) => d.pk))).toEqual(new Set([...range('b', 0, 40), 'b-late']));
    // Nothing read twice: the upgraded run resumed table a after the single-stream checkpoint.
    expect(all).toHaveLength(82);
    expect(byTable(a.tableName).every((d) => d.streamArn === a.streamArn)).toBe(true);
    expect(byTable(b.tableName).every((d) => d.streamArn === b.streamArn)).toBe(true);
    // Table a's lease kept its plain key; table b's is qualified by its stream.
    table = await readLeaseTable(db.dynamodb, leaseTable);
    for (const lease of table.leases)
      expect(lease.leaseKey).toBe(lease.streamArn === a.streamArn ? lease.shardId : `${b.streamArn}#${lease.shardId}`);
    // Both processes did work after the upgrade.
    expect(new Set(all.slice(20).map((d) => d.pid)).size).toBe(2);
  });
});
