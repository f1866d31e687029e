import {
  CreateTableCommand,
  DescribeTableCommand,
  PutItemCommand,
  UpdateItemCommand,
  waitUntilTableExists,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, type Clock } from '@shardline/core';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { connectTestDynamoDB, kclLeaseRow, startStreamSimulator } from '@shardline/testkit';
import { importKclLeases, KclFleetAliveError, KCL_DEFAULTS } from '../src/kcl-import.js';
import { LeaseStore } from '../src/lease-store.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

const ARN = 'arn:aws:dynamodb:ddblocal:000000000000:table/orders/stream/2026-12-03T10:17:08.123';
const SEQ = '000000000000000000123';

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

/** A clock whose sleep runs `during` (what the KCL fleet does meanwhile) and records how long it was asked to wait. */
function watchClock(during: () => Promise<void> = () => Promise.resolve()): Clock & { slept: number[] } {
  let now = Date.parse('2026-12-03T11:00:00Z');
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
      await during();
    },
  };
}

async function tableExists(name: string): Promise<boolean> {
  try {
    await db.dynamodb.send(new DescribeTableCommand({ TableName: name }));
    return true;
  } catch {
    return false;
  }
}

describe('importKclLeases on DynamoDB Local', () => {
  it('refuses KCL leases of shards the stream does not have, and shows them in the dry run', async () => {
    const sim = await startStreamSimulator({ shards: 1 });
    const streams = new DynamoDBStreamsClient({
      endpoint: sim.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'sim', secretAccessKey: 'sim' },
    });
    try {
      const real = sim.openShardIds()[0]!;
      const kcl = await kclTable([
        kclLeaseRow({ shardId: real, checkpoint: SEQ }),
        kclLeaseRow({ shardId: 'shardId-00000001700000000000-deadbeef', checkpoint: SEQ }),
      ]);
      const options = {
        dynamodb: db.dynamodb,
        streams,
        kclTableName: kcl,
        leaseTableName: db.uniqueName('shardline'),
        streamArn: sim.streamArn,
        failoverMs: 0,
        actor: 'test',
      };
      const dry = await importKclLeases({ ...options, apply: false });
      expect(dry.plan.problems).toEqual([expect.stringMatching(/1 KCL lease\(s\) name shards .*deadbeef/)]);
      await expect(importKclLeases({ ...options, apply: true })).rejects.toThrow(/deadbeef/);
    } finally {
      streams.destroy();
      await sim.stop();
    }
  });

  it('refuses while a KCL worker renews its lease over the failover time, and writes nothing', async () => {
    const kcl = await kclTable([
      kclLeaseRow({ shardId: 's1', checkpoint: SEQ, leaseCounter: 4, leaseOwner: 'java-1' }),
    ]);
    // A live KCL worker renews every failover / 3: the counter moves while we watch.
    const clock = watchClock(async () => {
      await db.dynamodb.send(
        new UpdateItemCommand({
          TableName: kcl,
          Key: { leaseKey: { S: 's1' } },
          UpdateExpression: 'SET leaseCounter = leaseCounter + :one',
          ExpressionAttributeValues: { ':one': { N: '1' } },
        }),
      );
    });
    const leaseTable = db.uniqueName('shardline');
    const options = {
      dynamodb: db.dynamodb,
      kclTableName: kcl,
      leaseTableName: leaseTable,
      streamArn: ARN,
      actor: 'test',
      clock,
    };
    const dry = await importKclLeases({ ...options, apply: false });
    expect(dry.alive).toEqual(['s1 leaseCounter moved 4 → 5 (owner java-1)']);
    const refused = importKclLeases({ ...options, apply: true });
    await expect(refused).rejects.toBeInstanceOf(KclFleetAliveError);
    await expect(refused).rejects.toThrow(/stop every KCL worker/);
    // The watch lasts KCL's failover time by default.
    expect(clock.slept).toEqual([KCL_DEFAULTS.failoverTimeMillis, KCL_DEFAULTS.failoverTimeMillis]);
    expect(await tableExists(leaseTable)).toBe(false);
  });

  it('refuses while a KCL 3.x graceful hand-off is under way (checkpointOwner set)', async () => {
    const kcl = await kclTable([
      kclLeaseRow({ shardId: 's1', checkpoint: SEQ, leaseOwner: 'java-1', checkpointOwner: 'java-2', version: '3.x' }),
    ]);
    const leaseTable = db.uniqueName('shardline');
    await expect(
      importKclLeases({
        dynamodb: db.dynamodb,
        kclTableName: kcl,
        leaseTableName: leaseTable,
        streamArn: ARN,
        actor: 'test',
        apply: true,
        failoverMs: 0,
        clock: watchClock(),
      }),
    ).rejects.toThrow(/checkpointOwner java-2/);
  });

  it('is idempotent when run again, and refuses a lease table holding other leases', async () => {
    const kcl = await kclTable([
      kclLeaseRow({ shardId: 's1', checkpoint: 'SHARD_END' }),
      kclLeaseRow({ shardId: 's2', checkpoint: SEQ, parentShardIds: ['s1'] }),
    ]);
    const leaseTable = db.uniqueName('shardline');
    const options = {
      dynamodb: db.dynamodb,
      kclTableName: kcl,
      leaseTableName: leaseTable,
      streamArn: ARN,
      actor: 'tester@host',
      apply: true,
      failoverMs: 0,
      clock: watchClock(),
    };
    const first = await importKclLeases(options);
    expect(first).toMatchObject({ applied: true, written: 2, alreadyPresent: 0 });
    const again = await importKclLeases(options);
    expect(again).toMatchObject({ applied: true, written: 0, alreadyPresent: 2 });
    const snapshot = await new LeaseStore(db.dynamodb, leaseTable).scan();
    expect(snapshot.leases.map((l) => [l.shardId, l.checkpoint, l.parentShardIds])).toEqual([
      ['s1', 'SHARD_END', []],
      ['s2', SEQ, ['s1']],
    ]);
    expect(snapshot.audits).toHaveLength(2);
    expect(snapshot.audits[0]).toMatchObject({ action: 'import-kcl', actor: 'tester@host', target: `kcl ${kcl}` });
    expect(snapshot.invalid).toEqual([]);

    // A shardline worker advanced s2 meanwhile: importing again would move it back.
    await new LeaseStore(db.dynamodb, leaseTable).resetLease(snapshot.leases[1]!, '000000000000000000999');
    await expect(importKclLeases(options)).rejects.toThrow(ConfigError);
    await expect(importKclLeases(options)).rejects.toThrow(
      /already holds 1 lease\(s\) that differ from this import.*lease s2 exists \(checkpoint 000000000000000000999\)/,
    );
  });
});
