import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';

type EventMap = Record<string, unknown>;
type Listener<T> = (payload: T) => void;

/**
 * A typed event emitter whose listeners cannot break the emitter's loop: a listener that
 * throws (or returns a rejected promise) is logged and the remaining listeners still run.
 * Payloads are single objects, names are colon-namespaced (`lease:acquired`).
 */
export class SafeEmitter<Events extends EventMap> {
  readonly #inner = new EventEmitter();
  readonly #log: () => Logger | undefined;

  constructor(log: () => Logger | undefined = () => undefined) {
    this.#log = log;
  }

  on<K extends keyof Events & string>(event: K, listener: Listener<Events[K]>): this {
    this.#inner.on(event, listener);
    return this;
  }

  once<K extends keyof Events & string>(event: K, listener: Listener<Events[K]>): this {
    this.#inner.once(event, listener);
    return this;
  }

  off<K extends keyof Events & string>(event: K, listener: Listener<Events[K]>): this {
    this.#inner.off(event, listener);
    return this;
  }

  removeAllListeners(): this {
    this.#inner.removeAllListeners();
    return this;
  }

  listenerCount<K extends keyof Events & string>(event: K): number {
    return this.#inner.listenerCount(event);
  }

  /** Resolves with the next payload of `event` for which `predicate` holds. */
  waitFor<K extends keyof Events & string>(
    event: K,
    predicate: (payload: Events[K]) => boolean = () => true,
    signal?: AbortSignal,
  ): Promise<Events[K]> {
    return new Promise((resolve, reject) => {
      const onEvent = (payload: Events[K]) => {
        if (!predicate(payload)) return;
        this.off(event, onEvent);
        signal?.removeEventListener('abort', onAbort);
        resolve(payload);
      };
      const onAbort = () => {
        this.off(event, onEvent);
        reject(signal?.reason instanceof Error ? signal.reason : new Error(`gave up waiting for ${event}`));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.on(event, onEvent);
    });
  }

  emit<K extends keyof Events & string>(event: K, payload: Events[K]): void {
    for (const listener of this.#inner.listeners(event) as Listener<Events[K]>[]) {
      try {
        const result = listener(payload) as unknown;
        if (result instanceof Promise) result.catch((err: unknown) => this.#report(event, err));
      } catch (err) {
        this.#report(event, err);
      }
    }
  }

  #report(event: string, err: unknown): void {
    this.#log()?.error({ err, event }, 'event listener threw; the event loop carries on');
  }
}
