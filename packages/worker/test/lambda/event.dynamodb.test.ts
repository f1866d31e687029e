import { DeleteItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import { connectTestDynamoDB } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { toLambdaEvent } from '../../src/lambda/event.js';
import { compileFilterCriteria } from '../../src/lambda/filter.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

/** Every record of the table's stream so far, straight from GetRecords. */
async function readStream(streamArn: string, expected: number): Promise<_Record[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stream = await db.streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const records: _Record[] = [];
    for (const shard of stream.StreamDescription?.Shards ?? []) {
      const { ShardIterator } = await db.streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      const page = await db.streams.send(new GetRecordsCommand({ ShardIterator }));
      records.push(...(page.Records ?? []));
    }
    if (records.length >= expected) return records;
    if (Date.now() > deadline) throw new Error(`only ${records.length} of ${expected} stream records arrived`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the Lambda event from real GetRecords answers (DynamoDB Local)', () => {
  it('carries each change as Lambda would deliver it', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    const blob = new Uint8Array([104, 105, 0, 255]);
    await db.dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'a' }, n: { N: '1' }, blob: { B: blob } } }),
    );
    await db.dynamodb.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { pk: { S: 'a' } },
        UpdateExpression: 'SET n = :n',
        ExpressionAttributeValues: { ':n': { N: '2' } },
      }),
    );
    await db.dynamodb.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: 'a' } } }));
    const event = toLambdaEvent(await readStream(streamArn, 3), streamArn);

    expect(event.Records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    const b64 = Buffer.from(blob).toString('base64');
    const [insert, modify, remove] = event.Records;
    expect(insert).toMatchObject({
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      eventSourceARN: streamArn,
      dynamodb: {
        Keys: { pk: { S: 'a' } },
        NewImage: { pk: { S: 'a' }, n: { N: '1' }, blob: { B: b64 } },
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
    });
    expect(insert!.dynamodb).not.toHaveProperty('OldImage');
    expect(modify!.dynamodb).toMatchObject({ OldImage: { n: { N: '1' } }, NewImage: { n: { N: '2' } } });
    expect(remove!.dynamodb).toMatchObject({ OldImage: { n: { N: '2' } } });
    expect(remove!.dynamodb).not.toHaveProperty('NewImage');
    for (const record of event.Records) {
      expect(typeof record.eventID).toBe('string');
      expect(typeof record.awsRegion).toBe('string');
      expect(record.dynamodb!.SequenceNumber).toMatch(/^\d+$/);
      expect(record.dynamodb!.SizeBytes).toBeGreaterThan(0);
      // Epoch seconds, not a Date and not milliseconds.
      const created = record.dynamodb!.ApproximateCreationDateTime!;
      expect(typeof created).toBe('number');
      expect(Math.abs(created - Date.now() / 1000)).toBeLessThan(24 * 3600);
    }
    // What Lambda's JSON would carry: nothing a JSON round trip changes.
    expect(JSON.parse(JSON.stringify(event))).toEqual(event);

    const modifiesToTwo = compileFilterCriteria({
      Filters: [
        {
          Pattern: JSON.stringify({
            eventName: ['MODIFY'],
            dynamodb: { NewImage: { n: { N: [{ numeric: ['=', 2] }] } } },
          }),
        },
      ],
    });
    expect(event.Records.filter((r) => modifiesToTwo.matches(r)).map((r) => r.eventName)).toEqual(['MODIFY']);
  });
});
