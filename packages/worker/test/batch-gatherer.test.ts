import { ManualClock, silentLogger, systemClock, type Clock } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import { gatheringReaderFactory, resolveBatchingOptions, type BatchingOptions } from '../src/batch-gatherer.js';
import type { ReaderFactory, RecordBatch } from '../src/contracts.js';
import { batch, deferred, makeConsumer, ScriptedReader, seq, until } from './fakes.js';

const STREAM = 'arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x';

/** `reader`'s batches through a gatherer (GetRecords limit 1,000 unless given). */
function gathering(reader: ScriptedReader, batching: BatchingOptions, clock: Clock, readLimit = 1000): ReaderFactory {
  return gatheringReaderFactory(reader.factory, {
    batching: resolveBatchingOptions(batching)!,
    readLimit,
    clock,
    logger: silentLogger(),
  });
}

/** The gathered batches of `reader`, pulled one by one as a shard consumer would. */
function gathered(reader: ScriptedReader, batching: BatchingOptions, clock: ManualClock, readLimit = 1000) {
  const stop = new AbortController();
  const factory = gathering(reader, batching, clock, readLimit);
  const iterator: AsyncIterator<RecordBatch, unknown> = factory({
    shardId: 'shard-1',
    streamArn: STREAM,
    start: { type: 'TRIM_HORIZON' },
    signal: stop.signal,
  })[Symbol.asyncIterator]();
  /** The next batch handed over, or undefined when the iteration ended. */
  const next = async (): Promise<RecordBatch | undefined> => {
    const result = await iterator.next();
    return result.done ? undefined : result.value;
  };
  return { next, stop };
}

const range = (b: RecordBatch) => [
  Number(BigInt(b.records[0]!.dynamodb!.SequenceNumber!) - 100_000_000_000_000_000_000n),
  Number(BigInt(b.records.at(-1)!.dynamodb!.SequenceNumber!) - 100_000_000_000_000_000_000n),
];

describe('batch gatherer (fake time)', () => {
  it('window 0: reads on while answers come back full, and calls as soon as one is not', async () => {
    const clock = new ManualClock();
    const reader = new ScriptedReader([
      batch('shard-1', 1, 1000),
      batch('shard-1', 1001, 2000),
      batch('shard-1', 2001, 2400),
    ]);
    const g = gathered(reader, { maxRecords: 5000 }, clock);
    const first = (await g.next())!;
    expect(range(first)).toEqual([1, 2400]);
    expect(first.shardEnd).toBe(false);
    g.stop.abort();
  });

  it('window 0: a batch size above 1,000 is cut at the batch size; the rest starts the next call', async () => {
    const clock = new ManualClock();
    const reader = new ScriptedReader([
      batch('shard-1', 1, 1000),
      batch('shard-1', 1001, 2000),
      batch('shard-1', 2001, 3000),
      batch('shard-1', 3001, 3010),
    ]);
    const g = gathered(reader, { maxRecords: 2500 }, clock);
    expect(range((await g.next())!)).toEqual([1, 2500]);
    expect(range((await g.next())!)).toEqual([2501, 3010]);
    g.stop.abort();
  });

  it('window > 0: waits for the window before calling with a partial batch, counted from the end of the previous call', async () => {
    const clock = new ManualClock();
    const reader = new ScriptedReader([batch('shard-1', 1, 3)]);
    const g = gathered(reader, { maxRecords: 100, maxWindowMs: 5_000 }, clock);
    const call = g.next();
    let settled = false;
    void call.then(() => (settled = true));
    await until(() => clock.pendingSleeps > 0, 2_000, 'the window timer');
    reader.push(batch('shard-1', 4, 5));
    await clock.advance(4_999);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(range((await call)!)).toEqual([1, 5]);
    // The next window starts now: records arriving 2 s later wait 3 s more.
    const second = g.next();
    await clock.advance(2_000);
    reader.push(batch('shard-1', 6, 6));
    await until(() => clock.pendingSleeps > 0, 2_000, 'the second window timer');
    await clock.advance(3_000);
    expect(range((await second)!)).toEqual([6, 6]);
    g.stop.abort();
  });

  it('window > 0: a full batch goes at once, without waiting for the window', async () => {
    const clock = new ManualClock();
    const reader = new ScriptedReader([batch('shard-1', 1, 60), batch('shard-1', 61, 120)]);
    const g = gathered(reader, { maxRecords: 100, maxWindowMs: 300_000 }, clock, 60);
    expect(range((await g.next())!)).toEqual([1, 100]);
    expect(clock.now()).toBe(new ManualClock().now());
    g.stop.abort();
  });

  it('the payload limit ends a batch early; a record alone over the limit still goes', async () => {
    const clock = new ManualClock();
    const reader = new ScriptedReader([batch('shard-1', 1, 10), batch('shard-1', 11, 11)]);
    const g = gathered(reader, { maxRecords: 100, maxWindowMs: 1_000, maxBytes: 350, recordBytes: () => 100 }, clock);
    expect((await g.next())!.records).toHaveLength(3);
    expect((await g.next())!.records).toHaveLength(3);
    const big = gathered(
      new ScriptedReader([batch('shard-1', 1, 2)]),
      { maxRecords: 10, maxBytes: 50, recordBytes: () => 80 },
      clock,
    );
    expect((await big.next())!.records).toHaveLength(1);
    g.stop.abort();
    big.stop.abort();
  });

  it("the shard's end hands over everything at once, the end on the last call", async () => {
    const clock = new ManualClock();
    const reader = new ScriptedReader([batch('shard-1', 1, 30), batch('shard-1', 31, 40, true)]);
    const g = gathered(reader, { maxRecords: 25, maxWindowMs: 300_000 }, clock);
    const a = (await g.next())!;
    const b = (await g.next())!;
    expect([range(a), a.shardEnd, range(b), b.shardEnd]).toEqual([[1, 25], false, [26, 40], true]);
    expect(await g.next()).toBeUndefined();
  });

  it('an idle read with nothing gathered goes through (the idle hook); while gathering it does not', async () => {
    const clock = new ManualClock();
    const empty: RecordBatch = { shardId: 'shard-1', records: [], shardEnd: false, millisBehindLatest: 0 };
    const reader = new ScriptedReader([empty, batch('shard-1', 1, 2), empty]);
    const g = gathered(reader, { maxRecords: 100, maxWindowMs: 1_000 }, clock);
    expect((await g.next())!.records).toHaveLength(0);
    const call = g.next();
    await until(() => clock.pendingSleeps > 0, 2_000, 'the window timer');
    await clock.advance(1_000);
    expect(range((await call)!)).toEqual([1, 2]);
    g.stop.abort();
  });

  it('a stop while gathering abandons the partial batch (never handed over)', async () => {
    const clock = new ManualClock();
    const reader = new ScriptedReader([batch('shard-1', 1, 5)]);
    const g = gathered(reader, { maxRecords: 100, maxWindowMs: 60_000 }, clock);
    const call = g.next();
    await until(() => clock.pendingSleeps > 0, 2_000, 'the window timer');
    g.stop.abort();
    expect(await call).toBeUndefined();
  });

  it('refuses what Lambda refuses: a batch size above 10,000, a window above 300 s', () => {
    expect(() => resolveBatchingOptions({ maxRecords: 10_001 })).toThrow(/maxRecords/);
    expect(() => resolveBatchingOptions({ maxRecords: 10, maxWindowMs: 300_001 })).toThrow(/maxWindowMs/);
    expect(() => resolveBatchingOptions({ maxRecords: 10, extra: 1 } as BatchingOptions)).toThrow(/extra/);
  });
});

