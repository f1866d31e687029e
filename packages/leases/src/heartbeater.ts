import type { Clock, Logger } from '@shardline/core';

/** A heartbeat write may take this long (or two intervals, if longer) before it counts as failed. */
const MIN_WRITE_TIMEOUT_MS = 2_000;
const WRITE_TIMEOUT_INTERVALS = 2;
/**
 * A failed heartbeat is tried again after a quarter interval, at most this long (and at least
 * 1 ms): several tries fit in one interval, so a throttled write costs no lease.
 */
const RETRY_AFTER_MS = 250;
const RETRY_AFTER_INTERVALS = 1 / 4;

export interface HeartbeaterOptions {
  clock: Clock;
  /** Without a successful heartbeat for this long, the worker fences itself. */
  leaseDurationMs: number;
  intervalMs: number;
  /** Writes heartbeat value `beat` (larger on every attempt); rejects when it did not get through. */
  write: (beat: number, signal: AbortSignal) => Promise<void>;
  /** Called once when the fence falls: stop every shard now. */
  onFence: (lastOkAt: number) => void;
  /** Called when a heartbeat gets through again after a fence. */
  onRecover: () => void;
  log: Logger;
}

/**
 * A worker's heartbeat and self-fencing, apart from everything else the coordinator does so
 * that no slow read or long shard sync can delay a heartbeat. Testable with a plain `write`.
 *
 * Fencing rule: `leaseDurationMs` after the *start* of the last heartbeat that got through, the
 * worker is fenced (`onFence`). Observers judge it dead only `leaseDurationMs + margin` after they
 * first *saw* that heartbeat, which was after it was sent, so the fence always falls first.
 * A failed heartbeat is retried within the interval (a throttled table costs no lease).
 */
export class Heartbeater {
  readonly #o: HeartbeaterOptions;
  readonly #lifetime = new AbortController();
  #poke = new AbortController();
  #fenceTimer: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #beat = 0;
  /**
   * Value of the last write attempt. Every attempt, retries included, carries a new one: a retry
   * of a write that landed with its answer lost must still look like a change to observers, who
   * otherwise start our death clock at the first attempt and judge us dead before we fence.
   */
  #attempt = 0;
  #lastOkAt = 0;
  #nextAt = 0;
  #fenced = false;
  #busy = false;
  #armed = false;

  constructor(options: HeartbeaterOptions) {
    this.#o = options;
  }

  get fenced(): boolean {
    return this.#fenced;
  }

  get busy(): boolean {
    return this.#busy;
  }

  /** Start of the last heartbeat that got through, on this worker's clock (0 before the first). */
  get lastOkAt(): number {
    return this.#lastOkAt;
  }

  /** Like `lastOkAt`, but undefined until a heartbeat got through (a clock may start at 0). */
  get lastOkAtIfAny(): number | undefined {
    return this.#beat > 0 ? this.#lastOkAt : undefined;
  }

  /** Writes the first heartbeat (its failure is the caller's), then beats in the background. */
  async start(): Promise<void> {
    await this.#beatOnce();
    this.#armed = true;
    this.#loop = this.#run();
  }

  /** Beat as soon as possible (e.g. to announce draining). */
  beatNow(): void {
    this.#nextAt = this.#o.clock.now();
    this.#poke.abort();
  }

  /**
   * Fences now if the lease duration has passed since the last heartbeat that got through.
   * Called before anything that acts on leases: a process resumed after a long pause must not
   * act before its timers catch up.
   */
  checkFence(): boolean {
    if (this.#fenced || !this.#armed) return this.#fenced;
    if (this.#o.clock.now() < this.#lastOkAt + this.#o.leaseDurationMs) return false;
    this.#fenced = true;
    this.#o.onFence(this.#lastOkAt);
    return true;
  }

  async stop(): Promise<void> {
    this.#armed = false;
    this.#lifetime.abort();
    this.#fenceTimer?.abort();
    this.#poke.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#lifetime.signal;
    while (!signal.aborted) {
      this.#poke = new AbortController();
      const wait = Math.max(0, this.#nextAt - this.#o.clock.now());
      await this.#o.clock.sleep(wait, AbortSignal.any([signal, this.#poke.signal])).catch(() => undefined);
      if (signal.aborted) break;
      this.#busy = true;
      try {
        this.checkFence();
        await this.#beatOnce().catch(() => undefined);
      } finally {
        this.#busy = false;
      }
    }
  }

  async #beatOnce(): Promise<void> {
    const sentAt = this.#o.clock.now();
    try {
      const timeoutMs = Math.max(MIN_WRITE_TIMEOUT_MS, this.#o.intervalMs * WRITE_TIMEOUT_INTERVALS);
      await this.#o.write(++this.#attempt, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      const retryAfterMs = Math.min(RETRY_AFTER_MS, Math.floor(this.#o.intervalMs * RETRY_AFTER_INTERVALS));
      this.#nextAt = this.#o.clock.now() + Math.max(1, retryAfterMs);
      throw err;
    }
    this.#beat++;
    this.#lastOkAt = sentAt;
    this.#nextAt = sentAt + this.#o.intervalMs;
    if (this.#fenced) {
      this.#fenced = false;
      this.#o.onRecover();
    }
    this.#armFence(sentAt + this.#o.leaseDurationMs);
  }

  #armFence(at: number): void {
    this.#fenceTimer?.abort();
    const timer = new AbortController();
    this.#fenceTimer = timer;
    this.#o.clock
      .sleep(Math.max(0, at - this.#o.clock.now()), AbortSignal.any([timer.signal, this.#lifetime.signal]))
      .then(() => this.checkFence())
      .catch(() => undefined);
  }
}
