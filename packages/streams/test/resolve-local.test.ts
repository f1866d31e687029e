import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateTableCommand,
  DeleteTableCommand,
  UpdateTableCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { ConfigError } from '@shardline/core';
import { connectTestDynamoDB } from '@shardline/testkit';
import { listChildShards, listShards } from '../src/describe.js';
import { resolveStream } from '../src/resolve-stream.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

describe('resolveStream on DynamoDB Local', () => {
  it('resolves by table name (with and without DescribeTable) and by ARN', async () => {
    const { tableName, streamArn } = await db.createStreamTable({ viewType: 'NEW_AND_OLD_IMAGES' });
    const expected = {
      streamArn,
      tableName,
      viewType: 'NEW_AND_OLD_IMAGES',
      status: 'ENABLED',
      previousStreamArns: [],
    };
    expect(await resolveStream({ streams: db.streams, dynamodb: db.dynamodb, tableName })).toMatchObject(expected);
    expect(await resolveStream({ streams: db.streams, tableName })).toMatchObject(expected);
    const byArn = await resolveStream({ streams: db.streams, streamArn, requiredViewType: 'OLD_IMAGE' });
    expect(byArn).toMatchObject(expected);
    expect(byArn.streamLabel).toBe(streamArn.split('/').at(-1));
  });

  it('tells "no such table" from "no stream" when it has a DynamoDB client', async () => {
    const missing = db.uniqueName('missing');
    await expect(resolveStream({ streams: db.streams, dynamodb: db.dynamodb, tableName: missing })).rejects.toThrow(
      new RegExp(`table ${missing} does not exist`),
    );
    await expect(resolveStream({ streams: db.streams, tableName: missing })).rejects.toThrow(
      /no stream found for table .*does not exist or has no stream/,
    );

    const plain = db.uniqueName('plain');
    await db.dynamodb.send(
      new CreateTableCommand({
        TableName: plain,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    try {
      await waitUntilTableExists({ client: db.dynamodb, maxWaitTime: 30 }, { TableName: plain });
      const err = await resolveStream({ streams: db.streams, dynamodb: db.dynamodb, tableName: plain }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(
        new RegExp(`table ${plain} has no stream; enable one with: aws dynamodb update-table`),
      );
    } finally {
      await db.dynamodb.send(new DeleteTableCommand({ TableName: plain }));
    }
  });

  it('refuses a stream whose view type cannot serve the processor', async () => {
    const { tableName } = await db.createStreamTable({ viewType: 'NEW_IMAGE' });
    await expect(
      resolveStream({ streams: db.streams, dynamodb: db.dynamodb, tableName, requiredViewType: 'OLD_IMAGE' }),
    ).rejects.toThrow(/view type NEW_IMAGE, which does not carry what the processor needs \(OLD_IMAGE\)/);
    await expect(
      resolveStream({ streams: db.streams, tableName, requiredViewType: 'NEW_AND_OLD_IMAGES' }),
    ).rejects.toThrow(ConfigError);
    expect((await resolveStream({ streams: db.streams, tableName, requiredViewType: 'NEW_IMAGE' })).viewType).toBe(
      'NEW_IMAGE',
    );
  });

  it('refuses a disabled stream; after re-enabling, reports the old ARN and the new one, oldest first', async () => {
    const { tableName, streamArn: first } = await db.createStreamTable({ viewType: 'NEW_AND_OLD_IMAGES' });
    await db.dynamodb.send(
      new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: false } }),
    );
    await expect(resolveStream({ streams: db.streams, dynamodb: db.dynamodb, tableName })).rejects.toThrow(
      /stream of table .* is disabled/,
    );
    await expect(resolveStream({ streams: db.streams, streamArn: first })).rejects.toThrow(/is DISABLED/);
    expect((await resolveStream({ streams: db.streams, streamArn: first, allowDisabled: true })).status).toBe(
      'DISABLED',
    );

    const updated = await db.dynamodb.send(
      new UpdateTableCommand({
        TableName: tableName,
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
    );
    const second = updated.TableDescription?.LatestStreamArn;
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    for (const dynamodb of [db.dynamodb, undefined]) {
      const resolved = await resolveStream({ streams: db.streams, ...(dynamodb ? { dynamodb } : {}), tableName });
      expect(resolved.streamArn).toBe(second);
      expect(resolved.previousStreamArns).toEqual([first]);
    }
  });

  it('refuses a stream ARN that does not exist, and a table name that disagrees with the ARN', async () => {
    const { streamArn } = await db.createStreamTable();
    await expect(resolveStream({ streams: db.streams, streamArn: `${streamArn}0` })).rejects.toThrow(
      /stream .* not found/,
    );
    await expect(resolveStream({ streams: db.streams, streamArn, tableName: 'other' })).rejects.toThrow(
      /belongs to table .*, not other/,
    );
  });
});

describe('listShards / listChildShards on DynamoDB Local', () => {
  it('lists the one open shard; its children are [] (filter answered [], fallback finds none)', async () => {
    const { streamArn } = await db.createStreamTable();
    const shards = await listShards(db.streams, streamArn);
    expect(shards).toHaveLength(1);
    expect(shards[0]!.endingSequenceNumber).toBeUndefined();
    expect(await listChildShards(db.streams, streamArn, shards[0]!.shardId)).toEqual([]);
  });
});
