import { AbortedError } from './errors.js';

/**
 * Time as a dependency. Lease, iterator and backoff logic take a `Clock` so that tests drive
 * time by hand (`ManualClock`) and stay fast and deterministic.
 */
export interface Clock {
  /** Milliseconds since the epoch (or any fixed origin, for a fake clock). */
  now(): number;
  /** Resolves after `ms`; rejects with AbortedError when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Real time. `now()` is monotonic: the wall-clock time at process start plus a monotonic
 * elapsed time (`performance.now()`), so an NTP step or a manual clock change can neither cut a
 * lease short nor stretch a fence (KCL times leases with `System.nanoTime()` for the same
 * reason). Its readings stay within the clock adjustments since start of the wall clock, which
 * is all the ISO timestamps and lag figures derived from it need.
 */
export const systemClock: Clock = {
  now: () => Math.floor(performance.timeOrigin + performance.now()),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

interface Sleeper {
  wakeAt: number;
  seq: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

/**
 * A clock that only moves when told. `advance(ms)` wakes sleepers in wake-time order and lets
 * the promise chains they start run before moving on, so a loop of sleeps advances as it would
 * in real time.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #sleepers: Sleeper[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Number of pending sleeps: lets a test wait until a loop is parked before advancing. */
  get pendingSleeps(): number {
    return this.#sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(abortReason(signal));
      };
      const sleeper: Sleeper = {
        wakeAt: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#sleepers.push(sleeper);
    });
  }

  /** Moves time forward by `ms`, waking every sleeper due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flushMicrotasks();
      const due = this.#sleepers
        .filter((s) => s.wakeAt <= target)
        .sort((a, b) => a.wakeAt - b.wakeAt || a.seq - b.seq)[0];
      if (!due) break;
      this.#sleepers = this.#sleepers.filter((s) => s !== due);
      this.#now = Math.max(this.#now, due.wakeAt);
      due.cleanup();
      due.resolve();
    }
    this.#now = target;
    await flushMicrotasks();
  }

  /** Sets the time without waking anyone (e.g. to model a paused process). */
  set(now: number): void {
    this.#now = now;
  }
}

async function flushMicrotasks(): Promise<void> {
  // setImmediate lets I/O callbacks and every queued microtask run first.
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return new AbortedError('operation aborted', { cause: reason });
}
