import type { StreamsClient, StreamsCommand } from './client.js';

/*
 * Why this module exists: the SDK resolves a command's middleware stack on every `send()`
 * (~40 % of an idle shard's CPU in a profile of 500 idle shards) unless the client was built
 * with `cacheMiddleware: true`, and even then it caches only when `send()` gets no options
 * (smithy-client's `Client.send`: `useHandlerCache = options === undefined && cacheMiddleware`;
 * a call with options drops the cache). The shard reader passes `{ abortSignal }` on every
 * call so that `stop()` aborts the request in flight. This module keeps the abort and drops
 * the options: the signal rides beside the command (a WeakMap keyed by the command's input,
 * which every middleware step carries along) and a middleware at the end of the stack hands it
 * to the request handler, which aborts the HTTP request exactly as `{ abortSignal }` would.
 */

/** The part of an SDK client the middleware needs: its stack and its resolved request handler. */
interface MiddlewareClient {
  middlewareStack: {
    add(middleware: unknown, options: { step: string; priority: string; name: string; override?: boolean }): void;
  };
  config: {
    requestHandler: { handle(request: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> };
    cacheMiddleware?: boolean;
  };
}

type Next = (args: { input: object; request?: unknown }) => Promise<unknown>;

const MIDDLEWARE_NAME = 'shardlineAbortSignal';
const signals = new WeakMap<object, AbortSignal>();
const prepared = new WeakSet<object>();

/**
 * Adds the abort middleware to a client built with `cacheMiddleware: true`, so that calls
 * through `sendAbortable` send no options (the cached stack is used) and still abort. Call it
 * before the client's first request (a cached stack does not see middleware added later). A
 * client without `cacheMiddleware` is left as it is: options cost nothing more there.
 */
export function enableCachedAbortableSends(client: StreamsClient): void {
  const c = client as unknown as Partial<MiddlewareClient>;
  if (prepared.has(client) || c.config?.cacheMiddleware !== true || !c.middlewareStack) return;
  const config = c.config;
  c.middlewareStack.add(
    (next: Next) => async (args: { input: object; request?: unknown }) => {
      const signal = signals.get(args.input);
      if (signal === undefined || args.request === undefined) return next(args);
      // The innermost step: do what the stack's terminal handler does, with the call's signal.
      return config.requestHandler.handle(args.request, { abortSignal: signal });
    },
    { step: 'deserialize', priority: 'low', name: MIDDLEWARE_NAME, override: true },
  );
  prepared.add(client);
}

/** `client.send(command, { abortSignal })`, without the options when the client was prepared (see above). */
export async function sendAbortable(
  client: StreamsClient,
  command: StreamsCommand,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  if (signal === undefined) return client.send(command);
  if (!prepared.has(client)) return client.send(command, { abortSignal: signal });
  // An aborted signal never reaches the request handler's own check, so refuse here as it would.
  signal.throwIfAborted();
  signals.set(command.input, signal);
  return client.send(command);
}
