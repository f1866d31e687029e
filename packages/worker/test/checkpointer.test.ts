import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  LeaseLostError,
  ManualClock,
  ShardlineError,
  ThrottledError,
  silentLogger,
  systemClock,
} from '@shardline/core';
import { CHECKPOINT_RETRY, ShardCheckpointer } from '../src/checkpointer.js';
import { MemoryStore, seq, until } from './fakes.js';

/** The attempt budget awaited checkpoints had before #10: the tests outlast it. */
const OLD_AWAITED_ATTEMPTS = 4;

function make(initial = 'TRIM_HORIZON') {
  const store = new MemoryStore();
  const failures: unknown[] = [];
  const checkpointer = new ShardCheckpointer({
    shardId: 's1',
    store,
    initial,
    clock: systemClock,
    logger: silentLogger(),
    onFailure: (err) => failures.push(err),
  });
  return { store, checkpointer, failures };
}

describe('ShardCheckpointer', () => {
  it('checkpoint() writes the last delivered record; nothing before any delivery', async () => {
    const { store, checkpointer } = make();
    await checkpointer.checkpoint();
    expect(store.writes).toEqual([]);
    checkpointer.delivered(seq(5));
    await checkpointer.checkpoint();
    expect(store.last).toBe(seq(5));
    expect(checkpointer.lastCheckpoint).toBe(seq(5));
  });

  it('refuses a position past the last record delivered, and a malformed one', () => {
    const { store, checkpointer } = make();
    expect(() => checkpointer.checkpoint(seq(1))).toThrow(RangeError);
    checkpointer.delivered(seq(9));
    expect(() => checkpointer.checkpoint(seq(10))).toThrow(/past the last record delivered/);
    expect(() => checkpointer.checkpoint('12abc')).toThrow(TypeError);
    expect(store.writes).toEqual([]);
  });

  it('a bounded view (one processRecords call) defaults to its end and refuses a position past it', async () => {
    const { store, checkpointer } = make();
    checkpointer.delivered(seq(8));
    const half = checkpointer.bounded(seq(4));
    expect(() => half.checkpoint(seq(5))).toThrow(/past the last record of this processRecords call/);
    await half.checkpoint();
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(4)]);
    expect(half.lastCheckpoint).toBe(seq(4));
  });

  it('compares as integers: a longer sequence number is later even when it sorts first as text', async () => {
    const { store, checkpointer } = make();
    checkpointer.delivered('900000000000000000000');
    checkpointer.delivered('1000000000000000000000');
    await checkpointer.checkpoint('1000000000000000000000');
    await checkpointer.checkpoint('900000000000000000000');
    expect(store.writes.map((w) => w.checkpoint)).toEqual(['1000000000000000000000']);
  });

  it('is monotonic even for concurrent calls (an older write never lands last)', async () => {
    const { store, checkpointer } = make(seq(2));
    checkpointer.delivered(seq(8));
    await Promise.all([
      checkpointer.checkpoint(seq(7)),
      checkpointer.checkpoint(seq(3)),
      checkpointer.checkpoint(seq(2)),
      checkpointer.checkpoint(seq(8)),
    ]);
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(7), seq(8)]);
  });

  it('resumes past LATEST and ends at SHARD_END, after which nothing is written', async () => {
    const { store, checkpointer } = make('LATEST');
    checkpointer.delivered(seq(4));
    await checkpointer.checkpoint();
    await checkpointer.shardEnd();
    await checkpointer.checkpoint(seq(4));
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(4), 'SHARD_END']);
  });

  it('retries a transient failure, but rejects at once with LeaseLostError', async () => {
    const { store, checkpointer, failures } = make();
    checkpointer.delivered(seq(1));
    store.failNext = 1;
    await checkpointer.checkpoint();
    expect(store.last).toBe(seq(1));
    expect(failures).toHaveLength(1);
    store.lost = true;
    checkpointer.delivered(seq(2));
    await expect(checkpointer.checkpoint()).rejects.toBeInstanceOf(LeaseLostError);
    expect(checkpointer.lastCheckpoint).toBe(seq(1));
  });

  it('is the one retry owner: retries what isRetryable accepts (a timed-out attempt too), nothing else', async () => {
    const clock = new ManualClock();
    const thrown: Error[] = [];
    let calls = 0;
    const checkpointer = new ShardCheckpointer({
      shardId: 's1',
      store: {
        checkpoint: () => {
          calls++;
          const err = thrown.shift();
          return err === undefined ? Promise.resolve() : Promise.reject(err);
        },
      },
      initial: 'TRIM_HORIZON',
      clock,
      logger: silentLogger(),
    });
    /** Advances the fake clock past every backoff until `promise` settles. */
    const drive = async (promise: Promise<void>) => {
      let settled = false;
      const watched = promise.finally(() => (settled = true));
      watched.catch(() => undefined);
      while (!settled) await clock.advance(100);
      return watched;
    };
    checkpointer.delivered(seq(1));
    // A raw SDK TimeoutError (the request timeout cut the attempt off) is transient, as is a throttle.
    thrown.push(new ThrottledError('slow down'), Object.assign(new Error('timed out'), { name: 'TimeoutError' }));
    await drive(checkpointer.checkpoint());
    expect(calls).toBe(3);
    expect(checkpointer.lastCheckpoint).toBe(seq(1));

    checkpointer.delivered(seq(2));
    const refused = new ShardlineError('checkpoint would move backwards', { retryable: false });
    thrown.push(refused);
    calls = 0;
    await expect(drive(checkpointer.checkpoint())).rejects.toBe(refused);
    expect(calls).toBe(1);

    // No attempt budget: throttled ten times, then written (the fence, not a count, ends a write).
    thrown.push(...Array.from({ length: 10 }, () => new ThrottledError('slow down')));
    calls = 0;
    await drive(checkpointer.checkpoint());
    expect(calls).toBe(11);
    expect(checkpointer.lastCheckpoint).toBe(seq(2));
  });

  it('with a limit (per-key concurrency) never passes the oldest unfinished record', async () => {
    const { store, checkpointer } = make();
    const progress: { safe: string | undefined } = { safe: undefined };
    checkpointer.setLimit(() => progress.safe);
    checkpointer.delivered(seq(10));
    await checkpointer.checkpoint();
    expect(store.writes).toEqual([]);
    progress.safe = seq(4);
    await checkpointer.checkpoint();
    await checkpointer.checkpoint(seq(9));
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(4)]);
  });

  it('a state goes with its checkpoint: written again at the same position when it changed, refused with a limit', async () => {
    const { store, checkpointer } = make(seq(3));
    // Nothing delivered yet: a state belongs to the position the shard started from.
    await checkpointer.checkpoint(undefined, { state: 'a' });
    checkpointer.delivered(seq(5));
    await checkpointer.checkpoint(undefined, { state: 'b' });
    await checkpointer.checkpoint(undefined, { state: 'c' });
    // Without a state the same position is a no-op, as before.
    await checkpointer.checkpoint();
    await checkpointer.bounded(seq(5)).checkpoint(undefined, { state: 'd' });
    expect(store.writes).toEqual([
      { shardId: 's1', checkpoint: seq(3), processorState: 'a' },
      { shardId: 's1', checkpoint: seq(5), processorState: 'b' },
      { shardId: 's1', checkpoint: seq(5), processorState: 'c' },
      { shardId: 's1', checkpoint: seq(5), processorState: 'd' },
    ]);
    const limited = make();
    limited.checkpointer.setLimit(() => seq(1));
    limited.checkpointer.delivered(seq(2));
    expect(() => limited.checkpointer.checkpoint(undefined, { state: 'x' })).toThrow(/keyConcurrency/);
  });
});

