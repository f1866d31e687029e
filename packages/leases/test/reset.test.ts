import { PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '@shardline/core';
import { connectTestDynamoDB, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { LEADER_KEY, workerKey, type LeaseItem } from '../src/items.js';
import { LeaseStore } from '../src/lease-store.js';
import { LeasesHeldError, resetLeases } from '../src/reset.js';
import { newLeaseItem } from '../src/shard-sync.js';
import { qualifiedLeaseKey } from '../src/lease-key.js';

/** resetLeases on DynamoDB Local and the stream simulator: stale owners, a reset that fails partway. */

const db = connectTestDynamoDB();
afterAll(() => db.close());
let sim: StreamSimulator | undefined;
let streams: DynamoDBStreamsClient | undefined;
afterEach(async () => {
  streams?.destroy();
  await sim?.stop();
  sim = undefined;
  streams = undefined;
});

const START = Date.parse('2026-12-03T12:00:00.000Z');

async function setup(shards: number, keys: 'plain' | 'qualified' = 'plain') {
  const clock = new ManualClock(START);
  sim = await startStreamSimulator({ clock, shards });
  streams = new DynamoDBStreamsClient({
    endpoint: sim.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'sim', secretAccessKey: 'sim' },
  });
  const tableName = db.uniqueName('leases');
  const store = new LeaseStore(db.dynamodb, tableName, clock);
  await store.ensureTable();
  const now = new Date(START).toISOString();
  const put = (item: object) =>
    db.dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: marshall(item, { removeUndefinedValues: true }) }),
    );
  await put({
    leaseKey: LEADER_KEY,
    itemType: 'leader',
    leaseOwner: 'w0',
    ownerSession: 's0',
    leaseCounter: 1,
    epoch: 0,
  });
  const leases: LeaseItem[] = [];
  for (const shard of sim.shards()) {
    const leaseKey = keys === 'qualified' ? qualifiedLeaseKey(sim.streamArn, shard.shardId) : undefined;
    const lease = { ...newLeaseItem(sim.streamArn, shard, '000000000000000000100', now, leaseKey), leaseCounter: 4 };
    leases.push(lease);
    await put(lease);
  }
  return { clock, tableName, store, put, leases, streamArn: sim.streamArn, streams };
}

/** The test DynamoDB client, running `race` on the other lease right after the reset's first lease write. */
function afterFirstResetWrite(leases: LeaseItem[], race: (other: LeaseItem) => Promise<unknown>): DynamoDBClient {
  let writes = 0;
  return {
    send: async (command: unknown, ...rest: unknown[]) => {
      const out = await (db.dynamodb.send as (...args: unknown[]) => Promise<unknown>)(command, ...rest);
      if (
        command instanceof UpdateItemCommand &&
        command.input.UpdateExpression?.startsWith('SET checkpoint = :cp') &&
        writes++ === 0
      )
        await race(leases.find((l) => l.leaseKey !== command.input.Key?.leaseKey?.S)!);
      return out;
    },
  } as unknown as DynamoDBClient;
}

function worker(id: string, updatedAt: number) {
  return {
    leaseKey: workerKey(id),
    itemType: 'worker',
    workerId: id,
    sessionId: `${id}-session`,
    heartbeat: 9,
    leaseCount: 1,
    updatedAt: new Date(updatedAt).toISOString(),
  };
}

describe('resetLeases', () => {
  it('moves leases of an owner whose heartbeat is older than a lease duration without --force; a live owner is refused', async () => {
    const { tableName, store, put, leases, streams } = await setup(2);
    // `ghost` crashed a minute ago; `alive` heartbeated just now.
    await put(worker('ghost', START - 60_000));
    await put(worker('alive', START - 500));
    await put({ ...leases[0]!, leaseOwner: 'ghost', ownerSession: 'ghost-session' });
    await put({ ...leases[1]!, leaseOwner: 'alive', ownerSession: 'alive-session' });
    const options = {
      dynamodb: db.dynamodb,
      streams,
      leaseTableName: tableName,
      target: { kind: 'TRIM_HORIZON' } as const,
      force: false,
      apply: true,
      actor: 'test',
      leaseDurationMs: 10_000,
      clock: new ManualClock(START),
    };
    const refused = await resetLeases(options).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(LeasesHeldError);
    expect((refused as LeasesHeldError).held).toEqual([{ shardId: leases[1]!.shardId, owner: 'alive' }]);
    // Nothing to wait for: a live worker renews its leases for ever.
    expect((refused as Error).message).not.toMatch(/wait|expire/);

    // `alive` stops (its lease released): the crashed owner's lease moves without --force.
    await put({ ...leases[1]! });
    const result = await resetLeases(options);
    expect(result.stale).toEqual([{ shardId: leases[0]!.shardId, owner: 'ghost' }]);
    expect(result.held).toEqual([]);
    const snapshot = await store.scan();
    for (const lease of snapshot.leases) {
      expect(lease.checkpoint).toBe('TRIM_HORIZON');
      expect(lease.leaseOwner).toBeUndefined();
    }
  });

  it('a reset stopped partway by a worker taking a lease audits what it wrote (partial) and bumps the epoch', async () => {
    const { tableName, store, put, leases, streams } = await setup(2);
    await put(worker('newcomer', START));
    // A worker takes the other lease right after the reset's first write.
    const racing = afterFirstResetWrite(leases, (other) =>
      put({ ...other, leaseOwner: 'newcomer', ownerSession: 'newcomer-session', leaseCounter: 5 }),
    );
    const failure = await resetLeases({
      dynamodb: racing,
      streams,
      leaseTableName: tableName,
      target: { kind: 'TRIM_HORIZON' },
      force: false,
      apply: true,
      actor: 'test',
      clock: new ManualClock(START),
    }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(LeasesHeldError);

    const snapshot = await store.scan();
    const moved = snapshot.leases.filter((l) => l.checkpoint === 'TRIM_HORIZON');
    expect(moved).toHaveLength(1);
    expect(snapshot.audits).toHaveLength(1);
    expect(snapshot.audits[0]).toMatchObject({
      action: 'reset',
      partial: true,
      changes: [{ shardId: moved[0]!.shardId, from: '000000000000000000100', to: 'TRIM_HORIZON' }],
    });
    expect(snapshot.leader?.epoch).toBe(1);
  });

  it('a reset write that lost a race with a checkpoint reads the lease again by its key (qualified for several streams) and moves it', async () => {
    const { tableName, store, put, leases, streams } = await setup(2, 'qualified');
    // A checkpoint lands on the other lease right after the reset's first write.
    const racing = afterFirstResetWrite(leases, (other) =>
      put({ ...other, checkpoint: '000000000000000000200', leaseCounter: 5 }),
    );
    await resetLeases({
      dynamodb: racing,
      streams,
      leaseTableName: tableName,
      target: { kind: 'TRIM_HORIZON' },
      force: false,
      apply: true,
      actor: 'test',
      clock: new ManualClock(START),
    });

    const snapshot = await store.scan();
    expect(snapshot.leases.map((l) => [l.leaseKey, l.checkpoint]).sort()).toEqual(
      leases.map((l) => [l.leaseKey, 'TRIM_HORIZON']).sort(),
    );
  });
});
