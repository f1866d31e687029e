import { describe, expect, it } from 'vitest';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import {
  ConfigError,
  ManualClock,
  RetriesExceededError,
  ThrottledError,
  TrimmedDataError,
  TransientError,
} from '@shardline/core';
import { ShardReader, type RecordBatch, type ShardReaderEvents } from '../src/shard-reader.js';
import { type ShardReaderOptions } from '../src/reader-options.js';
import { FakeStreams, FAKE_ARN, driveUntil } from './helpers/fake-streams.js';

const SHARD = 'shardId-00000001795573450519-cf74ccf0';
const MIN = 60_000;

function setup(records = 0, options: Partial<ShardReaderOptions> = {}) {
  const clock = new ManualClock();
  const fake = new FakeStreams(clock);
  fake.addShard(SHARD);
  const written = records > 0 ? fake.put(SHARD, records) : [];
  const reader = new ShardReader({
    client: fake,
    streamArn: FAKE_ARN,
    shardId: SHARD,
    start: { type: 'TRIM_HORIZON' },
    clock,
    random: () => 0.5,
    ...options,
  });
  const events: Array<{ event: keyof ShardReaderEvents; payload: unknown }> = [];
  for (const event of ['iterator:refresh', 'records:trimmed', 'throttled', 'retry'] as const) {
    reader.events.on(event, (payload) => events.push({ event, payload }));
  }
  return { clock, fake, reader, written, events };
}

const seqs = (records: _Record[]) => records.map((r) => r.dynamodb!.SequenceNumber!);

/** Consumes until `done(delivered)` holds or the shard ends, driving the fake clock meanwhile. */
async function consume(
  reader: ShardReader,
  clock: ManualClock,
  done: (records: _Record[], batches: RecordBatch[]) => boolean = () => false,
) {
  const batches: RecordBatch[] = [];
  const records: _Record[] = [];
  const loop = (async () => {
    for await (const batch of reader) {
      batches.push(batch);
      records.push(...batch.records);
      if (batch.shardEnd || done(records, batches)) break;
    }
  })();
  await driveUntil(clock, loop, 50);
  return { batches, records };
}

