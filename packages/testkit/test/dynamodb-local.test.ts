import { afterAll, describe, expect, it } from 'vitest';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { connectTestDynamoDB } from '../src/index.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

describe('DynamoDB Local round trip', () => {
  it('writes an item and reads its INSERT record from the table stream', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    await db.dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'a' }, n: { N: '1' } } }));
    const described = await db.streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const shardId = described.StreamDescription?.Shards?.[0]?.ShardId;
    expect(shardId).toBeDefined();
    const it0 = await db.streams.send(
      new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    const out = await db.streams.send(new GetRecordsCommand({ ShardIterator: it0.ShardIterator }));
    expect(out.Records?.map((r) => [r.eventName, r.dynamodb?.Keys?.pk?.S])).toEqual([['INSERT', 'a']]);
  });
});
