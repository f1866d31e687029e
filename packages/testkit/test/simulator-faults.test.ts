import { afterEach, describe, expect, it } from 'vitest';
import {
  ExpiredIteratorException,
  GetRecordsCommand,
  InternalServerError,
  LimitExceededException,
  ListStreamsCommand,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import { ManualClock } from '@shardline/core';
import { SERVICE_RATE_LIMITS } from '../src/simulator/index.js';
import { drain, failure, Fixture, iterator, seqOf } from './simulator-helpers.js';

const fx = new Fixture();
afterEach(() => fx.closeAll());

describe('stream simulator: faults', () => {
  it('throttles a chosen fraction of calls of chosen operations with LimitExceededException', async () => {
    const sim = await fx.sim({ seed: 7 });
    const shardId = sim.openShardIds()[0]!;
    sim.put('k', { v: 1 });
    const client = fx.client(sim, { maxAttempts: 1 });
    const start = await iterator(client, sim, shardId);
    sim.faults.throttle({ rate: 0.5, operations: ['GetRecords'] });
    let throttled = 0;
    for (let i = 0; i < 200; i++) {
      try {
        await client.send(new GetRecordsCommand({ ShardIterator: start }));
      } catch (err) {
        expect(err).toBeInstanceOf(LimitExceededException);
        expect((err as LimitExceededException).$metadata.httpStatusCode).toBe(400);
        throttled++;
      }
    }
    expect(throttled).toBeGreaterThan(60);
    expect(throttled).toBeLessThan(140);
    // Other operations are untouched by the rule.
    for (let i = 0; i < 20; i++) await client.send(new ListStreamsCommand({}));
    sim.faults.clear();
    expect((await client.send(new GetRecordsCommand({ ShardIterator: start }))).Records).toHaveLength(1);
  });

  it('throttles exactly `count` calls, and the SDK retries through them by default', async () => {
    const sim = await fx.sim();
    sim.faults.throttle({ count: 2 });
    const strict = fx.client(sim, { maxAttempts: 1 });
    expect(await failure(strict.send(new ListStreamsCommand({})))).toBeInstanceOf(LimitExceededException);
    expect(await failure(strict.send(new ListStreamsCommand({})))).toBeInstanceOf(LimitExceededException);
    await strict.send(new ListStreamsCommand({}));
    sim.faults.failNext('ListStreams', 1, 'throttle');
    const before = sim.calls().ListStreams;
    await fx.client(sim).send(new ListStreamsCommand({})); // default client: retried, succeeds
    expect(sim.calls().ListStreams - before).toBe(2);
  });

  it('fails chosen calls with 500 and connection resets', async () => {
    const sim = await fx.sim();
    const shardId = sim.openShardIds()[0]!;
    const written = sim.put('k', { v: 1 }).sequenceNumber;
    const client = fx.client(sim, { maxAttempts: 1 });
    const start = await iterator(client, sim, shardId);
    sim.faults.failNext('GetRecords', 1, '500');
    sim.faults.failNext('GetRecords', 1, 'reset');
    const server = await failure(client.send(new GetRecordsCommand({ ShardIterator: start })));
    expect(server).toBeInstanceOf(InternalServerError);
    expect(server.$fault).toBe('server');
    expect(server.$metadata?.httpStatusCode).toBe(500);
    const reset = await failure(client.send(new GetRecordsCommand({ ShardIterator: start })));
    expect(reset.code ?? reset.message).toMatch(/ECONNRESET|socket hang up/);
    // The iterator survives both: the next call reads the record.
    const out = await client.send(new GetRecordsCommand({ ShardIterator: start }));
    expect(out.Records?.map(seqOf)).toEqual([written]);
  });

  it('forces expired and trimmed answers on chosen calls, any operation with "*"', async () => {
    const sim = await fx.sim({ clock: new ManualClock() });
    const shardId = sim.openShardIds()[0]!;
    sim.put('k', { v: 1 });
    const client = fx.client(sim, { maxAttempts: 1 });
    const start = await iterator(client, sim, shardId);
    sim.faults.failNext('GetRecords', 2, 'expired');
    sim.faults.failNext('*', 1, 'trimmed');
    expect(await failure(client.send(new GetRecordsCommand({ ShardIterator: start })))).toBeInstanceOf(
      ExpiredIteratorException,
    );
    expect(await failure(client.send(new GetRecordsCommand({ ShardIterator: start })))).toBeInstanceOf(
      ExpiredIteratorException,
    );
    expect(await failure(iterator(client, sim, shardId))).toBeInstanceOf(TrimmedDataAccessException);
    expect((await drain(client, start)).records).toHaveLength(1);
    expect(() => sim.faults.failNext('Nope' as 'GetRecords', 1, '500')).toThrow(RangeError);
    expect(() => sim.faults.throttle({ rate: 2 })).toThrow(RangeError);
  });

  it('answers empty batches with an iterator even on a closed shard, as the service may', async () => {
    const sim = await fx.sim();
    const shardId = sim.openShardIds()[0]!;
    const written = [1, 2, 3].map((i) => sim.put(`k${i}`, { i }).sequenceNumber);
    sim.rollover(shardId);
    const client = fx.client(sim);
    sim.faults.failNext('GetRecords', 2, 'empty');
    let next = await iterator(client, sim, shardId);
    const answers: Array<{ records: string[]; next: boolean }> = [];
    while (next) {
      const out = await client.send(new GetRecordsCommand({ ShardIterator: next }));
      answers.push({ records: (out.Records ?? []).map(seqOf), next: out.NextShardIterator !== undefined });
      next = out.NextShardIterator!;
    }
    expect(answers).toEqual([
      { records: [], next: true },
      { records: [], next: true },
      { records: written, next: false },
    ]);
  });

  it('enforces call rates per second of the simulator clock, GetRecords per shard', async () => {
    const clock = new ManualClock();
    const sim = await fx.sim({ clock, shards: 2 });
    const [a, b] = sim.openShardIds() as [string, string];
    const client = fx.client(sim, { maxAttempts: 1 });
    const [itA, itB] = [await iterator(client, sim, a), await iterator(client, sim, b)];
    sim.faults.limits(SERVICE_RATE_LIMITS);
    const outcome = async (call: Promise<unknown>) =>
      call.then(
        () => 'ok',
        (err: Error) => err.name,
      );
    const listCalls = [];
    for (let i = 0; i < 11; i++) listCalls.push(await outcome(client.send(new ListStreamsCommand({}))));
    expect(listCalls.filter((o) => o === 'ok')).toHaveLength(5);
    expect(listCalls.slice(5).every((o) => o === 'LimitExceededException')).toBe(true);
    const reads = async (it: string) => {
      const results = [];
      for (let i = 0; i < 6; i++)
        results.push(await outcome(client.send(new GetRecordsCommand({ ShardIterator: it }))));
      return results;
    };
    expect(await reads(itA)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'LimitExceededException']);
    expect(await reads(itB)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'LimitExceededException']); // its own budget
    await clock.advance(1000); // the window slides on the simulator's clock
    expect(await outcome(client.send(new ListStreamsCommand({})))).toBe('ok');
    expect(await outcome(client.send(new GetRecordsCommand({ ShardIterator: itA })))).toBe('ok');
    sim.faults.limits(undefined);
    expect(await reads(itA)).toEqual(Array(6).fill('ok'));
    expect(() => sim.faults.limits({ GetRecords: 0 })).toThrow(RangeError);
  });

  it('adds latency to every answer', async () => {
    const sim = await fx.sim();
    const client = fx.client(sim);
    await client.send(new ListStreamsCommand({})); // connection set up outside the timing
    sim.faults.latencyMs(150);
    const started = performance.now();
    await client.send(new ListStreamsCommand({}));
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    sim.faults.clear();
  });

  it('stop() closes the server: later calls cannot connect', async () => {
    const sim = await fx.sim();
    const client = fx.client(sim, { maxAttempts: 1 });
    await client.send(new ListStreamsCommand({}));
    await sim.stop();
    await sim.stop(); // idempotent
    const err = await failure(client.send(new ListStreamsCommand({})));
    expect(err.code ?? err.message).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);
  });
});
