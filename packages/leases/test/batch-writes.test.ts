import { PutItemCommand, TransactWriteItemsCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { LeaseBatchError } from '../src/errors.js';
import type { LeaseItem } from '../src/items.js';
import { TRANSACT_MAX_ITEMS } from '../src/lease-batches.js';
import { LeaseStore } from '../src/lease-store.js';
import { STREAM_ARN } from './fleet.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

const lease = (i: number, extra: Partial<LeaseItem> = {}): LeaseItem => ({
  itemType: 'lease',
  leaseKey: `shardId-${String(i).padStart(5, '0')}`,
  shardId: `shardId-${String(i).padStart(5, '0')}`,
  streamArn: STREAM_ARN,
  parentShardIds: [],
  checkpoint: 'TRIM_HORIZON',
  leaseCounter: 0,
  ownerSwitchesSinceCheckpoint: 0,
  ...extra,
});

describe('lease writes in transactions (DynamoDB Local)', () => {
  it('creates every missing lease and leaves the existing ones as they are, even inside a transaction', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    // Existing leases in the first, second and last transaction of 250 items.
    const existing = [3, 150, 249];
    for (const i of existing) await store.createLease(lease(i, { leaseOwner: 'w-old', leaseCounter: 7 }));
    const items = Array.from({ length: 250 }, (_, i) => lease(i));
    const created = await store.createLeases(items);
    expect(created.map((item) => item.leaseKey).sort()).toEqual(
      items.filter((_, i) => !existing.includes(i)).map((item) => item.leaseKey),
    );
    const snapshot = await store.scan();
    expect(snapshot.leases).toHaveLength(250);
    for (const i of existing)
      expect(snapshot.leases.find((l) => l.leaseKey === lease(i).leaseKey)).toMatchObject({
        leaseOwner: 'w-old',
        leaseCounter: 7,
      });
  });

  it('deletes the leases whose counter is still the one read, and only those', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    const items = Array.from({ length: 150 }, (_, i) => lease(i, { checkpoint: 'SHARD_END' }));
    expect(await store.createLeases(items)).toHaveLength(150);
    // Two moved since they were read (counter bumped): they must stay.
    const moved = [items[10]!, items[120]!];
    for (const row of moved) await store.transfer(row, { workerId: 'w1', sessionId: 's1' });
    const deleted = await store.deleteLeases(items);
    expect(deleted).toHaveLength(148);
    expect(deleted.map((l) => l.leaseKey)).not.toContain(moved[0]!.leaseKey);
    const left = (await store.scan()).leases.map((l) => l.leaseKey).sort();
    expect(left).toEqual(moved.map((l) => l.leaseKey));
  });

  it('reads leases by key in batches, leaving out missing and invalid rows', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    const items = Array.from({ length: 150 }, (_, i) => lease(i));
    await store.createLeases(items);
    await db.dynamodb.send(
      new PutItemCommand({
        TableName: store.tableName,
        Item: { leaseKey: { S: 'garbage' }, itemType: { S: 'lease' } },
      }),
    );
    const rows = await store.getLeases([...items.map((item) => item.leaseKey), 'garbage', 'missing']);
    expect(rows.map((row) => row.leaseKey).sort()).toEqual(items.map((item) => item.leaseKey));
  });

  it('stops between transactions once told to', async () => {
    const store = new LeaseStore(db.dynamodb, db.uniqueName('leases'));
    await store.ensureTable();
    let asked = 0;
    // Allowed once: the first transaction only (the others are asked after it started).
    const created = await store.createLeases(
      Array.from({ length: 3 * TRANSACT_MAX_ITEMS }, (_, i) => lease(i)),
      () => asked++ === 0,
    );
    expect(created).toHaveLength(TRANSACT_MAX_ITEMS);
    expect((await store.scan()).leases).toHaveLength(TRANSACT_MAX_ITEMS);
  });
});

/** A client whose TransactWriteItems is cancelled with `reasons`; single PutItems succeed and are recorded. */
function cancellingClient(reasons: Array<{ Code?: string }> | undefined) {
  const singles: string[] = [];
  const client = {
    send: (command: unknown) => {
      if (command instanceof TransactWriteItemsCommand)
        return Promise.reject(
          Object.assign(new Error('Transaction cancelled'), {
            name: 'TransactionCanceledException',
            ...(reasons ? { CancellationReasons: reasons } : {}),
          }),
        );
      if (command instanceof PutItemCommand) {
        singles.push(command.input.Item!.leaseKey!.S!);
        return Promise.resolve({});
      }
      return Promise.reject(new Error('unexpected command'));
    },
  } as unknown as DynamoDBClient;
  return { client, singles };
}

describe('a cancelled transaction', () => {
  const items = [lease(1), lease(2), lease(3)];

  it('writes alone every item its reasons do not name as a failed condition', async () => {
    const { client, singles } = cancellingClient([
      { Code: 'None' },
      { Code: 'ConditionalCheckFailed' },
      { Code: 'TransactionConflict' },
    ]);
    const created = await new LeaseStore(client, 'leases').createLeases(items);
    expect(singles.sort()).toEqual([items[0]!.leaseKey, items[2]!.leaseKey]);
    expect(created.map((l) => l.leaseKey).sort()).toEqual([items[0]!.leaseKey, items[2]!.leaseKey]);
  });

  it('treats a missing reason as unknown (written alone), not as a lease that exists', async () => {
    const short = cancellingClient([{ Code: 'ConditionalCheckFailed' }]);
    expect((await new LeaseStore(short.client, 'leases').createLeases(items)).map((l) => l.leaseKey)).toEqual([
      items[1]!.leaseKey,
      items[2]!.leaseKey,
    ]);
    const none = cancellingClient(undefined);
    expect(await new LeaseStore(none.client, 'leases').createLeases(items)).toHaveLength(3);
    expect(none.singles).toHaveLength(3);
  });

  it('a failing transaction ends the call once the others in flight are done, reporting what they wrote', async () => {
    let n = 0;
    const client = {
      send: (command: unknown) => {
        if (!(command instanceof TransactWriteItemsCommand)) return Promise.reject(new Error('unexpected command'));
        // The second of three transactions (all in flight at once) is throttled.
        if (n++ === 1)
          return Promise.reject(
            Object.assign(new Error('Throughput exceeds the current capacity'), {
              name: 'ProvisionedThroughputExceededException',
              $metadata: { httpStatusCode: 400 },
            }),
          );
        return Promise.resolve({});
      },
    } as unknown as DynamoDBClient;
    const items = Array.from({ length: 250 }, (_, i) => lease(i));
    const err: unknown = await new LeaseStore(client, 'leases').createLeases(items).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseBatchError);
    expect((err as LeaseBatchError).retryable).toBe(true);
    expect((err as LeaseBatchError<LeaseItem>).written.map((l) => l.leaseKey)).toEqual([
      ...items.slice(0, 100).map((l) => l.leaseKey),
      ...items.slice(200).map((l) => l.leaseKey),
    ]);
  });
});
