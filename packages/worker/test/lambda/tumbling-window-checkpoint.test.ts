import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { ManualClock } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import type { RecordBatch } from '../../src/contracts.js';
import {
  lambdaProcessor,
  WINDOW_STATE_STORABLE_BYTES,
  type LambdaDynamoDBTimeWindowEvent,
} from '../../src/lambda/lambda-processor.js';
import { batch, makeConsumer, seq, until } from '../fakes.js';

// Tumbling windows across reads that return nothing, hand-offs and crashes: the window closes
// by the clock on an idle shard, and its state travels with the checkpoint.

const T0 = Date.parse('2024-01-01T00:00:00Z');

const at = (i: number, seconds: number): _Record => {
  const r = batch('shard-1', i, i).records[0]!;
  r.dynamodb!.ApproximateCreationDateTime = new Date(T0 + seconds * 1000);
  return r;
};
const read = (...records: _Record[]): RecordBatch => ({
  shardId: 'shard-1',
  records,
  shardEnd: false,
  millisBehindLatest: 0,
});

interface Seen {
  n: number[];
  state: unknown;
  final: boolean;
  early: boolean;
}

function countingHandler(seen: Seen[], pad = 0) {
  return async (event: LambdaDynamoDBTimeWindowEvent) => {
    await Promise.resolve();
    seen.push({
      n: event.Records.map((r) => Number((r.dynamodb!.NewImage!.n as { N: string }).N)),
      state: event.state,
      final: event.isFinalInvokeForWindow,
      early: event.isWindowTerminatedEarly,
    });
    const count = ((event.state.count as number | undefined) ?? 0) + event.Records.length;
    return { state: pad > 0 ? { count, pad: 'x'.repeat(pad) } : { count } };
  };
}

const stored = (processorState: string | undefined) =>
  processorState === undefined ? undefined : (JSON.parse(processorState) as { tumblingWindow: unknown });

describe('lambdaProcessor tumbling windows with the runtime', () => {
  it('an idle shard closes the window when the clock passes its end, and checkpoints the closed state', async () => {
    const clock = new ManualClock(T0 + 40_000);
    const seen: Seen[] = [];
    const h = makeConsumer<unknown>({
      batches: [read(at(1, 5), at(2, 30)), read()],
      processor: lambdaProcessor(countingHandler(seen), { tumblingWindowMs: 60_000, clock }),
    });
    const done = h.consumer.run();
    await until(() => h.store.writes.length === 1, 5_000, 'the first checkpoint');
    // An empty read before the window's end changes nothing.
    expect(seen).toEqual([{ n: [1, 2], state: {}, final: false, early: false }]);
    expect(stored(h.store.writes[0]!.processorState)).toEqual({
      tumblingWindow: {
        open: { window: { start: T0, end: T0 + 60_000 }, state: { count: 2 }, terminatedEarly: false },
      },
    });
    await clock.advance(20_000);
    h.reader.push(read());
    await until(() => h.store.writes.length === 2, 5_000, 'the checkpoint after the final invocation');
    expect(seen.at(-1)).toEqual({ n: [], state: { count: 2 }, final: true, early: false });
    expect(h.store.writes[1]!.checkpoint).toBe(seq(2));
    expect(stored(h.store.writes[1]!.processorState)).toEqual({
      tumblingWindow: { closedUntil: T0 + 60_000 },
    });
    // A later read with nothing new: the closed window is not invoked again.
    h.reader.push(read());
    h.reader.push({ ...read(), shardEnd: true });
    expect((await done).reason).toBe('shard-end');
    expect(seen).toHaveLength(2);
  });

  it('the next owner resumes the open window with the state stored at the checkpoint (hand-off, crash)', async () => {
    const clock = new ManualClock(T0 + 40_000);
    const seen: Seen[] = [];
    const first = makeConsumer<unknown>({
      batches: [read(at(1, 5), at(2, 30))],
      processor: lambdaProcessor(countingHandler(seen), { tumblingWindowMs: 60_000, clock }),
    });
    const running = first.consumer.run();
    await until(() => first.store.writes.length === 1, 5_000, 'the first checkpoint');
    // The first owner is gone (lost lease: no shutdown hook, nothing more written).
    first.consumer.leaseLost('taken over');
    await running;
    const { checkpoint, processorState } = first.store.writes[0]!;
    const next = makeConsumer<unknown>({
      checkpoint,
      processorState,
      batches: [{ ...read(at(3, 50), at(4, 70)), shardEnd: true }],
      processor: lambdaProcessor(countingHandler(seen), { tumblingWindowMs: 60_000, clock }),
    });
    expect((await next.consumer.run()).reason).toBe('shard-end');
    expect(seen.slice(1)).toEqual([
      { n: [3], state: { count: 2 }, final: false, early: false },
      { n: [], state: { count: 3 }, final: true, early: false },
      { n: [4], state: {}, final: false, early: false },
      { n: [], state: { count: 1 }, final: true, early: false },
    ]);
    expect(next.reader.starts).toEqual([{ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seq(2) }]);
  });

  it('a state too large for the lease item ends the window early, so what is stored always fits', async () => {
    const seen: Seen[] = [];
    const h = makeConsumer<unknown>({
      batches: [{ ...read(at(1, 5)), shardEnd: true }],
      processor: lambdaProcessor(countingHandler(seen, WINDOW_STATE_STORABLE_BYTES), {
        tumblingWindowMs: 60_000,
        clock: new ManualClock(T0 + 10_000),
      }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(seen.map(({ n, final, early }) => ({ n, final, early }))).toEqual([
      { n: [1], final: false, early: false },
      { n: [], final: true, early: true },
      { n: [], final: true, early: false },
    ]);
    const written = h.store.writes.find((w) => w.processorState !== undefined)!;
    expect(stored(written.processorState)).toEqual({
      tumblingWindow: { open: { window: { start: T0, end: T0 + 60_000 }, state: {}, terminatedEarly: false } },
    });
  });
});