describe('ShardCheckpointer.checkpointSoon (auto mode)', () => {
  it('coalesces: one write in flight, one queued with the newest target; flush waits for the last', async () => {
    const writes: string[] = [];
    let release: (() => void) | undefined;
    const store = {
      checkpoint: (_shardId: string, checkpoint: string) =>
        new Promise<void>((resolve) => {
          writes.push(checkpoint);
          release = resolve;
        }),
    };
    const checkpointer = new ShardCheckpointer({
      shardId: 's1',
      store,
      initial: 'TRIM_HORIZON',
      clock: systemClock,
      logger: silentLogger(),
    });
    for (let i = 1; i <= 5; i++) {
      checkpointer.delivered(seq(i));
      checkpointer.checkpointSoon(seq(i));
      await Promise.resolve();
    }
    expect(writes).toEqual([seq(1)]);
    release!();
    await until(() => writes.length === 2, 2_000, 'the queued write');
    expect(writes).toEqual([seq(1), seq(5)]);
    const flushed = checkpointer.flush();
    release!();
    await flushed;
    expect(checkpointer.lastCheckpoint).toBe(seq(5));
  });

  it('reports a lost lease from a background write', async () => {
    const failures: unknown[] = [];
    const checkpointer = new ShardCheckpointer({
      shardId: 's1',
      store: { checkpoint: () => Promise.reject(new LeaseLostError('s1')) },
      initial: 'TRIM_HORIZON',
      clock: systemClock,
      logger: silentLogger(),
      onBackgroundFailure: (err) => failures.push(err),
    });
    checkpointer.delivered(seq(1));
    checkpointer.checkpointSoon(seq(1));
    await expect(checkpointer.flush()).rejects.toBeInstanceOf(LeaseLostError);
    expect(failures).toHaveLength(1);
    expect(() => checkpointer.throwIfFailed()).toThrow(LeaseLostError);
  });
});

