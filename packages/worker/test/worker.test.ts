import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@shardline/core';
import { Worker } from '../src/worker.js';
import { applicationNameOf, type WorkerOptions } from '../src/options.js';
import {
  batch,
  deferred,
  FAKE_STREAM_ARN,
  FakeCoordinator,
  lease,
  leaseRef,
  ScriptedReader,
  seq,
  until,
} from './fakes.js';

const STREAM = FAKE_STREAM_ARN;
const workers: Worker[] = [];

function makeWorker(options: Partial<WorkerOptions> & { coordinator: FakeCoordinator; reader: ScriptedReader }) {
  const { reader, ...rest } = options;
  const worker = new Worker({
    streamArn: STREAM,
    processor: { processRecords: () => undefined },
    readerFactory: reader.factory,
    region: 'us-east-1',
    shutdownTimeoutMs: 2_000,
    ...rest,
  });
  workers.push(worker);
  return worker;
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

describe('Worker', () => {
  it('applicationNameOf: the option, else the table of the first stream, named or read from its ARN', () => {
    const ARN = 'arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000';
    expect(applicationNameOf({ applicationName: 'billing', tableName: 't' })).toBe('billing');
    expect(applicationNameOf({ tableName: 't' })).toBe('t');
    expect(applicationNameOf({ streamArn: ARN, tableName: 't' })).toBe('orders');
    expect(applicationNameOf({ streamArns: [ARN] })).toBe('orders');
    expect(applicationNameOf({ tables: ['a'], streamArns: [ARN] })).toBe('a');
    expect(applicationNameOf({ streamArn: 'arn:aws:dynamodb:eu-west-1:1:nonsense' })).toBeUndefined();
    expect(new Worker({ streamArns: [ARN], processor: { processRecords: () => undefined } }).leaseTableName).toBe(
      'shardline-orders',
    );
  });

  it('derives the application and lease table names, and refuses bad options with advice', () => {
    const coordinator = new FakeCoordinator();
    const worker = makeWorker({ coordinator, reader: new ScriptedReader() });
    expect(worker.leaseTableName).toBe('shardline-orders');
    expect(
      new Worker({ tableName: 't1', applicationName: 'billing', processor: { processRecords: () => undefined } })
        .leaseTableName,
    ).toBe('shardline-billing');
    expect(() => new Worker({ processor: { processRecords: () => undefined } })).toThrow(/tableName or streamArn/);
    expect(() => new Worker({ tableName: 't', processor: {} as never })).toThrow(ConfigError);
    expect(
      () =>
        new Worker({ tableName: 't', processor: { processRecords: () => undefined }, shutdownTimoutMs: 5 } as never),
    ).toThrow(/unknown Worker option: shutdownTimoutMs/);
  });

  it('checks its leases and reader options with their owners at construction', () => {
    const make = (options: Pick<WorkerOptions, 'leases' | 'reader'>) => () =>
      new Worker({ tableName: 't', processor: { processRecords: () => undefined }, ...options });
    expect(make({ leases: { leaseDurationMs: 4_000, heartbeatIntervalMs: 2_000 } })).toThrow(
      /heartbeatIntervalMs \(2000\) must be below leaseDurationMs \/ 2/,
    );
    expect(make({ leases: { leaseDuration: 5 } as never })).toThrow(/unknown leases option: leaseDuration/);
    expect(make({ reader: { limit: 1001 } })).toThrow(ConfigError);
    expect(make({ reader: { idleIntervalMs: 20 * 60_000 } })).toThrow(
      /idleIntervalMs .* must be below iteratorRefreshMs/,
    );
    expect(make({ leases: { leaseDurationMs: 3_000 }, reader: { idleIntervalMs: 50, prefetch: 0 } })).not.toThrow();
    expect(() => new Worker({ tableName: 'a b', processor: { processRecords: () => undefined } })).toThrow(
      /not a valid DynamoDB table name .*; set applicationName or leaseTableName/,
    );
  });

  it('starts a consumer per acquired lease, re-emits lease events, and checkpoints through the coordinator', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader([batch('s1', 1, 2)]);
    const worker = makeWorker({ coordinator, reader });
    const acquired: string[] = [];
    worker.events.on('lease:acquired', ({ lease }) => acquired.push(lease.shardId));
    await worker.start();
    coordinator.acquire('s1');
    await until(() => coordinator.checkpoints.length === 1, 2_000, 'checkpoint');
    expect(coordinator.checkpoints).toEqual([{ shardId: 's1', checkpoint: seq(2) }]);
    expect(acquired).toEqual(['s1']);
    expect(worker.shardIds).toEqual(['s1']);
  });

  it("consumes several streams: each batch says its stream and table, goes to its table's processor, and checkpoints its own lease", async () => {
    const coordinator = new FakeCoordinator();
    const payments = 'arn:aws:dynamodb:us-east-1:000000000000:table/payments/stream/x';
    // Equal shard ids in two streams: the lease key tells them apart.
    const readers = new Map([
      [FAKE_STREAM_ARN, new ScriptedReader([batch('s1', 1, 2)])],
      [payments, new ScriptedReader([batch('s1', 3, 3)])],
    ]);
    const seen: string[] = [];
    const processor = (name: string) => ({
      processRecords: (b: { records: unknown[] }, ctx: { streamArn: string; tableName: string }) => {
        seen.push(`${name}:${ctx.tableName}:${ctx.streamArn}:${b.records.length}`);
      },
    });
    const worker = new Worker({
      streamArns: [FAKE_STREAM_ARN, payments],
      processors: { orders: processor('orders'), payments: processor('payments') },
      coordinator,
      readerFactory: (input) => readers.get(input.streamArn)!.factory(input),
      region: 'us-east-1',
      shutdownTimeoutMs: 2_000,
    });
    workers.push(worker);
    await worker.start();
    expect(worker.streamArns).toEqual([FAKE_STREAM_ARN, payments]);
    coordinator.acquire('s1');
    coordinator.acquireLease({ ...lease('s1'), leaseKey: `${payments}#s1`, streamArn: payments });
    await until(() => coordinator.checkpoints.length === 2, 2_000, 'checkpoints');
    expect(seen.sort()).toEqual([`orders:orders:${FAKE_STREAM_ARN}:2`, `payments:payments:${payments}:1`]);
    expect(coordinator.checkpoints).toEqual(
      expect.arrayContaining([
        { shardId: 's1', checkpoint: seq(2) },
        { shardId: `${payments}#s1`, checkpoint: seq(3) },
      ]),
    );
    expect(
      () => new Worker({ tables: ['a', 'b'], processors: { a: processor('a') }, region: 'us-east-1' }),
    ).not.toThrow();
    const uncovered = new Worker({
      streamArns: [FAKE_STREAM_ARN, payments],
      processors: { orders: processor('orders') },
      coordinator: new FakeCoordinator(),
      readerFactory: readers.get(payments)!.factory,
      region: 'us-east-1',
    });
    workers.push(uncovered);
    await expect(uncovered.start()).rejects.toThrow(/no processor for table payments/);
    expect(() => new Worker({ tables: ['a', 'a'], processor: processor('a') })).toThrow(/given twice/);
    expect(() => new Worker({ tables: ['a'], tableName: 'b', processor: processor('a') })).toThrow(/not both/);
  });

  it('stop() drains consumers (batch finished and checkpointed) before their leases are released; idempotent', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader([batch('s1', 1, 3)]);
    const inFlight = deferred();
    const release = deferred();
    const worker = makeWorker({
      coordinator,
      reader,
      processor: {
        processRecords: async () => {
          inFlight.resolve();
          await release.promise;
        },
      },
    });
    await worker.start();
    coordinator.acquire('s1');
    await inFlight.promise;
    const stopping = worker.stop();
    expect(worker.stop()).toBe(stopping);
    // a lease announced while stopping is not started
    coordinator.events.emit('lease:acquired', { lease: lease('s2') });
    expect(worker.shardIds).toEqual(['s1']);
    await until(() => reader.signals[0]?.aborted === true, 2_000, 'the drain to stop fetching s1');
    release.resolve();
    await stopping;
    expect(coordinator.calls).toEqual(['start', 'stop(handOff=true)', `checkpoint(s1,${seq(3)})`, 'release(s1)']);
    expect(worker.state).toBe('stopped');
  });

  it('a hand-off request finishes the shard, checkpoints, then releases the lease', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader([batch('s1', 1, 1)]);
    const worker = makeWorker({ coordinator, reader });
    await worker.start();
    coordinator.acquire('s1');
    await until(() => coordinator.checkpoints.length === 1, 2_000, 'checkpoint');
    const ended = worker.events.waitFor('shard:end');
    coordinator.events.emit('lease:handoff', { ...leaseRef('s1'), to: 'w2' });
    expect((await ended).reason).toBe('handoff');
    await until(() => coordinator.calls.includes('release(s1)'), 2_000, 'release');
    expect(coordinator.calls.indexOf(`checkpoint(s1,${seq(1)})`)).toBeLessThan(
      coordinator.calls.indexOf('release(s1)'),
    );
  });

  it('lease:lost aborts the consumer; the leases-lost metric counts it', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader();
    const worker = makeWorker({ coordinator, reader });
    await worker.start();
    coordinator.acquire('s1');
    await until(() => worker.shardIds.length === 1, 2_000, 'consumer');
    const ended = worker.events.waitFor('shard:end');
    coordinator.held.delete('s1');
    coordinator.events.emit('lease:lost', { ...leaseRef('s1'), reason: 'fenced' });
    expect((await ended).reason).toBe('lease-lost');
    expect(await worker.metrics.metrics()).toMatch(/shardline_leases_lost_total 1/);
  });

  it('a shard stopped by the failure policy stays stalled (not restarted) and raises shard:failed', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader([batch('s1', 1, 1)]);
    const worker = makeWorker({
      coordinator,
      reader,
      failurePolicy: { maxRetries: 0, onFailure: 'stop' },
      processor: {
        processRecords: () => {
          throw new Error('nope');
        },
      },
    });
    await worker.start();
    const failed = worker.events.waitFor('shard:failed');
    coordinator.acquire('s1');
    expect((await failed).error.message).toBe('nope');
    await until(() => worker.shardIds.length === 0, 2_000, 'consumer end');
    expect(coordinator.checkpoints).toEqual([]);
  });

  it('a shard that failed during a hand-off is read afresh when its lease comes back', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader([batch('s1', 1, 1)]);
    const inFlight = deferred();
    const fail = deferred();
    let calls = 0;
    const worker = makeWorker({
      coordinator,
      reader,
      failurePolicy: { maxRetries: 0, onFailure: 'stop' },
      processor: {
        processRecords: async () => {
          if (++calls > 1) return;
          inFlight.resolve();
          await fail.promise;
          throw new Error('nope');
        },
      },
    });
    await worker.start();
    coordinator.acquire('s1');
    await inFlight.promise;
    coordinator.events.emit('lease:handoff', { ...leaseRef('s1') });
    fail.resolve();
    await until(() => !coordinator.held.has('s1'), 2_000, 'released');
    coordinator.acquire('s1');
    await until(() => reader.starts.length === 2, 2_000, 'a consumer for the re-acquired lease');
    expect(worker.shardIds).toEqual(['s1']);
  });

  it('restarts a shard whose consumer failed unexpectedly, from its last checkpoint, while the lease is held', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader([batch('s1', 1, 2)]);
    let opened = 0;
    const worker = makeWorker({
      coordinator,
      reader,
      readerFactory: (input) => {
        opened++;
        if (opened === 2)
          return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('reader broke')) }) };
        return reader.factory(input);
      },
      processor: { processRecords: () => undefined },
    });
    await worker.start();
    coordinator.acquire('s1');
    await until(() => coordinator.checkpoints.length === 1, 2_000, 'first checkpoint');
    // Simulate a consumer crash: lose nothing, restart from the checkpoint.
    coordinator.events.emit('lease:handoff', { ...leaseRef('s1') });
    await until(() => !coordinator.held.has('s1'), 2_000, 'released');
    coordinator.acquire('s1', seq(2));
    const errorEnd = await worker.events.waitFor('shard:end', (e) => e.reason === 'error');
    expect(errorEnd.error?.message).toBe('reader broke');
    reader.push(batch('s1', 3, 3));
    await until(
      () => coordinator.checkpoints.some((c) => c.checkpoint === seq(3)),
      5_000,
      'restarted consumer checkpoints',
    );
    expect(reader.starts.at(-1)).toEqual({ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seq(2) });
  });

  it('a lease re-acquired while its old consumer is still stopping starts once that one is SHUT_DOWN', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader([batch('s1', 1, 1)]);
    const inFlight = deferred();
    const release = deferred();
    let calls = 0;
    const worker = makeWorker({
      coordinator,
      reader,
      processor: {
        processRecords: async () => {
          if (++calls > 1) return;
          inFlight.resolve();
          await release.promise; // ignores ctx.signal: the old consumer stays busy for a while
        },
      },
    });
    await worker.start();
    coordinator.acquire('s1');
    await inFlight.promise;
    coordinator.held.delete('s1');
    coordinator.events.emit('lease:lost', { ...leaseRef('s1'), reason: 'taken' });
    coordinator.acquire('s1'); // taken back at once
    const starts = () => reader.starts.length;
    expect(starts()).toBe(1);
    release.resolve();
    reader.push(batch('s1', 2, 2));
    await until(() => starts() === 2, 2_000, 'second consumer');
    await until(() => coordinator.checkpoints.some((c) => c.checkpoint === seq(2)), 2_000, 'new consumer checkpoints');
  });
});