describe('ShardReader (fake client, fake clock)', () => {
  it('delivers every record in order in Limit-sized batches and ends a closed shard with shardEnd', async () => {
    const { clock, fake, reader, written } = setup(35, { limit: 10 });
    fake.close(SHARD);
    const { batches, records } = await consume(reader, clock);
    expect(seqs(records)).toEqual(seqs(written));
    expect(batches.map((b) => b.records.length)).toEqual([10, 10, 10, 5]);
    expect(batches.map((b) => b.shardEnd)).toEqual([false, false, false, true]);
    expect(batches.at(-1)!.lastSequenceNumber).toBe(seqs(written).at(-1));
    expect(fake.calls.every((c) => c.operation !== 'GetRecords' || c.input.Limit === 10)).toBe(true);
    expect(await reader.next()).toEqual({ value: undefined, done: true });
  });

  it('emits a final empty shardEnd batch when the last records came before the shard closed', async () => {
    const { clock, fake, reader, written } = setup(3);
    const first = await consume(reader, clock, (r) => r.length === 3);
    expect(seqs(first.records)).toEqual(seqs(written));
    // A second reader on the now closed shard, after its records: one empty shardEnd batch.
    fake.close(SHARD);
    const after = new ShardReader({
      client: fake,
      streamArn: FAKE_ARN,
      shardId: SHARD,
      start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seqs(written)[2]! },
      clock,
    });
    const { batches } = await consume(after, clock);
    expect(batches).toEqual([{ shardId: SHARD, records: [], shardEnd: true, millisBehindLatest: 0 }]);
  });

  it('polls an idle open shard every idleIntervalMs when the cap equals it, reports millisBehindLatest 0 there, and picks up new records', async () => {
    const { clock, fake, reader } = setup(0, { idleIntervalMs: 250, maxIdleIntervalMs: 250 });
    const batches: RecordBatch[] = [];
    const loop = (async () => {
      for await (const batch of reader) {
        batches.push(batch);
        if (batch.records.length > 0) break;
      }
    })();
    await clock.advance(1000);
    const polls = fake.calls.filter((c) => c.operation === 'GetRecords').map((c) => c.at);
    expect(polls.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < polls.length; i++) expect(polls[i]! - polls[i - 1]!).toBe(250);
    expect(batches.length).toBeGreaterThan(0);
    expect(batches.every((b) => b.records.length === 0 && b.millisBehindLatest === 0 && !b.shardEnd)).toBe(true);
    const put = fake.put(SHARD, 2);
    await driveUntil(clock, loop);
    expect(seqs(batches.at(-1)!.records)).toEqual(seqs(put));
  });

  it('computes millisBehindLatest from the last record of the batch', async () => {
    const { clock, fake, reader } = setup(0);
    fake.put(SHARD, 1, clock.now() - 5_000);
    const { batches } = await consume(reader, clock, (r) => r.length === 1);
    expect(batches[0]!.millisBehindLatest).toBeGreaterThanOrEqual(5_000);
    expect(batches[0]!.millisBehindLatest).toBeLessThan(6_100);
  });

  it('refreshes an aging iterator before the 15-minute expiry: a consumer stalled 20 minutes never sees ExpiredIterator', async () => {
    const { clock, fake, reader, written, events } = setup(30, { limit: 10, prefetch: 1 });
    const first = await reader.next();
    expect(seqs(first.value!.records)).toEqual(seqs(written.slice(0, 10)));
    await clock.advance(20 * MIN); // the loop holds an iterator while the consumer does not pull
    expect(fake.count('GetRecords')).toBe(2); // one ahead (prefetch 1), then it waits
    const { records } = await consume(reader, clock, (r) => r.length === 20);
    expect(seqs(records)).toEqual(seqs(written.slice(10)));
    expect(events.filter((e) => e.event === 'iterator:refresh')).toEqual([
      { event: 'iterator:refresh', payload: { shardId: SHARD, reason: 'age' } },
    ]);
    expect(reader.stats().iteratorExpirations).toBe(0);
    const refresh = fake.calls.filter((c) => c.operation === 'GetShardIterator')[1]!;
    expect(refresh.input).toMatchObject({
      ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      SequenceNumber: seqs(written)[19],
    });
  });

  it('refreshes at iteratorRefreshMs, while the old iterator would still work', async () => {
    const { clock, fake, reader, events } = setup(60, { limit: 10, prefetch: 1, iteratorRefreshMs: 12 * MIN });
    await reader.next();
    await clock.advance(11 * MIN);
    await reader.next();
    await clock.advance(1);
    expect(events.length).toBe(0);
    await reader.next();
    await clock.advance(12 * MIN);
    await reader.next();
    await clock.advance(1);
    expect(events.map((e) => e.event)).toEqual(['iterator:refresh']);
    expect(fake.count('GetShardIterator')).toBe(2);
    await reader.close();
  });

  it('recovers a forced ExpiredIteratorException from just after the last record received', async () => {
    const { clock, fake, reader, written, events } = setup(25, { limit: 10 });
    fake.close(SHARD);
    fake.calls.length = 0;
    // Second GetRecords fails: the reader got 10 records, so it resumes after the 10th.
    let n = 0;
    const send = fake.send.bind(fake);
    fake.send = (command, options) => {
      if (command.constructor.name === 'GetRecordsCommand' && ++n === 2) fake.failNext('GetRecords', 'expired');
      return send(command, options);
    };
    const { records } = await consume(reader, clock);
    expect(seqs(records)).toEqual(seqs(written));
    expect(events).toEqual([{ event: 'iterator:refresh', payload: { shardId: SHARD, reason: 'expired' } }]);
    expect(reader.stats().iteratorExpirations).toBe(1);
    const iterators = fake.calls.filter((c) => c.operation === 'GetShardIterator').map((c) => c.input);
    expect(iterators[1]).toMatchObject({
      ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      SequenceNumber: seqs(written)[9],
    });
  });

  it('recovers an expiry before any record from the original start position', async () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    fake.addShard(SHARD);
    const written = fake.put(SHARD, 5);
    fake.close(SHARD);
    fake.failNext('GetRecords', 'expired');
    const start = { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: seqs(written)[2]! } as const;
    const reader = new ShardReader({ client: fake, streamArn: FAKE_ARN, shardId: SHARD, start, clock });
    const { records } = await consume(reader, clock);
    expect(seqs(records)).toEqual(seqs(written.slice(2)));
    const iterators = fake.calls.filter((c) => c.operation === 'GetShardIterator').map((c) => c.input);
    expect(iterators).toHaveLength(2);
    expect(iterators[1]).toMatchObject({ ShardIteratorType: 'AT_SEQUENCE_NUMBER', SequenceNumber: seqs(written)[2] });
  });

  it('iterators that keep expiring are fetched with backoff, then RetriesExceededError', async () => {
    const { clock, fake, reader, events } = setup(10, { maxAttempts: 4 });
    fake.failNext('GetRecords', 'expired', 100);
    const err = await driveUntil(
      clock,
      reader.next().catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(RetriesExceededError);
    expect((err as Error).message).toMatch(/iterators keep expiring/);
    expect(events.filter((e) => e.event === 'iterator:refresh')).toHaveLength(4);
    const gets = fake.calls.filter((c) => c.operation === 'GetRecords').map((c) => c.at);
    expect(gets[1]! - gets[0]!).toBe(0); // the first expiry is recovered at once
    expect(gets[2]! - gets[1]!).toBeGreaterThan(0); // then backoff
  });

  it('trimmed position: emits records:trimmed with the gap, then continues at TRIM_HORIZON (default policy)', async () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    fake.addShard(SHARD);
    const written = fake.put(SHARD, 10);
    fake.close(SHARD);
    fake.trim(SHARD, 4);
    const start = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seqs(written)[1]! } as const;
    const reader = new ShardReader({ client: fake, streamArn: FAKE_ARN, shardId: SHARD, start, clock });
    const trimmed: ShardReaderEvents['records:trimmed'][] = [];
    reader.events.on('records:trimmed', (e) => trimmed.push(e));
    const { records } = await consume(reader, clock);
    expect(seqs(records)).toEqual(seqs(written.slice(4)));
    expect(trimmed).toHaveLength(1);
    expect(trimmed[0]!.shardId).toBe(SHARD);
    expect(trimmed[0]!.requestedSequenceNumber).toBe(seqs(written)[1]);
    expect(trimmed[0]!.error).toBeInstanceOf(TrimmedDataError);
    expect(reader.stats().trims).toBe(1);
  });

  it("trimmed with onTrimmed 'stop': batches before it are delivered, then the iterator throws TrimmedDataError", async () => {
    const { clock, fake, reader, written, events } = setup(20, { limit: 10, onTrimmed: 'stop' });
    const first = await reader.next();
    expect(seqs(first.value!.records)).toEqual(seqs(written.slice(0, 10)));
    fake.failNext('GetRecords', 'trimmed');
    const second = reader.next().then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await clock.advance(100);
    const err = await second;
    // The prefetched second batch may come first; the error must arrive, and the gap is named.
    const failure = err === 'resolved' ? await reader.next().catch((e: unknown) => e) : err;
    expect(failure).toBeInstanceOf(TrimmedDataError);
    expect((failure as TrimmedDataError).shardId).toBe(SHARD);
    expect(events.map((e) => e.event)).toEqual(['records:trimmed']);
    expect(await reader.next()).toEqual({ value: undefined, done: true });
  });

  it('rides out a throttling storm with growing full-jitter backoff, each retry observable', async () => {
    const { clock, fake, reader, written, events } = setup(10);
    fake.close(SHARD);
    fake.failNext('GetRecords', 'throttle', 6);
    const { records } = await consume(reader, clock);
    expect(seqs(records)).toEqual(seqs(written));
    const throttled = events
      .filter((e) => e.event === 'throttled')
      .map((e) => e.payload as ShardReaderEvents['throttled']);
    expect(throttled.map((t) => t.attempt)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(throttled.map((t) => t.delayMs)).toEqual([50, 100, 200, 400, 800, 1600]); // random 0.5 × ceilings
    expect(throttled.every((t) => t.operation === 'GetRecords' && t.shardId === SHARD)).toBe(true);
    expect(reader.stats().throttles).toBe(6);
  });

  it('bounded: a storm longer than maxAttempts ends in RetriesExceededError', async () => {
    const { clock, fake, reader } = setup(10, { maxAttempts: 3 });
    fake.failNext('GetRecords', 'throttle', 10);
    const err = await driveUntil(
      clock,
      reader.next().catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(RetriesExceededError);
    expect((err as RetriesExceededError).cause).toBeInstanceOf(ThrottledError);
    expect(fake.count('GetRecords')).toBe(3);
  });

  it('retries connection resets and 500s (GetShardIterator and GetRecords) and loses nothing', async () => {
    const { clock, fake, reader, written, events } = setup(30, { limit: 7 });
    fake.close(SHARD);
    fake.failNext('GetShardIterator', 'reset', 2);
    fake.failNext('GetRecords', '500', 2);
    fake.failNext('GetRecords', 'reset', 1);
    const { records } = await consume(reader, clock);
    expect(seqs(records)).toEqual(seqs(written));
    const retries = events.filter((e) => e.event === 'retry').map((e) => e.payload as ShardReaderEvents['retry']);
    expect(retries.map((r) => r.operation)).toEqual([
      'GetShardIterator',
      'GetShardIterator',
      'GetRecords',
      'GetRecords',
      'GetRecords',
    ]);
    expect(retries.every((r) => r.error instanceof TransientError)).toBe(true);
  });

  it('backpressure: a consumer that stops pulling stops the polling at prefetch', async () => {
    const { clock, fake, reader, written } = setup(2000, { limit: 100, prefetch: 2 });
    const first = await reader.next();
    expect(first.value!.records).toHaveLength(100);
    await clock.advance(5 * MIN);
    expect(fake.count('GetRecords')).toBe(3); // the one delivered + 2 prefetched
    await reader.next();
    await clock.advance(1000);
    expect(fake.count('GetRecords')).toBe(4);
    const rest = await consume(reader, clock, (r) => r.length === 2000 - 200);
    expect(rest.records.at(-1)!.dynamodb!.SequenceNumber).toBe(seqs(written).at(-1));
  });

  it('an idle shard keeps polling while the consumer is away (empty batches coalesced): LATEST never needs a refresh', async () => {
    const { clock, fake, reader, events } = setup(5, { start: { type: 'LATEST' } });
    const first = await driveUntil(clock, reader.next());
    expect(first.value!.records).toEqual([]);
    await clock.advance(30 * MIN); // the consumer is away; the shard stays idle
    // Backed off to the 2 s cap (jitter 0.5 here: 1.8 s a poll), still far more often than an
    // iterator ages.
    expect(fake.count('GetRecords')).toBeGreaterThan((30 * MIN) / 1800 - 10);
    expect(events).toEqual([]); // each poll's fresh iterator: no refresh, no expiry
    const fresh = fake.put(SHARD, 3);
    await clock.advance(2_000);
    // Only the newest empty batch was kept, and the records made it stale: the data comes next.
    const next = await reader.next();
    expect(seqs(next.value!.records)).toEqual(seqs(fresh));
    await reader.close();
  });

  it('abort is prompt: the in-flight request is cancelled, waiting next() ends, nothing left pending', async () => {
    const controller = new AbortController();
    const { clock, fake, reader } = setup(0, { signal: controller.signal });
    fake.failNext('GetRecords', 'hang');
    const pending = reader.next();
    await clock.advance(0);
    expect(fake.inFlight).toBe(1);
    controller.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    await reader.close();
    expect(fake.inFlight).toBe(0);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('abort during the idle wait and during backoff leaves no timers behind', async () => {
    const { clock, reader } = setup(0);
    const pending = reader.next();
    await clock.advance(0);
    expect(clock.pendingSleeps).toBe(1); // parked in the idle interval
    const first = await pending; // the empty batch
    expect(first.value!.records).toEqual([]);
    await reader.close();
    expect(clock.pendingSleeps).toBe(0);

    const storm = setup(5);
    storm.fake.failNext('GetRecords', 'throttle', 100);
    const next = storm.reader.next();
    await storm.clock.advance(0);
    expect(storm.clock.pendingSleeps).toBe(1); // backing off
    await storm.reader.close();
    expect(await next).toEqual({ value: undefined, done: true });
    expect(storm.clock.pendingSleeps).toBe(0);
  });

  it('leaving a for-await loop early closes the reader', async () => {
    const { clock, fake, reader } = setup(50, { limit: 10 });
    for await (const batch of reader) {
      expect(batch.records).toHaveLength(10);
      break;
    }
    const calls = fake.count('GetRecords');
    await clock.advance(10_000);
    expect(fake.count('GetRecords')).toBe(calls);
    expect(await reader.next()).toEqual({ value: undefined, done: true });
  });

  it('drops records the service repeats (at or before the last one received): order never goes back', async () => {
    const { clock, fake, reader, written } = setup(30, { limit: 10 });
    fake.close(SHARD);
    let n = 0;
    const send = fake.send.bind(fake);
    fake.send = async (command, options) => {
      const out = (await send(command, options)) as { Records?: _Record[] };
      // The third GetRecords answers with the last 5 records of the second batch again, then the third batch.
      if (command.constructor.name === 'GetRecordsCommand' && ++n === 3 && out.Records)
        out.Records = [...written.slice(15, 20), ...out.Records];
      return out;
    };
    const { records } = await consume(reader, clock);
    expect(seqs(records)).toEqual(seqs(written));
  });

  it('refuses bad options before any call: malformed sequence numbers, refresh beyond expiry, unknown keys', () => {
    const clock = new ManualClock();
    const fake = new FakeStreams(clock);
    const base = { client: fake, streamArn: FAKE_ARN, shardId: SHARD, clock };
    for (const sequenceNumber of ['123', 'abc', '00000000000000000000x1', '1'.repeat(41), '']) {
      expect(() => new ShardReader({ ...base, start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber } })).toThrow(
        ConfigError,
      );
    }
    expect(() => new ShardReader({ ...base, start: { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: '12' } })).toThrow(
      /21 to 40 decimal digits/,
    );
    expect(() => new ShardReader({ ...base, start: { type: 'FROM_HERE' } as never })).toThrow(
      /start.type must be one of/,
    );
    expect(() => new ShardReader({ ...base, start: { type: 'LATEST' }, iteratorRefreshMs: 15 * MIN })).toThrow(
      /below the 15-minute/,
    );
    expect(() => new ShardReader({ ...base, start: { type: 'LATEST' }, limit: 1001 })).toThrow(/limit/);
    expect(() => new ShardReader({ ...base, start: { type: 'LATEST' }, idelIntervalMs: 5 } as never)).toThrow(
      /unknown ShardReader option: idelIntervalMs/,
    );
    expect(fake.calls).toEqual([]);
  });
});
