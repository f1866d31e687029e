import { ManualClock, silentLogger } from '@shardline/core';
import { afterEach, describe, expect, it } from 'vitest';
import { Heartbeater } from '../src/heartbeater.js';

// The heartbeater alone, with a plain `write`: no DynamoDB, virtual time only.
const LEASE = 10_000;
const INTERVAL = 2_000;

let stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(stops.map((s) => s()));
  stops = [];
});

function setup() {
  const clock = new ManualClock(0);
  const state = { failing: false, beats: [] as number[], fencedAt: [] as number[], recovered: 0 };
  const hb = new Heartbeater({
    clock,
    leaseDurationMs: LEASE,
    intervalMs: INTERVAL,
    log: silentLogger(),
    write: (beat) => {
      if (state.failing) return Promise.reject(new Error('throttled'));
      state.beats.push(beat);
      return Promise.resolve();
    },
    onFence: () => state.fencedAt.push(clock.now()),
    onRecover: () => state.recovered++,
  });
  stops.push(() => hb.stop());
  return { clock, state, hb };
}

describe('Heartbeater', () => {
  it('beats once per interval', async () => {
    const { clock, state, hb } = setup();
    await hb.start();
    await clock.advance(10 * INTERVAL);
    expect(state.beats).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(state.fencedAt).toEqual([]);
  });

  it('fences exactly a lease duration after the start of the last heartbeat that got through, then recovers', async () => {
    const { clock, state, hb } = setup();
    await hb.start();
    await clock.advance(3 * INTERVAL); // last good beat at 6000
    state.failing = true;
    await clock.advance(LEASE - 1);
    expect(state.fencedAt).toEqual([]);
    expect(hb.checkFence()).toBe(false);
    await clock.advance(1);
    expect(state.fencedAt).toEqual([6_000 + LEASE]);
    expect(hb.fenced).toBe(true);
    state.failing = false;
    await clock.advance(300); // retried every 250 ms while failing
    expect(hb.fenced).toBe(false);
    expect(state.recovered).toBe(1);
  });

  it('retries a failed heartbeat within the interval, so a short throttle costs nothing', async () => {
    const { clock, state, hb } = setup();
    await hb.start();
    state.failing = true;
    await clock.advance(LEASE - 2 * INTERVAL);
    state.failing = false;
    await clock.advance(250);
    expect(state.beats.length).toBe(2);
    await clock.advance(2 * LEASE);
    expect(state.fencedAt).toEqual([]);
  });

  it('gives every attempt a new value, so a retry of a write that landed is still a change to observers', async () => {
    const clock = new ManualClock(0);
    const attempts: number[] = [];
    let loseAnswers = 0;
    const hb = new Heartbeater({
      clock,
      leaseDurationMs: LEASE,
      intervalMs: INTERVAL,
      log: silentLogger(),
      write: (beat) => {
        attempts.push(beat);
        // The write lands (observers see `beat`) but its answer is lost.
        if (loseAnswers > 0) {
          loseAnswers--;
          return Promise.reject(new Error('socket hang up'));
        }
        return Promise.resolve();
      },
      onFence: () => undefined,
      onRecover: () => undefined,
    });
    stops.push(() => hb.stop());
    await hb.start();
    loseAnswers = 3;
    await clock.advance(INTERVAL + 1_000);
    expect(attempts.length).toBeGreaterThanOrEqual(5);
    expect(new Set(attempts).size).toBe(attempts.length);
    expect(attempts).toEqual([...attempts].sort((a, b) => a - b));
  });

  it('checkFence() fences a worker resumed after a pause before any timer runs', async () => {
    const { clock, hb, state } = setup();
    await hb.start();
    clock.set(LEASE + 5); // the process was paused: time jumped, no timer has fired yet
    expect(hb.checkFence()).toBe(true);
    expect(state.fencedAt).toEqual([LEASE + 5]);
  });
});
