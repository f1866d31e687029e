import { afterAll, describe, expect, it } from 'vitest';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ResourceNotFoundException,
  TrimmedDataAccessException,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import { connectTestDynamoDB, testDynamoDBControls } from '../src/index.js';

// DynamoDB Local's own test hooks, driven through the launcher started by the global setup.
// Every test uses a database of its own, and the controls are scoped to it, so other test
// files running against the same server are not disturbed.
const hasControls = testDynamoDBControls() !== undefined;
const opened: Array<ReturnType<typeof connectTestDynamoDB>> = [];
afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()));
});

async function setup() {
  const db = connectTestDynamoDB();
  opened.push(db);
  const controls = testDynamoDBControls(db);
  if (!controls) throw new Error('no controls');
  const { tableName, streamArn } = await db.createStreamTable();
  const put = (key: string) => db.dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: key } } }));
  const shards = async (): Promise<Shard[]> =>
    (await db.streams.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription?.Shards ?? [];
  const iterator = async (shardId: string, type: 'TRIM_HORIZON' | 'LATEST' = 'TRIM_HORIZON') =>
    (
      await db.streams.send(
        new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: type }),
      )
    ).ShardIterator;
  const read = async (shardIterator: string | undefined) => {
    const out = await db.streams.send(new GetRecordsCommand({ ShardIterator: shardIterator }));
    return { keys: (out.Records ?? []).map((r) => r.dynamodb?.Keys?.pk?.S), next: out.NextShardIterator };
  };
  return { db, controls, put, shards, iterator, read };
}

describe.skipIf(!hasControls)('DynamoDB Local controls (real jar)', () => {
  it('rollover() closes the open shard and later records land in a child naming it as parent', async () => {
    const { controls, put, shards, iterator, read } = await setup();
    await put('before');
    const [first] = await shards();
    expect(first?.SequenceNumberRange?.EndingSequenceNumber).toBeUndefined();

    await controls.rollover();
    await put('after');

    const after = await shards();
    expect(after).toHaveLength(2);
    const parent = after.find((s) => s.ShardId === first?.ShardId);
    const child = after.find((s) => s.ShardId !== first?.ShardId);
    expect(parent?.SequenceNumberRange?.EndingSequenceNumber).toBeDefined();
    expect(child?.ParentShardId).toBe(first?.ShardId);
    expect(child?.SequenceNumberRange?.EndingSequenceNumber).toBeUndefined();

    const fromParent = await read(await iterator(parent!.ShardId!));
    expect(fromParent.keys).toEqual(['before']);
    expect(fromParent.next).toBeUndefined(); // closed shard, fully read: the shard has ended
    const fromChild = await read(await iterator(child!.ShardId!));
    expect(fromChild.keys).toEqual(['after']);
    expect(fromChild.next).toBeDefined();
  });

  it('advanceTime(16 min) expires an iterator issued before it', async () => {
    const { controls, put, shards, iterator, read } = await setup();
    await put('a');
    const [shard] = await shards();
    const old = await iterator(shard!.ShardId!);
    await controls.advanceTime(16 * 60_000);
    await expect(read(old)).rejects.toBeInstanceOf(ExpiredIteratorException);
    // A fresh iterator still reads the (16-minute-old) record.
    expect((await read(await iterator(shard!.ShardId!))).keys).toEqual(['a']);
  });

  it('advanceTime(25 h) trims the old records: reads of the aged shards fail, new records are readable', async () => {
    const { controls, put, shards, iterator, read } = await setup();
    await put('old-1');
    await controls.rollover();
    await put('old-2');
    const [root, second] = await shards();

    await controls.advanceTime(25 * 3600_000);

    // The age-based rollover ran as part of the dilation: the open shard (older than 4 h) closed.
    const aged = await shards();
    expect(aged.map((s) => s.ShardId)).toEqual([root!.ShardId, second!.ShardId, expect.any(String)]);
    expect(aged[1]?.SequenceNumberRange?.EndingSequenceNumber).toBeDefined();
    expect(aged[2]?.ParentShardId).toBe(second!.ShardId);

    // The closed root shard, all of it past retention: still listed, but its iterator names a
    // shard DynamoDB Local has expired.
    await expect(read(await iterator(root!.ShardId!))).rejects.toBeInstanceOf(ResourceNotFoundException);
    // The second shard's records are trimmed: GetShardIterator(TRIM_HORIZON) still succeeds,
    // the GetRecords on it fails (on AWS, TRIM_HORIZON starts at the oldest kept record).
    await expect(read(await iterator(second!.ShardId!))).rejects.toBeInstanceOf(TrimmedDataAccessException);

    await put('new');
    expect((await read(await iterator(aged[2]!.ShardId!))).keys).toEqual(['new']);
  });
});
