import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_WINDOW_STATE_BYTES,
  TumblingWindowMachine,
  windowField,
  windowOf,
  type WindowInvocation,
} from '../../src/lambda/tumbling-window.js';

interface Rec {
  id: number;
  at: number;
}
const T0 = Date.parse('2020-07-30T17:00:00Z');
const SIZE = 300_000;
const rec = (id: number, secondsAfterT0: number): Rec => ({ id, at: T0 + secondsAfterT0 * 1000 });
const machine = (maxStateBytes?: number) =>
  new TumblingWindowMachine<Rec>({ sizeMs: SIZE, createdAt: (r) => r.at, ...(maxStateBytes ? { maxStateBytes } : {}) });

/** What a test sees of an invocation. */
const view = (i: WindowInvocation<Rec> | undefined) =>
  i && {
    window: windowField(i.window),
    ids: i.records.map((r) => r.id),
    state: i.state,
    final: i.isFinalInvokeForWindow,
    early: i.isWindowTerminatedEarly,
  };

describe('tumbling windows', () => {
  it('aligns windows to the epoch and prints them as Lambda’s example does', () => {
    expect(windowField(windowOf(T0 + 123_456, SIZE))).toEqual({
      start: '2020-07-30T17:00:00Z',
      end: '2020-07-30T17:05:00Z',
    });
    expect(windowOf(T0 + SIZE, SIZE).start).toBe(T0 + SIZE);
  });

  it('passes the returned state to the next invocation of the window', () => {
    const m = machine();
    const first = m.next([rec(1, 10), rec(2, 20)], T0 + 30_000)!;
    expect(view(first.invocation)).toEqual({
      window: { start: '2020-07-30T17:00:00Z', end: '2020-07-30T17:05:00Z' },
      ids: [1, 2],
      state: {},
      final: false,
      early: false,
    });
    expect(m.complete(first.invocation, { state: { count: 2 } })).toEqual({ ok: true });
    const second = m.next([rec(3, 40)], T0 + 50_000)!;
    expect(view(second.invocation)).toMatchObject({ ids: [3], state: { count: 2 }, final: false });
  });

  it('ends the window with a final invocation without records when a later record arrives, then starts fresh', () => {
    const m = machine();
    const a = m.next([rec(1, 10)], T0)!;
    m.complete(a.invocation, { state: { count: 1 } });
    const pending = [rec(2, 310), rec(3, 320)];
    const final = m.next(pending, T0 + 311_000)!;
    expect(final.consumed).toBe(0);
    expect(view(final.invocation)).toMatchObject({ ids: [], state: { count: 1 }, final: true, early: false });
    m.complete(final.invocation, { state: { whatever: true } });
    const b = m.next(pending, T0 + 321_000)!;
    expect(view(b.invocation)).toEqual({
      window: { start: '2020-07-30T17:05:00Z', end: '2020-07-30T17:10:00Z' },
      ids: [2, 3],
      state: {},
      final: false,
      early: false,
    });
  });

  it('splits a batch that spans windows: one window per invocation', () => {
    const m = machine();
    const pending = [rec(1, 290), rec(2, 299), rec(3, 300), rec(4, 610)];
    const order: unknown[] = [];
    let rest = pending;
    for (let step = m.next(rest, T0 + 700_000); step; step = m.next(rest, T0 + 700_000)) {
      order.push([
        step.invocation.isFinalInvokeForWindow ? 'final' : 'agg',
        windowField(step.invocation.window).start,
        step.invocation.records.map((r) => r.id),
      ]);
      m.complete(step.invocation, { state: {} });
      rest = rest.slice(step.consumed);
    }
    expect(order).toEqual([
      ['agg', '2020-07-30T17:00:00Z', [1, 2]],
      ['final', '2020-07-30T17:00:00Z', []],
      ['agg', '2020-07-30T17:05:00Z', [3]],
      ['final', '2020-07-30T17:05:00Z', []],
      ['agg', '2020-07-30T17:10:00Z', [4]],
      // 17:10–17:15 is still open at 17:11:40.
    ]);
  });

  it('closes the window when the clock passes its end, or when the shard ends', () => {
    const m = machine();
    m.complete(m.next([rec(1, 10)], T0)!.invocation, { state: { n: 1 } });
    expect(m.next([], T0 + SIZE - 1)).toBeUndefined();
    expect(view(m.next([], T0 + SIZE)!.invocation)).toMatchObject({ final: true, state: { n: 1 } });
    const n = machine();
    n.complete(n.next([rec(1, 10)], T0)!.invocation, { state: { n: 1 } });
    expect(view(n.next([], T0 + 20_000, true)!.invocation)).toMatchObject({ final: true, state: { n: 1 } });
  });

  it('a response without a state object fails the invocation and changes nothing; the final one is retried until it succeeds', () => {
    const m = machine();
    const a = m.next([rec(1, 10)], T0)!;
    for (const response of [
      undefined,
      null,
      {},
      { state: null },
      { state: [1] },
      { state: 'x' },
      { batchItemFailures: [] },
    ]) {
      expect(m.complete(a.invocation, response)).toMatchObject({ ok: false });
    }
    expect(view(m.next([rec(1, 10)], T0)!.invocation)).toMatchObject({ ids: [1], state: {} });
    m.complete(a.invocation, { state: { n: 1 } });
    const final = m.next([], T0 + SIZE)!;
    expect(m.complete(final.invocation, {})).toMatchObject({ ok: false });
    expect(view(m.next([rec(9, 400)], T0 + SIZE)!.invocation)).toMatchObject({ final: true, state: { n: 1 } });
  });

  it('a state over 1 MB terminates the window early, then the window goes on with a fresh state', () => {
    expect(MAX_WINDOW_STATE_BYTES).toBe(1024 * 1024);
    const m = machine(100);
    const big = { blob: 'x'.repeat(200) };
    m.complete(m.next([rec(1, 10)], T0)!.invocation, { state: big });
    const early = m.next([rec(2, 20)], T0 + 20_000)!;
    expect(early.consumed).toBe(0);
    expect(view(early.invocation)).toMatchObject({
      window: { start: '2020-07-30T17:00:00Z' },
      ids: [],
      state: big,
      final: true,
      early: true,
    });
    m.complete(early.invocation, { state: {} });
    const after = m.next([rec(2, 20)], T0 + 20_000)!;
    expect(view(after.invocation)).toMatchObject({
      window: { start: '2020-07-30T17:00:00Z' },
      ids: [2],
      state: {},
      final: false,
      early: false,
    });
  });

  it('never reopens a window: a late record joins the open window, or the next one once closed', () => {
    const m = machine();
    m.complete(m.next([rec(1, 310)], T0 + 310_000)!.invocation, { state: {} });
    const late = m.next([rec(2, 200)], T0 + 320_000)!;
    expect(view(late.invocation)).toMatchObject({ window: { start: '2020-07-30T17:05:00Z' }, ids: [2], final: false });
    m.complete(late.invocation, { state: {} });
    m.complete(m.next([], T0 + 600_000)!.invocation, { state: {} });
    const older = m.next([rec(3, 100)], T0 + 601_000)!;
    expect(windowField(older.invocation.window).start).toBe('2020-07-30T17:10:00Z');
  });

  it('snapshot and restore carry the open window to another machine (a new owner of the shard)', () => {
    const m = machine();
    m.complete(m.next([rec(1, 10)], T0)!.invocation, { state: { n: 1 } });
    const snapshot = m.snapshot();
    const next = machine();
    next.restore(snapshot);
    expect(view(next.next([rec(2, 20)], T0 + 20_000)!.invocation)).toMatchObject({ ids: [2], state: { n: 1 } });
    expect(snapshot).toEqual(m.snapshot());
    expect(machine().snapshot()).toEqual({ open: undefined, closedUntil: undefined });
    // A closed window stays closed for the new owner too.
    m.complete(m.next([], T0 + SIZE)!.invocation, { state: {} });
    const after = machine();
    after.restore(m.snapshot());
    expect(after.isOpen).toBe(false);
    expect(windowField(after.next([rec(3, 30)], T0 + SIZE)!.invocation.window).start).toBe('2020-07-30T17:05:00Z');
  });

  it('property: a counting handler ends every window with the exact count, windows in order, one window per invocation', () => {
    const records = fc
      .array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 60 })
      .map((seconds) => seconds.sort((a, b) => a - b).map((s, id) => rec(id, s)));
    fc.assert(
      fc.property(records, fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 60, maxLength: 60 }), (all, cuts) => {
        const m = machine();
        const finals: Array<[number, number]> = [];
        const starts: number[] = [];
        let pending: Rec[] = [];
        let fed = 0;
        let step = 0;
        const drain = (now: number, shardEnded: boolean) => {
          for (let next = m.next(pending, now, shardEnded); next; next = m.next(pending, now, shardEnded)) {
            const { invocation, consumed } = next;
            const start = invocation.window.start;
            expect(invocation.records.every((r) => windowOf(r.at, SIZE).start === start)).toBe(true);
            if (invocation.isFinalInvokeForWindow) finals.push([start, invocation.state.count as number]);
            else if (!starts.includes(start)) starts.push(start);
            const count = ((invocation.state.count as number | undefined) ?? 0) + invocation.records.length;
            m.complete(invocation, { state: { count } });
            pending = pending.slice(consumed);
          }
        };
        while (fed < all.length) {
          const take = cuts[step++ % cuts.length]!;
          pending = [...pending, ...all.slice(fed, fed + take)];
          fed += take;
          drain(pending[0]?.at ?? T0, false);
        }
        drain(all.at(-1)!.at, true);
        const expected = new Map<number, number>();
        for (const r of all) {
          const start = windowOf(r.at, SIZE).start;
          expected.set(start, (expected.get(start) ?? 0) + 1);
        }
        expect(finals).toEqual([...expected.entries()]);
        expect(starts).toEqual([...expected.keys()]);
      }),
    );
  });
});