/** A checkpointer on fake time with a store that fails when told, and what it reported. */
function pending(maxBacklog = 100, intervalMs = 0) {
  const clock = new ManualClock();
  const store = new MemoryStore();
  const failures: unknown[] = [];
  const background: unknown[] = [];
  const stop = new AbortController();
  const checkpointer = new ShardCheckpointer({
    shardId: 's1',
    store,
    initial: 'TRIM_HORIZON',
    clock,
    logger: silentLogger(),
    maxBacklog,
    intervalMs,
    signal: stop.signal,
    onFailure: (err) => failures.push(err),
    onBackgroundFailure: (err) => background.push(err),
  });
  const processed = (i: number, records: number) => {
    checkpointer.delivered(seq(i));
    checkpointer.checkpointSoon(seq(i), records);
  };
  return { clock, store, failures, background, stop, checkpointer, processed };
}

describe('ShardCheckpointer pending checkpoint (auto mode, lease table unreachable)', () => {
  it('keeps retrying past the awaited budget, with the newest position, and never fails the consumer', async () => {
    const { clock, store, failures, background, checkpointer, processed } = pending();
    store.failNext = 3 * OLD_AWAITED_ATTEMPTS;
    processed(1, 10);
    processed(2, 10);
    for (let i = 0; i < 200 && store.failNext > 0; i++) await clock.advance(1_000);
    await clock.advance(CHECKPOINT_RETRY.capMs);
    await checkpointer.flush();
    expect(failures).toHaveLength(3 * OLD_AWAITED_ATTEMPTS);
    expect(background).toEqual([]);
    expect(() => checkpointer.throwIfFailed()).not.toThrow();
    // Two positions, two writes at most: the queued one took the newest; nothing older landed last.
    expect(store.last).toBe(seq(2));
    expect(checkpointer.backlog).toBe(0);
  });

  it('bounds the backlog: full past maxBacklog records, allowed again once a write lands', async () => {
    const { clock, store, checkpointer, processed } = pending(25);
    store.failNext = 1_000;
    processed(1, 10);
    processed(2, 10);
    expect(checkpointer.backlogFull).toBe(false);
    processed(3, 10);
    expect(checkpointer.backlog).toBe(30);
    expect(checkpointer.backlogFull).toBe(true);
    let allowed = false;
    void checkpointer.whenBacklogAllows(new AbortController().signal).then(() => (allowed = true));
    await clock.advance(10_000);
    expect(allowed).toBe(false);
    store.failNext = 0;
    for (let i = 0; i < 20 && !allowed; i++) await clock.advance(CHECKPOINT_RETRY.capMs);
    expect(allowed).toBe(true);
    expect(store.last).toBe(seq(3));
    expect(checkpointer.backlog).toBe(0);
  });

  it('a full backlog is written at once, not after the interval: a healthy fast shard never pauses', async () => {
    const { clock, store, checkpointer, processed } = pending(25, 5_000);
    const start = clock.now();
    processed(1, 10);
    await until(() => store.last === seq(1));
    await clock.advance(10);
    processed(2, 20);
    expect(checkpointer.backlogFull).toBe(false);
    processed(3, 10);
    expect(checkpointer.backlogFull).toBe(true);
    // No time passes: the write held back by the interval goes out because the backlog is full.
    await until(() => store.last === seq(3));
    expect(checkpointer.backlogFull).toBe(false);
    await checkpointer.whenBacklogAllows(new AbortController().signal);
    expect(clock.now()).toBe(start + 10);
    await checkpointer.settle();
  });

  it('stops at a lost lease (the fence decides), and when the consumer is stopped', async () => {
    const { clock, store, background, processed } = pending();
    store.failNext = 1_000;
    processed(1, 10);
    await clock.advance(10_000);
    store.lost = true;
    for (let i = 0; i < 20 && background.length === 0; i++) await clock.advance(CHECKPOINT_RETRY.capMs);
    expect(background[0]).toBeInstanceOf(LeaseLostError);

    const other = pending();
    other.store.failNext = 1_000;
    other.processed(1, 10);
    await other.clock.advance(10_000);
    other.stop.abort();
    await other.clock.advance(CHECKPOINT_RETRY.capMs);
    await other.checkpointer.settle();
    expect(other.store.writes).toEqual([]);
    expect(other.background).toEqual([]);
  });
});

