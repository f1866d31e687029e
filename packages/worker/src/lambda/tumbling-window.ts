/**
 * Tumbling windows (`TumblingWindowInSeconds`) as a pure state machine, per shard
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#services-ddb-windows):
 *
 * - Each record belongs to the window of its ApproximateCreationDateTime ("the time when
 *   records were inserted into the stream"); windows are aligned to the epoch, as in Lambda's
 *   example (`17:00:00Z`–`17:05:00Z` for 300 s). One invocation carries records of one window.
 * - Every invocation gets the window's `state`; the response must contain `state` (an object),
 *   or the invocation counts as failed and is retried with the state it had. The returned state
 *   is passed to the next invocation of the same window.
 * - When the window ends — a record of a later window arrives, the clock passes its end, or the
 *   shard ends ("when the shard ends, Lambda considers the window closed, and the child shards
 *   start their own window in a fresh state") — one more invocation runs with
 *   `isFinalInvokeForWindow: true` and no records; after it succeeds the state is dropped. Until
 *   it succeeds the shard goes no further (Lambda "suspends further processing").
 * - State is bounded as Lambda bounds it, 1 MB per shard: a returned state over it terminates
 *   the window early — the next invocation is a final one with `isWindowTerminatedEarly: true`
 *   (it gets the oversized state, so no record's contribution is lost), and the window then
 *   continues with a fresh state. Which state Lambda's early final invocation gets is not
 *   documented; this is shardline's reading.
 *
 * What Lambda promises across a crash or a shard moving to another poller: at-least-once
 * processing ("in rare cases, such as error handling, some records might be processed more than
 * once … they might be processed out of order") and nothing about the state. shardline can do
 * better: `lambdaProcessor` writes `snapshot()` with every checkpoint (the lease item's
 * processorState), so the next owner resumes the window with the state that matches the
 * checkpoint.
 */

export interface WindowBounds {
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
}

export type WindowState = Record<string, unknown>;

/** Lambda's per-shard state bound (1 MB), measured as the state's UTF-8 JSON. */
export const MAX_WINDOW_STATE_BYTES = 1024 * 1024;

export interface WindowInvocation<R> {
  window: WindowBounds;
  records: R[];
  state: WindowState;
  isFinalInvokeForWindow: boolean;
  isWindowTerminatedEarly: boolean;
}

/** The open window. */
export interface OpenWindow {
  window: WindowBounds;
  state: WindowState;
  /** The last response's state was over the bound: the next invocation is an early final one. */
  terminatedEarly: boolean;
}

/** What `snapshot()` returns and `restore()` takes: everything a new owner of the shard needs. */
export interface WindowSnapshot {
  open: OpenWindow | undefined;
  /** End of the last window closed (epoch ms), if any: it must not open again. */
  closedUntil: number | undefined;
}

export interface TumblingWindowOptions<R> {
  sizeMs: number;
  /** The record's ApproximateCreationDateTime in epoch ms. */
  createdAt: (record: R) => number;
  /** @defaultValue MAX_WINDOW_STATE_BYTES */
  maxStateBytes?: number;
}

export type WindowResponseOutcome = { ok: true } | { ok: false; reason: string };

export function windowOf(createdAtMs: number, sizeMs: number): WindowBounds {
  const start = Math.floor(createdAtMs / sizeMs) * sizeMs;
  return { start, end: start + sizeMs };
}

/** `window` as the event carries it: ISO 8601 to the second (`2020-07-30T17:00:00Z`). */
export function windowField(window: WindowBounds): { start: string; end: string } {
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { start: iso(window.start), end: iso(window.end) };
}

export class TumblingWindowMachine<R> {
  readonly #o: Required<TumblingWindowOptions<R>>;
  #open: OpenWindow | undefined;
  /** End of the last window closed: a late record never reopens it. */
  #closedUntil = Number.NEGATIVE_INFINITY;

  constructor(options: TumblingWindowOptions<R>) {
    if (!Number.isInteger(options.sizeMs) || options.sizeMs <= 0)
      throw new RangeError(`a tumbling window needs a positive size, got ${options.sizeMs} ms`);
    this.#o = { maxStateBytes: MAX_WINDOW_STATE_BYTES, ...options };
  }

  /** The window is open (a final invocation is still due). */
  get isOpen(): boolean {
    return this.#open !== undefined;
  }

  snapshot(): WindowSnapshot {
    return {
      open: this.#open && structuredClone(this.#open),
      closedUntil: Number.isFinite(this.#closedUntil) ? this.#closedUntil : undefined,
    };
  }

  restore(snapshot: WindowSnapshot): void {
    this.#open = snapshot.open && structuredClone(snapshot.open);
    this.#closedUntil = snapshot.closedUntil ?? Number.NEGATIVE_INFINITY;
  }

  /**
   * The next invocation for `pending` (records not yet handed to the function, in order), or
   * undefined when there is nothing to do yet. `consumed` of `pending` go into it; the caller
   * reports the response with `complete()` before asking again. `shardEnded`: no record follows.
   */
  next(
    pending: readonly R[],
    now: number,
    shardEnded = false,
  ): { invocation: WindowInvocation<R>; consumed: number } | undefined {
    const open = this.#open;
    if (open) {
      const first = pending[0];
      const laterRecord = first !== undefined && this.#windowFor(first).start >= open.window.end;
      const nothingLeft = first === undefined && (now >= open.window.end || shardEnded);
      if (open.terminatedEarly || laterRecord || nothingLeft) {
        return {
          invocation: {
            window: open.window,
            records: [],
            state: open.state,
            isFinalInvokeForWindow: true,
            isWindowTerminatedEarly: open.terminatedEarly,
          },
          consumed: 0,
        };
      }
    }
    const first = pending[0];
    if (first === undefined) return undefined;
    const window = this.#windowFor(first);
    let consumed = 1;
    while (consumed < pending.length && this.#windowFor(pending[consumed]!).start === window.start) consumed++;
    return {
      invocation: {
        window,
        records: pending.slice(0, consumed),
        state: open && open.window.start === window.start ? open.state : {},
        isFinalInvokeForWindow: false,
        isWindowTerminatedEarly: false,
      },
      consumed,
    };
  }

  /**
   * Applies a successful invocation's response. A response without an object `state` is a
   * failed invocation: nothing changes, and the same invocation must be retried.
   */
  complete(invocation: WindowInvocation<R>, response: unknown): WindowResponseOutcome {
    const state = (response as { state?: unknown } | null | undefined)?.state;
    if (typeof state !== 'object' || state === null || Array.isArray(state))
      return { ok: false, reason: 'with a tumbling window the response must contain a "state" object' };
    if (invocation.isFinalInvokeForWindow) {
      // The window is done; after an early termination it goes on with a fresh state.
      this.#open = invocation.isWindowTerminatedEarly
        ? { window: invocation.window, state: {}, terminatedEarly: false }
        : undefined;
      if (!invocation.isWindowTerminatedEarly) this.#closedUntil = invocation.window.end;
      return { ok: true };
    }
    const bytes = Buffer.byteLength(JSON.stringify(state), 'utf8');
    this.#open = {
      window: invocation.window,
      state: state as WindowState,
      terminatedEarly: bytes > this.#o.maxStateBytes,
    };
    return { ok: true };
  }

  /**
   * A record never reopens a closed window: one created before the open window joins it, one
   * created in an already closed window joins the first window after it.
   */
  #windowFor(record: R): WindowBounds {
    const window = windowOf(Math.max(this.#o.createdAt(record), this.#closedUntil), this.#o.sizeMs);
    const open = this.#open;
    return open && window.start < open.window.start ? open.window : window;
  }
}
