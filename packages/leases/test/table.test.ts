import { CreateTableCommand, DescribeTableCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ConfigError } from '@shardline/core';
import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { LeaseStore } from '../src/lease-store.js';
import { readLeaseTable } from '../src/lease-table.js';
import {
  closeFleetsAfterEach,
  Fleet,
  HEARTBEAT_MS,
  LEASE_MS,
  MARGIN_MS,
  PlainLister,
  rootShards,
  STREAM_ARN,
} from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

let fleet: Fleet | undefined;
closeFleetsAfterEach();

describe('lease table', () => {
  it('is created on demand, on demand billing, keyed by leaseKey, and readable by humans', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(2)));
    fleet.add('w1');
    await fleet.start('w1');
    await fleet.until(() => fleet!.holders.size === 2, 2 * HEARTBEAT_MS);
    const { Table } = await db.dynamodb.send(new DescribeTableCommand({ TableName: fleet.leaseTableName }));
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'leaseKey', KeyType: 'HASH' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const view = await readLeaseTable(db.dynamodb, fleet.leaseTableName);
    expect(view.leases[0]).toMatchObject({
      shardId: 'shardId-00000',
      owner: 'w1',
      checkpoint: 'TRIM_HORIZON',
      streamArn: STREAM_ARN,
    });
    expect(view.leases[0]?.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(view.workers).toEqual([expect.objectContaining({ workerId: 'w1', draining: false })]);
    // The heartbeat item reports the leases held as of its last write: the next one says 2.
    await fleet.until(
      async () => (await readLeaseTable(db.dynamodb, fleet!.leaseTableName)).workers[0]?.leaseCount === 2,
      2 * HEARTBEAT_MS,
    );
    expect((await readLeaseTable(db.dynamodb, fleet.leaseTableName)).workers[0]?.leaseCount).toBe(2);
    expect(view.leader?.workerId).toBe('w1');
    expect(view.invalid).toEqual([]);
  });

  it('refuses a table with another key schema and never writes into it', async () => {
    const name = db.uniqueName('not-leases');
    await db.dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const store = new LeaseStore(db.dynamodb, name);
    await expect(store.ensureTable()).rejects.toBeInstanceOf(ConfigError);
    await expect(store.ensureTable()).rejects.toThrow(/not a shardline lease table \(key schema: pk HASH/);
    fleet = new Fleet(db, new PlainLister(rootShards(1)), { leaseTableName: name });
    const member = fleet.add('w1');
    await expect(member.coordinator.start()).rejects.toBeInstanceOf(ConfigError);
    expect((await db.dynamodb.send(new ScanCommand({ TableName: name }))).Count).toBe(0);
  });

  it('skips garbage and hand-edited rows with a clear report, and takes stale leases of unknown owners after a lease duration', async () => {
    fleet = new Fleet(db, new PlainLister(rootShards(4)));
    await new LeaseStore(db.dynamodb, fleet.leaseTableName).ensureTable();
    const put = (item: Record<string, unknown>) =>
      db.dynamodb.send(new PutItemCommand({ TableName: fleet!.leaseTableName, Item: marshall(item) }));
    const lease = (shardId: string) => ({
      leaseKey: shardId,
      itemType: 'lease',
      shardId,
      streamArn: STREAM_ARN,
      leaseCounter: 3,
      checkpoint: 'TRIM_HORIZON',
      parentShardIds: [],
    });
    await put({ ...lease('shardId-00000'), checkpoint: 'banana' }); // hand-edited
    await put({ leaseKey: 'shardId-00001', owner: 'someone', counter: 'x' }); // garbage
    await put({ ...lease('shardId-00002'), leaseOwner: 'ghost', ownerSession: 'gone' }); // stale owner, no heartbeat
    await put({ leaseKey: '_worker#broken', itemType: 'worker', workerId: 'broken' }); // broken heartbeat item
    fleet.add('w1');
    fleet.add('w2');
    await fleet.start('w1', 'w2');
    await fleet.until(() => fleet!.holders.has('shardId-00003'), 2 * HEARTBEAT_MS);
    const view = await readLeaseTable(db.dynamodb, fleet.leaseTableName);
    expect(view.invalid.map((r) => r.leaseKey).sort()).toEqual(['_worker#broken', 'shardId-00000', 'shardId-00001']);
    expect(view.invalid.find((r) => r.leaseKey === 'shardId-00000')?.problem).toMatch(
      /checkpoint must be a sequence number/,
    );
    expect(fleet.holders.has('shardId-00002')).toBe(false);
    const took = await fleet.until(() => fleet!.holders.has('shardId-00002'), 2 * LEASE_MS);
    expect(took).toBeGreaterThanOrEqual(LEASE_MS + MARGIN_MS - 2 * HEARTBEAT_MS);
    // Invalid rows stay untouched and unassigned; the coordinators keep running.
    await fleet.advance(2 * HEARTBEAT_MS);
    expect(fleet.holders.has('shardId-00000')).toBe(false);
    expect(fleet.holders.has('shardId-00001')).toBe(false);
    expect(fleet.logs.filter((l) => l.includes('is invalid')).length).toBe(6); // 3 rows × 2 workers, once each
  });
});