describe('ShardCheckpointer interval (auto mode)', () => {
  it('writes at most once per interval with the newest position, and flush writes the held one at once', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore();
    const checkpointer = new ShardCheckpointer({
      shardId: 's1',
      store,
      initial: 'TRIM_HORIZON',
      clock,
      logger: silentLogger(),
      intervalMs: 1_000,
    });
    const deliver = async (i: number) => {
      checkpointer.delivered(seq(i));
      checkpointer.checkpointSoon(seq(i));
      await clock.advance(0);
    };
    await deliver(1);
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(1)]);
    await deliver(2);
    await deliver(3);
    expect(store.writes).toHaveLength(1);
    await clock.advance(1_000);
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(1), seq(3)]);
    await deliver(4);
    await checkpointer.flush();
    expect(store.writes.map((w) => w.checkpoint)).toEqual([seq(1), seq(3), seq(4)]);
    checkpointer.close();
  });
});

describe('ShardCheckpointer awaited checkpoint (manual mode, shard end) while the lease table is unreachable', () => {
  function awaited() {
    const h = pending();
    const { clock } = h;
    /** Settles `promise` by advancing fake time past every backoff; gives up after `maxMs`. */
    const drive = async (promise: Promise<void>, maxMs = 600_000) => {
      let settled = false;
      const watched = promise.finally(() => (settled = true));
      watched.catch(() => undefined);
      for (let t = 0; !settled && t < maxMs; t += 100) await clock.advance(100);
      return { settled, watched };
    };
    return { ...h, drive };
  }

  it('stays pending past any attempt count and resolves once written (the fence, not a count, decides)', async () => {
    const { store, failures, checkpointer, drive } = awaited();
    checkpointer.delivered(seq(1));
    store.failNext = 10 * OLD_AWAITED_ATTEMPTS;
    const { settled, watched } = await drive(checkpointer.checkpoint());
    expect(settled).toBe(true);
    await expect(watched).resolves.toBeUndefined();
    expect(failures).toHaveLength(10 * OLD_AWAITED_ATTEMPTS);
    expect(store.last).toBe(seq(1));
    // SHARD_END, the runtime's awaited write, follows the same rule.
    store.failNext = 10 * OLD_AWAITED_ATTEMPTS;
    const end = await drive(checkpointer.shardEnd());
    await expect(end.watched).resolves.toBeUndefined();
    expect(store.last).toBe('SHARD_END');
  });

  it('rejects with LeaseLostError once the store refuses it (this worker fenced itself or another owns the lease)', async () => {
    const { store, checkpointer, drive } = awaited();
    checkpointer.delivered(seq(1));
    store.failNext = 1_000;
    const pendingWrite = checkpointer.checkpoint();
    const first = await drive(pendingWrite, 30_000);
    expect(first.settled).toBe(false);
    store.lost = true;
    const { settled, watched } = await drive(pendingWrite);
    expect(settled).toBe(true);
    await expect(watched).rejects.toBeInstanceOf(LeaseLostError);
    expect(checkpointer.lastCheckpoint).toBe('TRIM_HORIZON');
  });

  it.each([
    ['loses its lease', new LeaseLostError('s1'), LeaseLostError],
    ['is forced to stop', new AbortedError('s1: forced stop'), AbortedError],
  ])('rejects at once with the typed reason when the consumer %s', async (_case, reason, type) => {
    const h = awaited();
    h.checkpointer.delivered(seq(1));
    h.store.failNext = 1_000;
    const write = h.checkpointer.checkpoint();
    expect((await h.drive(write, 10_000)).settled).toBe(false);
    h.stop.abort(reason);
    const after = await h.drive(write, 100);
    expect(after.settled).toBe(true);
    await expect(after.watched).rejects.toBeInstanceOf(type);
    expect(h.store.writes).toEqual([]);
  });

  it('after a forced stop, a checkpoint asked for (the final one, shutdownRequested’s) gets one last attempt', async () => {
    const forced = awaited();
    forced.checkpointer.delivered(seq(1));
    forced.stop.abort(new AbortedError('s1: forced stop'));
    await forced.checkpointer.checkpoint();
    expect(forced.store.last).toBe(seq(1));
    forced.checkpointer.delivered(seq(2));
    forced.store.failNext = 1;
    await expect(forced.checkpointer.checkpoint()).rejects.toBeInstanceOf(AbortedError);
    expect(forced.store.last).toBe(seq(1));
  });
});
