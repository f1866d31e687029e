import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { ManualClock } from '@shardline/core';
import { connectTestDynamoDB } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { FailedRecord } from '../../src/destinations.js';
import { LambdaFailureDestination, type LambdaOnFailureRecord } from '../../src/lambda/failure-record.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

const STREAM = 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000';

const failed = (sequenceNumber: string): FailedRecord => ({
  shardId: 'shard-1',
  streamArn: STREAM,
  sequenceNumber,
  eventName: 'INSERT',
  keys: {},
  reason: 'retries-exhausted',
  error: { name: 'Error', message: 'boom' },
  attempts: 3,
  failedAt: '2024-01-01T00:00:00.000Z',
  workerId: 'w1',
  record: {
    eventName: 'INSERT',
    dynamodb: { SequenceNumber: sequenceNumber, ApproximateCreationDateTime: new Date('2024-01-01T00:00:00Z') },
  } satisfies _Record,
});

describe('LambdaFailureDestination to a DynamoDB table', () => {
  it('puts one item per discarded batch, keyed by shard and first sequence number, holding Lambda’s record', async () => {
    const { tableName } = await db.createStreamTable();
    const destination = new LambdaFailureDestination({
      to: { type: 'dynamodb', tableName, client: db.dynamodb, keyAttribute: 'pk' },
      function: { functionName: 'orders-fn' },
      clock: new ManualClock(Date.parse('2024-01-01T00:05:00.000Z')),
    });
    expect(destination.name).toBe(`lambda-on-failure:dynamodb:${tableName}`);
    await destination.send([failed('100'), failed('200')]);
    const { Item } = await db.dynamodb.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'shard-1:100' } }, ConsistentRead: true }),
    );
    expect(Item).toMatchObject({
      startSequenceNumber: { S: '100' },
      endSequenceNumber: { S: '200' },
      batchSize: { N: '2' },
      condition: { S: 'RetryAttemptsExhausted' },
      timestamp: { S: '2024-01-01T00:05:00.000Z' },
    });
    const record = JSON.parse(Item!.record!.S!) as LambdaOnFailureRecord;
    expect(record.requestContext).toMatchObject({
      functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:orders-fn',
      approximateInvokeCount: 3,
    });
    expect(record.DDBStreamBatchInfo).toMatchObject({ shardId: 'shard-1', batchSize: 2, streamArn: STREAM });
  });

  it('a table that does not exist makes send reject, so the shard stops rather than skipping the batch', async () => {
    const destination = new LambdaFailureDestination({
      to: { type: 'dynamodb', tableName: db.uniqueName('absent'), client: db.dynamodb },
    });
    await expect(destination.send([failed('1')])).rejects.toThrow(/non-existent table|not found|ResourceNotFound/i);
  });
});
