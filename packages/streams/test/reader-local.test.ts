import { afterAll, describe, expect, it } from 'vitest';
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ConfigError, ManualClock, compareSequenceNumbers } from '@shardline/core';
import { connectTestDynamoDB } from '@shardline/testkit';
import { listShards } from '../src/describe.js';
import { ShardReader } from '../src/shard-reader.js';
import { type StartPosition } from '../src/position.js';
import { type StreamsClient } from '../src/client.js';
import { keyOf, readRecords, writeItems } from './helpers/local.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

async function streamWith(keys: string[]) {
  const table = await db.createStreamTable({ viewType: 'NEW_AND_OLD_IMAGES' });
  await writeItems(db.dynamodb, table.tableName, keys);
  const [shard] = await listShards(db.streams, table.streamArn);
  return { ...table, shardId: shard!.shardId };
}

const keys = (n: number, prefix = 'k') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

function reader(streamArn: string, shardId: string, start: StartPosition, limit = 1000) {
  return new ShardReader({ client: db.streams, streamArn, shardId, start, limit, idleIntervalMs: 25 });
}

describe('ShardReader on DynamoDB Local', () => {
  it('TRIM_HORIZON: every record exactly once, in write order, sequence numbers increasing', async () => {
    const written = keys(1234);
    const { streamArn, shardId } = await streamWith(written);
    const readFrom = Date.now();
    const { records, batches } = await readRecords(
      reader(streamArn, shardId, { type: 'TRIM_HORIZON' }, 500),
      written.length,
    );
    const readUntil = Date.now();
    expect(records.map(keyOf)).toEqual(written);
    const seqs = records.map((r) => r.dynamodb!.SequenceNumber!);
    for (let i = 1; i < seqs.length; i++) expect(compareSequenceNumbers(seqs[i - 1]!, seqs[i]!)).toBe(-1);
    expect(batches.filter((b) => b.records.length > 0).every((b) => b.records.length <= 500)).toBe(true);
    expect(batches.every((b) => !b.shardEnd)).toBe(true);
    const lastFull = batches.filter((b) => b.records.length > 0).at(-1)!;
    expect(lastFull.lastSequenceNumber).toBe(seqs.at(-1));
    // The lag is the age of the batch's last record when it was delivered, in milliseconds (the
    // clock and Date.now may differ by a little, hence the second of slack).
    const createdAt = (records.at(-1)!.dynamodb!.ApproximateCreationDateTime as Date).getTime();
    expect(lastFull.millisBehindLatest).toBeGreaterThanOrEqual(readFrom - createdAt - 1_000);
    expect(lastFull.millisBehindLatest).toBeLessThanOrEqual(readUntil - createdAt + 1_000);
  });

  it('LATEST: only records written after the iterator was taken', async () => {
    const { streamArn, shardId, tableName } = await streamWith(keys(20, 'old'));
    const r = reader(streamArn, shardId, { type: 'LATEST' });
    const first = await r.next(); // the iterator is taken and the shard polled: at the tip
    expect(first.value).toMatchObject({ records: [], millisBehindLatest: 0, shardEnd: false });
    const fresh = keys(7, 'new');
    await writeItems(db.dynamodb, tableName, fresh);
    const { records } = await readRecords(r, fresh.length);
    expect(records.map(keyOf)).toEqual(fresh);
  });

  it('AT_SEQUENCE_NUMBER starts at the record, AFTER_SEQUENCE_NUMBER just after it', async () => {
    const written = keys(40);
    const { streamArn, shardId } = await streamWith(written);
    const all = await readRecords(reader(streamArn, shardId, { type: 'TRIM_HORIZON' }), written.length);
    const pivot = all.records[17]!.dynamodb!.SequenceNumber!;
    const at = await readRecords(
      reader(streamArn, shardId, { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: pivot }),
      40 - 17,
    );
    expect(at.records.map(keyOf)).toEqual(written.slice(17));
    const after = await readRecords(
      reader(streamArn, shardId, { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: pivot }),
      40 - 18,
    );
    expect(after.records.map(keyOf)).toEqual(written.slice(18));
  });

  it('delivers MODIFY and REMOVE with the images the view type gives', async () => {
    const { streamArn, shardId, tableName } = await streamWith([]);
    await db.dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'a' }, v: { N: '1' } } }));
    await db.dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'a' }, v: { N: '2' } } }));
    await db.dynamodb.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: 'a' } } }));
    const { records } = await readRecords(reader(streamArn, shardId, { type: 'TRIM_HORIZON' }), 3);
    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    expect(records[1]!.dynamodb!.OldImage?.v?.N).toBe('1');
    expect(records[1]!.dynamodb!.NewImage?.v?.N).toBe('2');
    expect(records[2]!.dynamodb!.NewImage).toBeUndefined();
  });

  it('aborting stops at once, even in the middle of a 10 s idle wait, and leaves no timer behind', async () => {
    const { streamArn, shardId } = await streamWith([]);
    const controller = new AbortController();
    // A clock that never moves: the idle wait can only end through the abort, so this proves
    // the mechanism without timing a machine that may be slow.
    const clock = new ManualClock();
    const r = new ShardReader({
      client: db.streams,
      streamArn,
      shardId,
      start: { type: 'TRIM_HORIZON' },
      idleIntervalMs: 10_000,
      clock,
      signal: controller.signal,
    });
    expect((await r.next()).value).toMatchObject({ records: [], shardEnd: false });
    const waiting = r.next();
    const deadline = Date.now() + 10_000;
    while (clock.pendingSleeps === 0) {
      if (Date.now() > deadline) throw new Error('the reader never parked in its idle wait');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    controller.abort();
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise(
      (_, reject) => (timer = setTimeout(() => reject(new Error('the abort did not end the idle wait')), 10_000)),
    );
    try {
      expect(await Promise.race([waiting, hung])).toEqual({ value: undefined, done: true });
    } finally {
      clearTimeout(timer);
    }
    await r.close();
    expect(clock.pendingSleeps).toBe(0);
  });

  it('bad sequence numbers: a clear ConfigError before any call to the service', async () => {
    const { streamArn, shardId } = await streamWith([]);
    let sent = 0;
    const real: StreamsClient = db.streams;
    const counting: StreamsClient = {
      send: (command, options) => {
        sent++;
        return real.send(command, options);
      },
    };
    for (const sequenceNumber of ['42', 'not-a-number', '-100000000000000000001', '1e21', ' 100000000000000000001']) {
      const make = () =>
        new ShardReader({
          client: counting,
          streamArn,
          shardId,
          start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber },
        });
      expect(make).toThrow(ConfigError);
      expect(make).toThrow(/must be a DynamoDB Streams sequence number \(21 to 40 decimal digits/);
    }
    expect(sent).toBe(0);
  });

  it('a shard that does not exist fails with a typed not-found error naming the shard', async () => {
    const { streamArn } = await streamWith([]);
    const r = reader(streamArn, 'shardId-00000000000000000000-00000000', { type: 'TRIM_HORIZON' });
    const err = await r.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).name).toBe('StreamResourceNotFoundError');
    expect((err as Error).message).toMatch(
      /GetShardIterator on shard shardId-00000000000000000000-00000000: not found/,
    );
  });
});
