import { afterAll, describe, expect, it } from 'vitest';
import { TrimmedDataError } from '@shardline/core';
import { connectTestDynamoDB, testDynamoDBControls } from '@shardline/testkit';
import { listChildShards, listShards } from '../src/describe.js';
import { ShardGraph } from '../src/lineage.js';
import { ShardReader, type ShardReaderEvents } from '../src/shard-reader.js';
import { keyOf, readRecords, writeItems } from './helpers/local.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());
// Scoped to this file's database: the hooks act on one database, not on other files' tables.
const controls = testDynamoDBControls({ credentials: db.credentials, region: db.region });
const keys = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

describe.skipIf(!controls)('ShardReader on DynamoDB Local driven through its test hooks', () => {
  it('rollover: the parent ends with shardEnd, the child is found through the ParentShardId fallback, nothing lost', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    const before = keys(30, 'before');
    await writeItems(db.dynamodb, tableName, before);
    await controls!.rollover();
    const after = keys(20, 'after');
    await writeItems(db.dynamodb, tableName, after);

    const graph = ShardGraph.fromShards(await listShards(db.streams, streamArn));
    expect(graph.size).toBe(2);
    const [parent] = graph.roots();
    expect(graph.isClosed(parent!.shardId)).toBe(true);
    const children = await listChildShards(db.streams, streamArn, parent!.shardId);
    expect(children.map((s) => s.shardId)).toEqual(graph.childrenOf(parent!.shardId).map((s) => s.shardId));

    const first = await readRecords(
      new ShardReader({
        client: db.streams,
        streamArn,
        shardId: parent!.shardId,
        start: { type: 'TRIM_HORIZON' },
        limit: 7,
      }),
      Infinity,
    );
    expect(first.records.map(keyOf)).toEqual(before);
    expect(first.batches.at(-1)!.shardEnd).toBe(true);
    const second = await readRecords(
      new ShardReader({
        client: db.streams,
        streamArn,
        shardId: children[0]!.shardId,
        start: { type: 'TRIM_HORIZON' },
        idleIntervalMs: 25,
      }),
      after.length,
    );
    expect(second.records.map(keyOf)).toEqual(after);
  });

  it('forced iterator expiry (event times dilated): ExpiredIteratorException recovered after the last record, nothing lost', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    const written = keys(30, 'k');
    await writeItems(db.dynamodb, tableName, written);
    const [shard] = await listShards(db.streams, streamArn);
    const reader = new ShardReader({
      client: db.streams,
      streamArn,
      shardId: shard!.shardId,
      start: { type: 'TRIM_HORIZON' },
      limit: 10,
      prefetch: 1,
      idleIntervalMs: 25,
    });
    const refreshes: ShardReaderEvents['iterator:refresh'][] = [];
    reader.events.on('iterator:refresh', (e) => refreshes.push(e));
    const first = await reader.next();
    expect(first.value!.records.map(keyOf)).toEqual(written.slice(0, 10));
    // Wait until the loop holds its next iterator (one batch prefetched), then age the events:
    // DynamoDB Local then refuses every iterator issued before.
    for (const deadline = Date.now() + 10_000; reader.stats().batches < 2;) {
      if (Date.now() > deadline) throw new Error('the reader did not prefetch');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await controls!.advanceTime(60_000);
    const rest = await readRecords(reader, 20);
    expect([...first.value!.records, ...rest.records].map(keyOf)).toEqual(written);
    expect(refreshes).toEqual([{ shardId: shard!.shardId, reason: 'expired' }]);
    expect(reader.stats().iteratorExpirations).toBe(1);
  });
});

describe.skipIf(!controls)('ShardReader on DynamoDB Local past the 24 h retention', () => {
  it('trimmed records are reported with the gap, never delivered silently; the child shard reads on', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    const old = keys(5, 'old');
    await writeItems(db.dynamodb, tableName, old);
    const [shard] = await listShards(db.streams, streamArn);
    const seen = await readRecords(
      new ShardReader({
        client: db.streams,
        streamArn,
        shardId: shard!.shardId,
        start: { type: 'TRIM_HORIZON' },
        idleIntervalMs: 25,
      }),
      5,
    );
    const gapStart = seen.records[1]!.dynamodb!.SequenceNumber!;
    await controls!.advanceTime(25 * 60 * 60_000); // ages every record past retention (and rolls the shard over)
    const fresh = keys(3, 'new');
    await writeItems(db.dynamodb, tableName, fresh);

    const reader = new ShardReader({
      client: db.streams,
      streamArn,
      shardId: shard!.shardId,
      start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: gapStart },
      idleIntervalMs: 25,
    });
    const trimmed: ShardReaderEvents['records:trimmed'][] = [];
    reader.events.on('records:trimmed', (e) => trimmed.push(e));
    const outcome: Awaited<ReturnType<typeof readRecords>> | Error = await readRecords(reader, Infinity).catch(
      (err: unknown) => err as Error,
    );
    // DynamoDB Local refuses even TRIM_HORIZON of the old shard: the reader stops with the typed
    // error; had the service kept later records, they would have been read. Either way nothing
    // from the trimmed range reaches the consumer, and the gap is named.
    if (outcome instanceof Error) expect(outcome).toBeInstanceOf(TrimmedDataError);
    else expect(outcome.records.map(keyOf).filter((k) => k?.startsWith('old'))).toEqual([]);
    expect(trimmed[0]).toMatchObject({ shardId: shard!.shardId, requestedSequenceNumber: gapStart });

    const child = (await listChildShards(db.streams, streamArn, shard!.shardId))[0]!;
    const next = await readRecords(
      new ShardReader({
        client: db.streams,
        streamArn,
        shardId: child.shardId,
        start: { type: 'TRIM_HORIZON' },
        idleIntervalMs: 25,
      }),
      fresh.length,
    );
    expect(next.records.map(keyOf)).toEqual(fresh);
  });
});