describe('batch gatherer under the shard consumer', () => {
  it('one call for records of several reads; the checkpoint only after the whole batch succeeded', async () => {
    const clock = new ManualClock();
    const calls: number[][] = [];
    const release = deferred<void>();
    const reader = new ScriptedReader([
      batch('shard-1', 1, 1000),
      batch('shard-1', 1001, 2000),
      batch('shard-1', 2001, 2100, true),
    ]);
    const h = makeConsumer({
      clock,
      readerFactory: gathering(reader, { maxRecords: 10_000 }, clock),
      processor: {
        async processRecords(b) {
          calls.push([b.records.length]);
          await release.promise;
        },
      },
    });
    const done = h.consumer.run();
    await until(() => calls.length === 1, 2_000, 'the gathered call');
    expect(calls).toEqual([[2100]]);
    expect(h.store.writes).toEqual([]);
    release.resolve();
    const result = await done;
    expect(result.reason).toBe('shard-end');
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2100), 'SHARD_END']);
  });

  it('a hand-off while gathering leaves the gathered records after the checkpoint', async () => {
    const clock = new ManualClock();
    const seen: string[] = [];
    const reader = new ScriptedReader([batch('shard-1', 1, 3)]);
    const h = makeConsumer({
      clock,
      readerFactory: gathering(reader, { maxRecords: 100, maxWindowMs: 60_000 }, clock),
      processor: {
        processRecords(b) {
          seen.push(...b.records.map((r) => r.sequenceNumber));
        },
      },
    });
    const done = h.consumer.run();
    await until(() => clock.pendingSleeps > 0, 2_000, 'gathering');
    const result = await h.consumer.requestShutdown('handoff');
    await done;
    expect(result.reason).toBe('handoff');
    expect(seen).toEqual([]);
    expect(h.store.writes).toEqual([]);
  });

  it('a failing gathered batch is retried whole; the lease lost while gathering writes nothing', async () => {
    // The retry's backoff sleeps on the clock: real time here (1-2 ms), fake time below.
    const clock = systemClock;
    const sizes: number[] = [];
    let failures = 1;
    const reader = new ScriptedReader([batch('shard-1', 1, 1000), batch('shard-1', 1001, 1500)]);
    const h = makeConsumer({
      clock,
      readerFactory: gathering(reader, { maxRecords: 5000 }, clock),
      processor: {
        processRecords(b) {
          sizes.push(b.records.length);
          if (failures-- > 0) throw new Error('first attempt fails');
        },
      },
    });
    const done = h.consumer.run();
    await until(() => h.store.writes.length === 1, 2_000, 'the checkpoint after the retry');
    expect(sizes).toEqual([1500, 1500]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(1500)]);
    h.consumer.leaseLost('taken');
    expect((await done).reason).toBe('lease-lost');

    const fake = new ManualClock();
    const second = new ScriptedReader([batch('shard-1', 1, 3)]);
    const lost = makeConsumer({
      clock: fake,
      readerFactory: gathering(second, { maxRecords: 100, maxWindowMs: 60_000 }, fake),
      processor: {
        processRecords: () => {
          sizes.push(-1);
        },
      },
    });
    const lostRun = lost.consumer.run();
    await until(() => fake.pendingSleeps > 0, 2_000, 'gathering');
    lost.consumer.leaseLost('taken');
    expect((await lostRun).reason).toBe('lease-lost');
    expect(lost.store.writes).toEqual([]);
    expect(sizes).toEqual([1500, 1500]);
  });
});
