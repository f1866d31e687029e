import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDBStreamsClient, type _Record } from '@aws-sdk/client-dynamodb-streams';
import { ManualClock, RetriesExceededError, TransientError, TrimmedDataError } from '@shardline/core';
import { audit, startStreamSimulator, type StreamSimulator, type StreamSimulatorOptions } from '@shardline/testkit';
import { listChildShards, listShards } from '../src/describe.js';
import { ShardGraph } from '../src/lineage.js';
import { ShardReader, type RecordBatch, type ShardReaderEvents } from '../src/shard-reader.js';
import { type ShardReaderOptions } from '../src/reader-options.js';

const MIN = 60_000;
const opened: Array<{ stop(): Promise<void> } | { destroy(): void }> = [];

afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) {
    if ('destroy' in thing) thing.destroy();
    else await thing.stop();
  }
});

async function simulator(options: StreamSimulatorOptions = {}) {
  const clock = new ManualClock();
  const sim = await startStreamSimulator({ clock, ...options });
  opened.push(sim);
  // SDK retries off: the reader's own backoff (on the fake clock) must do the work.
  const client = new DynamoDBStreamsClient({
    endpoint: sim.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
  opened.push(client);
  return { clock, sim, client };
}

/**
 * Runs `work` while moving the fake clock only when everything waits on it (the reader's idle
 * wait or backoff), so the real HTTP round trips happen in between at no virtual cost.
 */
async function drive<T>(clock: ManualClock, work: Promise<T>, deadlineMs = 20_000): Promise<T> {
  let settled = false;
  const watched = work.finally(() => (settled = true));
  watched.catch(() => undefined);
  const deadline = Date.now() + deadlineMs;
  while (!settled) {
    if (Date.now() > deadline) throw new Error('drive: still pending at the real-time deadline');
    if (clock.pendingSleeps > 0) await clock.advance(50);
    else await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return watched;
}

async function waitUntil(condition: () => boolean, deadlineMs = 5_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('waitUntil: condition still false at the deadline');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

interface ReadResult {
  records: _Record[];
  batches: RecordBatch[];
  events: Array<{ event: string; payload: unknown }>;
}

function makeReader(
  sim: StreamSimulator,
  client: DynamoDBStreamsClient,
  clock: ManualClock,
  shardId: string,
  options: Partial<ShardReaderOptions> = {},
) {
  return new ShardReader({
    client,
    streamArn: sim.streamArn,
    shardId,
    start: { type: 'TRIM_HORIZON' },
    clock,
    random: () => 0.5,
    ...options,
  });
}

function record(reader: ShardReader): ReadResult['events'] {
  const events: ReadResult['events'] = [];
  for (const event of ['iterator:refresh', 'records:trimmed', 'throttled', 'retry'] as const)
    reader.events.on(event, (payload) => events.push({ event, payload }));
  return events;
}

/** Reads until the shard ends or `count` records arrived. */
async function read(reader: ShardReader, clock: ManualClock, count = Infinity): Promise<ReadResult> {
  const events = record(reader);
  const records: _Record[] = [];
  const batches: RecordBatch[] = [];
  await drive(
    clock,
    (async () => {
      for await (const batch of reader) {
        batches.push(batch);
        records.push(...batch.records);
        if (batch.shardEnd || records.length >= count) break;
      }
    })(),
  );
  return { records, batches, events };
}

const delivered = (records: _Record[], shardId: string) =>
  records.map((r) => ({ shardId, sequenceNumber: r.dynamodb!.SequenceNumber! }));

/** Reads a whole stream lineage-first (parents before children), as a worker would. */
async function readStream(sim: StreamSimulator, client: DynamoDBStreamsClient, clock: ManualClock) {
  const graph = ShardGraph.fromShards(await drive(clock, listShards(client, sim.streamArn, { clock })));
  const finished = new Set<string>();
  const out: Array<{ shardId: string; sequenceNumber: string }> = [];
  for (
    let ready = graph.readyShards((id) => finished.has(id));
    ready.length > 0;
    ready = graph.readyShards((id) => finished.has(id))
  ) {
    for (const shard of ready) {
      const count = graph.isClosed(shard.shardId)
        ? Infinity
        : sim.manifest().filter((m) => m.shardId === shard.shardId).length;
      const { records } = await read(makeReader(sim, client, clock, shard.shardId), clock, count);
      out.push(...delivered(records, shard.shardId));
      finished.add(shard.shardId);
    }
  }
  return out;
}

describe('ShardReader on the stream simulator', () => {
  it('rollover: the parent ends with shardEnd, its child (found by listChildShards) carries on; audit clean', async () => {
    const { clock, sim, client } = await simulator();
    const [parent] = sim.openShardIds();
    for (let i = 0; i < 30; i++) sim.put(`a${i}`, { n: i });
    const child = sim.rollover(parent!);
    for (let i = 0; i < 20; i++) sim.put(`b${i}`, { n: i });

    const first = await read(makeReader(sim, client, clock, parent!, { limit: 7 }), clock);
    expect(first.records).toHaveLength(30);
    expect(first.batches.at(-1)!.shardEnd).toBe(true);
    const children = await drive(clock, listChildShards(client, sim.streamArn, parent!, { clock }));
    expect(children.map((s) => s.shardId)).toEqual([child.shardId]);
    const second = await read(makeReader(sim, client, clock, child.shardId), clock, 20);

    const report = audit(
      sim.manifest(),
      [...delivered(first.records, parent!), ...delivered(second.records, child.shardId)],
      sim.shards(),
    );
    expect(report).toMatchObject({ ok: true, lost: [], duplicates: [], orderViolations: [], childBeforeParent: [] });
  });

  it('split: two children divide the keys; reading lineage-first loses nothing and keeps order', async () => {
    const { clock, sim, client } = await simulator({ shards: 2 });
    for (let i = 0; i < 100; i++) sim.put(`k${i}`, { n: i });
    const [a] = sim.openShardIds();
    const [left, right] = sim.split(a!);
    for (let i = 0; i < 100; i++) sim.put(`k${i}`, { n: i + 100 });
    expect(sim.manifest().filter((m) => m.shardId === left.shardId).length).toBeGreaterThan(0);
    expect(sim.manifest().filter((m) => m.shardId === right.shardId).length).toBeGreaterThan(0);

    const all = await readStream(sim, client, clock);
    const report = audit(sim.manifest(), all, sim.shards());
    expect(report.ok).toBe(true);
    expect(report.duplicates).toEqual([]);
    expect(all).toHaveLength(200);
  });

  it('expiry on the fake clock: a consumer stalling 16 virtual minutes at a time never meets ExpiredIterator', async () => {
    const { clock, sim, client } = await simulator();
    const [shardId] = sim.openShardIds();
    for (let i = 0; i < 50; i++) sim.put(`k${i}`, { n: i });
    const reader = makeReader(sim, client, clock, shardId!, { limit: 10, prefetch: 1 });
    const events = record(reader);
    const got: _Record[] = [];
    for (let stall = 1; stall <= 3; stall++) {
      const next = await drive(clock, reader.next());
      got.push(...next.value!.records);
      // The loop parks once its one prefetched batch is in: then the consumer stalls.
      await waitUntil(() => reader.stats().batches === stall + 1);
      await clock.advance(16 * MIN); // each held iterator would have expired (15 min) had it been used
    }
    const rest = await read(reader, clock, 50 - got.length);
    got.push(...rest.records);
    expect(audit(sim.manifest(), delivered(got, shardId!)).ok).toBe(true);
    expect(reader.stats().iteratorExpirations).toBe(0);
    expect(
      events
        .filter((e) => e.event === 'iterator:refresh')
        .map((e) => (e.payload as ShardReaderEvents['iterator:refresh']).reason),
    ).toEqual(['age', 'age', 'age']);
  });

  it('a forced ExpiredIteratorException is recovered after the last record received', async () => {
    const { clock, sim, client } = await simulator();
    const [shardId] = sim.openShardIds();
    for (let i = 0; i < 40; i++) sim.put(`k${i}`, { n: i });
    sim.rollover(shardId!);
    const reader = makeReader(sim, client, clock, shardId!, { limit: 10 });
    const first = await drive(clock, reader.next());
    sim.faults.failNext('GetRecords', 2, 'expired');
    const rest = await read(reader, clock);
    const all = [...first.value!.records, ...rest.records];
    expect(
      audit(
        sim.manifest().filter((m) => m.shardId === shardId),
        delivered(all, shardId!),
      ).ok,
    ).toBe(true);
    expect(all).toHaveLength(40);
    expect(reader.stats().iteratorExpirations).toBe(2);
  });

  it('trimming: records older than the retention are reported as a gap, then reading continues at TRIM_HORIZON', async () => {
    const { clock, sim, client } = await simulator({ retentionMs: 60 * MIN });
    const [shardId] = sim.openShardIds();
    const old = Array.from({ length: 10 }, (_, i) => sim.put(`old${i}`, { n: i }));
    await clock.advance(2 * 60 * MIN);
    const fresh = Array.from({ length: 5 }, (_, i) => sim.put(`new${i}`, { n: i }));
    const start = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: old[3]!.sequenceNumber } as const;

    const reader = makeReader(sim, client, clock, shardId!, { start });
    const { records, events } = await read(reader, clock, 5);
    expect(records.map((r) => r.dynamodb!.SequenceNumber)).toEqual(fresh.map((m) => m.sequenceNumber));
    const trimmed = events
      .filter((e) => e.event === 'records:trimmed')
      .map((e) => e.payload as ShardReaderEvents['records:trimmed']);
    expect(trimmed).toHaveLength(1);
    expect(trimmed[0]).toMatchObject({ shardId, requestedSequenceNumber: old[3]!.sequenceNumber });
    expect(trimmed[0]!.error).toBeInstanceOf(TrimmedDataError);

    const stopping = makeReader(sim, client, clock, shardId!, { start, onTrimmed: 'stop' });
    await expect(drive(clock, stopping.next())).rejects.toBeInstanceOf(TrimmedDataError);
    await stopping.close();
  });

  it('a throttling storm (half the GetRecords calls for a while, then 6 in a row) slows reading but loses nothing', async () => {
    const { clock, sim, client } = await simulator();
    const [shardId] = sim.openShardIds();
    for (let i = 0; i < 300; i++) sim.put(`k${i}`, { n: i });
    sim.rollover(shardId!);
    sim.faults.failNext('GetRecords', 6, 'throttle');
    sim.faults.throttle({ rate: 0.5, operations: ['GetRecords'], count: 20 });
    const { records, events } = await read(makeReader(sim, client, clock, shardId!, { limit: 25 }), clock);
    expect(
      audit(
        sim.manifest().filter((m) => m.shardId === shardId),
        delivered(records, shardId!),
      ).ok,
    ).toBe(true);
    expect(records).toHaveLength(300);
    const throttled = events
      .filter((e) => e.event === 'throttled')
      .map((e) => e.payload as ShardReaderEvents['throttled']);
    expect(throttled.length).toBeGreaterThanOrEqual(6);
    expect(throttled.slice(0, 6).map((t) => t.attempt)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('connection resets and 500s on every operation are retried; nothing lost, each retry an event', async () => {
    const { clock, sim, client } = await simulator();
    const [shardId] = sim.openShardIds();
    for (let i = 0; i < 120; i++) sim.put(`k${i}`, { n: i });
    sim.rollover(shardId!);
    sim.faults.failNext('GetShardIterator', 1, 'reset');
    sim.faults.failNext('GetRecords', 2, 'reset');
    sim.faults.failNext('GetRecords', 2, '500');
    const { records, events } = await read(makeReader(sim, client, clock, shardId!, { limit: 40 }), clock);
    expect(
      audit(
        sim.manifest().filter((m) => m.shardId === shardId),
        delivered(records, shardId!),
      ).ok,
    ).toBe(true);
    const retries = events.filter((e) => e.event === 'retry').map((e) => e.payload as ShardReaderEvents['retry']);
    expect(retries.map((r) => r.operation)).toEqual([
      'GetShardIterator',
      'GetRecords',
      'GetRecords',
      'GetRecords',
      'GetRecords',
    ]);
    expect(retries.every((r) => r.error instanceof TransientError)).toBe(true);
  });

  it('live lineage: scheduled traffic, rollovers and splits, 10% throttling; readers follow children as parents end; audit clean', async () => {
    const { clock, sim, client } = await simulator({ shards: 2 });
    const schedule = sim.schedule({
      writesPerSecond: 20,
      keys: 40,
      rolloverEveryMs: 20_000,
      splitEveryMs: 30_000,
      maxOpenShards: 6,
    });
    sim.faults.throttle({ rate: 0.1, operations: ['GetRecords', 'DescribeStream'] });
    const stop = new AbortController();
    const deliveries: Array<{ shardId: string; sequenceNumber: string }> = [];
    const started = new Set<string>();
    const finished = new Set<string>();
    const running: Promise<void>[] = [];
    let throttles = 0;

    const start = (shardId: string) => {
      if (started.has(shardId)) return;
      started.add(shardId);
      running.push(
        (async () => {
          const reader = makeReader(sim, client, clock, shardId, { signal: stop.signal, limit: 50 });
          reader.events.on('throttled', () => throttles++);
          for await (const batch of reader) {
            deliveries.push(...delivered(batch.records, shardId));
            if (batch.shardEnd) {
              finished.add(shardId);
              // As a worker does: the children become eligible as soon as the parent ends.
              for (const child of await listChildShards(client, sim.streamArn, shardId, { clock, signal: stop.signal }))
                start(child.shardId);
            }
          }
        })(),
      );
    };

    const scenario = (async () => {
      const graph = ShardGraph.fromShards(await listShards(client, sim.streamArn, { clock }));
      for (const shard of graph.readyShards((id) => finished.has(id))) start(shard.shardId);
      while (schedule.written < 2_000) await clock.sleep(1_000);
      await schedule.stop();
      while (deliveries.length < sim.manifest().length) await clock.sleep(500);
      stop.abort();
      await Promise.all(running);
    })();
    await drive(clock, scenario, 60_000);

    const lineage = sim.shards();
    expect(lineage.length).toBeGreaterThan(6); // rollovers and splits happened
    expect(
      lineage.filter((s) => lineage.filter((c) => c.parentShardId === s.shardId).length === 2).length,
    ).toBeGreaterThan(0);
    const report = audit(sim.manifest(), deliveries, lineage);
    expect(report).toMatchObject({ ok: true, lost: [], orderViolations: [], childBeforeParent: [], duplicates: [] });
    expect(deliveries.length).toBeGreaterThanOrEqual(2_000);
    expect(throttles).toBeGreaterThan(0);
  });

  it('retries are bounded: a shard that keeps failing ends in RetriesExceededError', async () => {
    const { clock, sim, client } = await simulator();
    const [shardId] = sim.openShardIds();
    sim.faults.failNext('GetShardIterator', 10, '500');
    const reader = makeReader(sim, client, clock, shardId!, { maxAttempts: 4 });
    await expect(drive(clock, reader.next())).rejects.toBeInstanceOf(RetriesExceededError);
    expect(sim.calls().GetShardIterator).toBe(4);
  });
});
