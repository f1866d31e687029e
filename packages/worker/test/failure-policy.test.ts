import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@shardline/core';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBTableDestination, JsonlFileDestination, type FailedRecord } from '../src/destinations.js';
import { resolveFailurePolicy } from '../src/options.js';
import { batch, deferred, makeConsumer, MemoryDestination, rec, seq } from './fakes.js';

describe('failure policy', () => {
  it('retries a failing batch with backoff, then succeeds; processor:error tells willRetry', async () => {
    let calls = 0;
    const h = makeConsumer({
      batches: [batch('shard-1', 1, 2, true)],
      policy: { maxRetries: 3 },
      processor: {
        processRecords: () => {
          if (++calls < 3) throw new Error('flaky');
        },
      },
    });
    const errors: boolean[] = [];
    h.events.on('processor:error', ({ willRetry }) => errors.push(willRetry));
    const result = await h.consumer.run();
    expect(result.reason).toBe('shard-end');
    expect(calls).toBe(3);
    expect(errors).toEqual([true, true]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2), 'SHARD_END']);
  });

  it('bisects to isolate the bad record, sends only it to the destination, and moves on', async () => {
    const destination = new MemoryDestination();
    const processed: number[] = [];
    const first = batch('shard-1', 1, 8);
    const h = makeConsumer<{ n: number }>({
      batches: [first, batch('shard-1', 9, 9, true)],
      policy: { maxRetries: 1, bisectOnError: true, destination },
      processor: {
        processRecords: ({ records }) => {
          if (records.some((r) => r.newItem!.n === 6)) throw new Error('poison 6');
          processed.push(...records.map((r) => r.newItem!.n));
        },
      },
    });
    const failedEvents: number[] = [];
    h.events.on('records:failed', ({ records }) => failedEvents.push(records.length));
    const result = await h.consumer.run();
    expect(result.reason).toBe('shard-end');
    expect(destination.received.map((r) => r.sequenceNumber)).toEqual([seq(6)]);
    expect(destination.received[0]).toMatchObject({
      shardId: 'shard-1',
      reason: 'retries-exhausted',
      attempts: 2,
      error: { message: 'poison 6' },
    });
    expect(destination.received[0]!.record.dynamodb?.SequenceNumber).toBe(seq(6));
    // The record exactly as GetRecords returned it (not the delivered one with its images), keys unmarshalled.
    expect(destination.received[0]!.record).toBe(first.records[5]);
    expect(destination.received[0]!.keys).toEqual({ pk: 'k6' });
    expect(processed.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 7, 8, 9]);
    expect(failedEvents).toEqual([1]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(8), seq(9), 'SHARD_END']);
  });

  it('a record whose keys cannot be unmarshalled (a number past what Number or BigInt can hold) still reaches the destination, raw', async () => {
    const destination = new MemoryDestination();
    const poison = rec(1);
    poison.dynamodb!.Keys = { pk: { N: '1E+30' } };
    const h = makeConsumer({
      batches: [{ ...batch('shard-1', 1, 1, true), records: [poison] }],
      policy: { maxRetries: 0, destination },
      processor: { processRecords: ({ records }) => void records.map((r) => r.keys) },
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(destination.received).toHaveLength(1);
    expect(destination.received[0]!.record).toBe(poison);
    expect(destination.received[0]!.keys).toBeUndefined();
  });

  it('without bisection sends the whole batch to a JSONL file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shardline-dest-'));
    try {
      const path = join(dir, 'sub', 'failed.jsonl');
      const h = makeConsumer({
        batches: [batch('shard-1', 1, 3, true)],
        policy: { maxRetries: 0, destination: { type: 'jsonl', path } },
        processor: {
          processRecords: () => {
            throw new Error('always');
          },
        },
      });
      await h.consumer.run();
      const lines = (await readFile(path, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { sequenceNumber: string; error: { message: string } });
      expect(lines.map((l) => l.sequenceNumber)).toEqual([seq(1), seq(2), seq(3)]);
      expect(lines[0]!.error.message).toBe('always');
      expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(3), 'SHARD_END']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the JSONL destination writes bigint values (a numeric key past 2^53, e.g. a sequence number) as strings; a record without Keys has none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shardline-dest-'));
    try {
      const path = join(dir, 'failed.jsonl');
      const big = '100000000000000000007';
      const withBigKey = rec(1);
      withBigKey.dynamodb!.Keys = { pk: { S: 'k1' }, seq: { N: big } };
      const withoutKeys = rec(2);
      delete withoutKeys.dynamodb!.Keys;
      const h = makeConsumer({
        batches: [{ ...batch('shard-1', 1, 2, true), records: [withBigKey, withoutKeys] }],
        policy: { maxRetries: 0, destination: { type: 'jsonl', path } },
        processor: {
          processRecords: () => {
            throw new Error('always');
          },
        },
      });
      const result = await h.consumer.run();
      expect(result.reason).toBe('shard-end');
      const lines = (await readFile(path, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { sequenceNumber: string; keys?: Record<string, unknown> });
      expect(lines.map((l) => [l.sequenceNumber, l.keys])).toEqual([
        [seq(1), { pk: 'k1', seq: big }],
        [seq(2), undefined],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("onFailure 'stop' stops the shard before the bad record, raises shard:failed, checkpoints only what was done", async () => {
    const h = makeConsumer<{ n: number }>({
      batches: [batch('shard-1', 1, 4), batch('shard-1', 5, 5, true)],
      policy: { maxRetries: 0, bisectOnError: true, onFailure: 'stop' },
      processor: {
        processRecords: ({ records }) => {
          if (records.some((r) => r.newItem!.n === 3)) throw new Error('bad 3');
        },
      },
    });
    const alerts: string[] = [];
    h.events.on('shard:failed', ({ sequenceNumber }) => alerts.push(sequenceNumber));
    const result = await h.consumer.run();
    expect(result.reason).toBe('failed');
    expect(alerts).toEqual([seq(3)]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2)]);
  });

  it('a destination that cannot store the records stops the shard (never a silent skip)', async () => {
    const h = makeConsumer({
      batches: [batch('shard-1', 1, 1, true)],
      policy: {
        maxRetries: 0,
        destination: {
          name: 'broken',
          send: () => Promise.reject(new Error('disk full')),
        },
      },
      processor: {
        processRecords: () => {
          throw new Error('bad');
        },
      },
    });
    const result = await h.consumer.run();
    expect(result.reason).toBe('failed');
    expect(h.store.writes).toEqual([]);
  });

  it('a hanging processor hits processorTimeoutMs and is retried', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const h = makeConsumer({
      clock,
      batches: [batch('shard-1', 1, 1, true)],
      policy: { maxRetries: 1, processorTimeoutMs: 1_000, retryBaseMs: 1, retryCapMs: 1 },
      processor: {
        processRecords: () => {
          calls++;
          if (calls === 1) return new Promise<void>(() => undefined);
        },
      },
    });
    const messages: string[] = [];
    h.events.on('processor:error', ({ error }) => messages.push(error.message));
    const run = h.consumer.run();
    while (calls === 0) await clock.advance(0);
    await clock.advance(1_000);
    await clock.advance(10);
    const result = await run;
    expect(result.reason).toBe('shard-end');
    expect(calls).toBe(2);
    expect(messages[0]).toMatch(/processorTimeoutMs \(1000 ms\)/);
  });

  it("a timed-out attempt's ctx.signal is aborted before the retry runs; the retry gets a fresh one", async () => {
    const clock = new ManualClock();
    const signals: AbortSignal[] = [];
    const h = makeConsumer({
      clock,
      batches: [batch('shard-1', 1, 1, true)],
      policy: { maxRetries: 1, processorTimeoutMs: 1_000, retryBaseMs: 1, retryCapMs: 1 },
      processor: {
        processRecords: (_input, ctx) => {
          signals.push(ctx.signal);
          if (signals.length === 1) return new Promise<void>(() => undefined);
        },
      },
    });
    const run = h.consumer.run();
    while (signals.length === 0) await clock.advance(0);
    await clock.advance(1_000);
    expect(signals[0]!.aborted).toBe(true);
    expect((signals[0]!.reason as Error).message).toMatch(/processorTimeoutMs/);
    await clock.advance(10);
    const result = await run;
    expect(result.reason).toBe('shard-end');
    expect(signals).toHaveLength(2);
    expect(signals[1]!.aborted).toBe(false);
  });

  it('a forced stop ends a processor that ignores its signal at once (no hang until it settles)', async () => {
    const clock = new ManualClock();
    const inFlight = deferred();
    const h = makeConsumer({
      clock,
      batches: [batch('shard-1', 1, 2)],
      processor: {
        processRecords: () => {
          inFlight.resolve();
          return new Promise<void>(() => undefined);
        },
      },
    });
    const run = h.consumer.run();
    await inFlight.promise;
    void h.consumer.requestShutdown('shutdown');
    h.consumer.abort();
    const result = await run;
    expect(result.reason).toBe('shutdown');
    expect(h.consumer.state).toBe('SHUT_DOWN');
    expect(h.store.writes).toEqual([]);
  });

  it('records older than maxRecordAgeMs go to the destination unprocessed', async () => {
    const destination = new MemoryDestination();
    const clock = new ManualClock(1_700_000_000_000 + 60_000);
    const processed: string[] = [];
    const h = makeConsumer({
      clock,
      batches: [batch('shard-1', 1, 2, true)],
      policy: { maxRecordAgeMs: 30_000, destination },
      processor: { processRecords: ({ records }) => void processed.push(...records.map((r) => r.sequenceNumber)) },
    });
    await h.consumer.run();
    expect(processed).toEqual([]);
    expect(destination.received.map((r) => r.reason)).toEqual(['max-record-age', 'max-record-age']);
  });

  it('an error naming retryFrom: the records before it are done, retried and given up on from it only', async () => {
    const destination = new MemoryDestination();
    const calls: number[][] = [];
    const h = makeConsumer<{ n: number }>({
      batches: [batch('shard-1', 1, 5, true)],
      policy: { maxRetries: 1, destination },
      processor: {
        processRecords: ({ records }) => {
          calls.push(records.map((r) => r.newItem!.n));
          if (calls.length === 1) throw Object.assign(new Error('item 3 failed'), { retryFrom: seq(3) });
          throw new Error('still failing');
        },
      },
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(calls).toEqual([
      [1, 2, 3, 4, 5],
      [3, 4, 5],
    ]);
    expect(destination.received.map((r) => r.sequenceNumber)).toEqual([seq(3), seq(4), seq(5)]);
    expect(destination.received[0]).toMatchObject({ attempts: 2, error: { message: 'still failing' } });
  });

  it('with onFailure stop, a partial success still checkpoints the records before retryFrom', async () => {
    const h = makeConsumer<{ n: number }>({
      batches: [batch('shard-1', 1, 5, true)],
      policy: { maxRetries: 0, onFailure: 'stop' },
      processor: {
        processRecords: () => {
          throw Object.assign(new Error('item 4 failed'), { retryFrom: seq(4) });
        },
      },
    });
    expect((await h.consumer.run()).reason).toBe('failed');
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(3)]);
  });

  it('maxRetries -1 retries until the records expire (the 24 h retention), then gives them up', async () => {
    const destination = new MemoryDestination();
    const created = 1_700_000_000_000; // the fakes' ApproximateCreationDateTime
    const clock = new ManualClock(created + 24 * 3_600_000 - 20);
    let calls = 0;
    const h = makeConsumer({
      clock,
      batches: [batch('shard-1', 1, 2, true)],
      policy: { maxRetries: -1, retryBaseMs: 1, retryCapMs: 1, destination },
      processor: {
        processRecords: () => {
          calls++;
          throw new Error('always');
        },
      },
    });
    let settled = false;
    const run = h.consumer.run().finally(() => (settled = true));
    while (!settled) await clock.advance(1_000);
    expect((await run).reason).toBe('shard-end');
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(destination.received.map((r) => [r.sequenceNumber, r.reason, r.attempts])).toEqual([
      [seq(1), 'max-record-age', calls],
      [seq(2), 'max-record-age', calls],
    ]);
    expect(destination.received[0]!.error.message).toMatch(/24 h retention/);
  });

  it('records that age past maxRecordAgeMs while retried are given up on, not retried again', async () => {
    const destination = new MemoryDestination();
    const created = 1_700_000_000_000;
    // Retries 1 ms apart from 10 ms before the limit: about ten of them, then the age ends it.
    const clock = new ManualClock(created + 59_990);
    let calls = 0;
    const h = makeConsumer({
      clock,
      batches: [batch('shard-1', 1, 1, true)],
      policy: { maxRetries: 10_000, maxRecordAgeMs: 60_000, retryBaseMs: 1, retryCapMs: 1, destination },
      processor: {
        processRecords: () => {
          calls++;
          throw new Error('always');
        },
      },
    });
    let settled = false;
    const run = h.consumer.run().finally(() => (settled = true));
    while (!settled) await clock.advance(1_000);
    await run;
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThan(20);
    expect(destination.received.map((r) => r.reason)).toEqual(['max-record-age']);
    expect(destination.received[0]!.error.message).toMatch(/maxRecordAgeMs \(60000 ms\)/);
  });

  it('maxRetries takes Lambda’s range: -1 (until the records expire) to 10,000', () => {
    expect(resolveFailurePolicy({ maxRetries: -1 }).maxRetries).toBe(Infinity);
    expect(resolveFailurePolicy({ maxRetries: 10_000 }).maxRetries).toBe(10_000);
    expect(() => resolveFailurePolicy({ maxRetries: 10_001 })).toThrow(/maxRetries/);
    expect(() => resolveFailurePolicy({ maxRetries: -2 })).toThrow(/maxRetries/);
  });

  it('refuses onFailure destination without a destination', () => {
    expect(() => resolveFailurePolicy({ onFailure: 'destination' })).toThrow(/no failurePolicy.destination/);
    expect(() => resolveFailurePolicy({ retries: 3 } as never)).toThrow(/unknown failurePolicy option/);
    expect(resolveFailurePolicy({ destination: new JsonlFileDestination('/tmp/x') }).onFailure).toBe('destination');
    expect(resolveFailurePolicy({}).onFailure).toBe('stop');
  });
});

describe('built-in failure destinations', () => {
  const failed: FailedRecord = {
    shardId: 'shard-1',
    streamArn: 'arn:stream',
    sequenceNumber: seq(1),
    eventName: 'INSERT',
    keys: { pk: 'k1' },
    reason: 'retries-exhausted',
    error: { name: 'Error', message: 'bad' },
    attempts: 1,
    failedAt: new Date(0).toISOString(),
    workerId: 'w1',
    record: {},
  };

  /** A DynamoDB client whose PutItem fails with `errors` in turn, then succeeds. */
  function tableDestination(errors: Error[], clock: ManualClock) {
    let sends = 0;
    const client = {
      send: () => {
        sends++;
        const err = errors.shift();
        return err ? Promise.reject(err) : Promise.resolve({});
      },
    } as unknown as DynamoDBClient;
    const destination = new DynamoDBTableDestination({ client, tableName: 'failures', clock });
    return { destination, sends: () => sends };
  }

  async function drive(clock: ManualClock, promise: Promise<void>): Promise<void> {
    let settled = false;
    const watched = promise.finally(() => (settled = true));
    watched.catch(() => undefined);
    while (!settled) await clock.advance(100);
    return watched;
  }

  it('the DynamoDB table destination retries a throttled or transient PutItem itself (the SDK does not)', async () => {
    const clock = new ManualClock();
    const sdkError = (name: string) => Object.assign(new Error(name), { name });
    const flaky = tableDestination(
      [sdkError('ProvisionedThroughputExceededException'), sdkError('TimeoutError')],
      clock,
    );
    await drive(clock, flaky.destination.send([failed]));
    expect(flaky.sends()).toBe(3);

    const refused = sdkError('ValidationException');
    const invalid = tableDestination([refused], clock);
    await expect(drive(clock, invalid.destination.send([failed]))).rejects.toBe(refused);
    expect(invalid.sends()).toBe(1);
  });
});
