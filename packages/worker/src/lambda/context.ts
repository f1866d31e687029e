import { randomUUID } from 'node:crypto';
import { AbortedError, ProcessorError, integerInRange, positiveInteger, toError, type Clock } from '@shardline/core';

/**
 * The Lambda context object (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html)
 * and the invoker that calls a handler the three ways the Node.js runtime allows
 * (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html): async, promise-returning,
 * and `(event, context, callback)`. Structural copies of `@types/aws-lambda`'s `Context`,
 * `Callback` and `Handler` (see event.ts for why).
 */

export type LambdaCallback<TResult = unknown> = (error?: Error | string | null, result?: TResult) => void;

export interface LambdaContext {
  /** Lambda's default is true. shardline never waits for the event loop (see `invokeHandler`). */
  callbackWaitsForEmptyEventLoop: boolean;
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  /** A string, as Lambda sets it (`"128"`). */
  memoryLimitInMB: string;
  /** Unique per invocation, retries included. */
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  identity?: undefined;
  clientContext?: undefined;
  /** Milliseconds until this invocation times out, on the injected clock; never negative. */
  getRemainingTimeInMillis(): number;
  /** Legacy (Node.js 0.10 runtime) ways to end the invocation; they call the callback. */
  done(error?: Error, result?: unknown): void;
  fail(error: Error | string): void;
  succeed(messageOrObject: unknown): void;
  succeed(message: string, object: unknown): void;
}

export type LambdaHandler<TEvent, TResult = unknown> = (
  event: TEvent,
  context: LambdaContext,
  callback: LambdaCallback<TResult>,
) => void | Promise<TResult>;

/** What the function is called in the context; everything but the name has a default. */
export interface LambdaFunctionOptions {
  /** @defaultValue 'shardline-handler' */
  functionName?: string;
  /** @defaultValue '$LATEST' */
  functionVersion?: string;
  /** @defaultValue `arn:aws:lambda:<region>:<account>:function:<functionName>`, region and account from the stream ARN */
  invokedFunctionArn?: string;
  /** @defaultValue 128 (Lambda's default) */
  memoryLimitInMB?: number;
  /** @defaultValue `/aws/lambda/<functionName>` */
  logGroupName?: string;
  /** @defaultValue `shardline/[<functionVersion>]<random id per process>` */
  logStreamName?: string;
  /**
   * The invocation timeout: `getRemainingTimeInMillis()` counts down to it, and an invocation
   * still running then fails as Lambda's does ("Task timed out after … seconds").
   * @defaultValue 60_000 (shardline's processor timeout; Lambda's own default is 3 s)
   */
  timeoutMs?: number;
}

export type ResolvedLambdaFunction = Required<LambdaFunctionOptions>;

export const LAMBDA_FUNCTION_DEFAULTS = {
  functionName: 'shardline-handler',
  functionVersion: '$LATEST',
  memoryLimitInMB: 128,
  timeoutMs: 60_000,
} as const satisfies LambdaFunctionOptions;

const INSTANCE_ID = randomUUID().replaceAll('-', '');

export function resolveLambdaFunction(options: LambdaFunctionOptions, streamArn: string): ResolvedLambdaFunction {
  const d = LAMBDA_FUNCTION_DEFAULTS;
  const functionName = options.functionName ?? d.functionName;
  const functionVersion = options.functionVersion ?? d.functionVersion;
  const [, partition = 'aws', , region = '', account = ''] = streamArn.split(':');
  return {
    functionName,
    functionVersion,
    invokedFunctionArn:
      options.invokedFunctionArn ?? `arn:${partition}:lambda:${region}:${account}:function:${functionName}`,
    // Lambda's range for memory (128 MB to 10,240 MB); the value is only reported to the handler.
    memoryLimitInMB: integerInRange(
      'function.memoryLimitInMB',
      options.memoryLimitInMB ?? d.memoryLimitInMB,
      128,
      10_240,
    ),
    logGroupName: options.logGroupName ?? `/aws/lambda/${functionName}`,
    logStreamName: options.logStreamName ?? `shardline/[${functionVersion}]${INSTANCE_ID}`,
    timeoutMs: positiveInteger('function.timeoutMs', options.timeoutMs ?? d.timeoutMs),
  };
}

/** The invocation failed: the handler threw, rejected, called back with an error, or timed out. */
export class LambdaFunctionError extends ProcessorError {
  /** Lambda's `X-Amz-Function-Error` for Node.js functions. */
  readonly functionError = 'Unhandled';
  readonly requestId: string;
  constructor(shardId: string, requestId: string, message: string, options: { cause?: unknown } = {}) {
    super(shardId, message, { ...options, retryable: true });
    this.requestId = requestId;
  }
}

export interface InvokeOptions {
  fn: ResolvedLambdaFunction;
  clock: Clock;
  shardId: string;
  /** Aborts the invocation (lease lost, forced stop): the result is then never used. */
  signal?: AbortSignal | undefined;
  /** @defaultValue crypto.randomUUID */
  requestId?: () => string;
}

export interface Invocation {
  requestId: string;
  /** What the handler returned or called back with (`null` when a non-async handler returned nothing). */
  response: unknown;
}

/**
 * Calls `handler` once and settles with its response, the way the Node.js runtime does:
 *
 * - a returned promise (or thenable) settles the invocation, as does the callback, whichever
 *   comes first (the runtime guards its callback the same way); `context.done/succeed/fail`
 *   are the callback;
 * - a handler that returns a non-promise value ends with `null` unless it declared a third
 *   parameter, in which case the callback is awaited. Lambda would wait for the event loop to
 *   drain instead; a worker's event loop never drains, so `callbackWaitsForEmptyEventLoop`
 *   is kept only for the handler to read;
 * - a throw, a rejection or `callback(error)` rejects with LambdaFunctionError, and so does
 *   running past `timeoutMs`.
 */
export function invokeHandler<TEvent>(
  handler: LambdaHandler<TEvent>,
  event: TEvent,
  options: InvokeOptions,
): Promise<Invocation> {
  const { fn, clock, shardId, signal } = options;
  const requestId = (options.requestId ?? randomUUID)();
  const deadline = clock.now() + fn.timeoutMs;
  const timer = new AbortController();
  return new Promise<Invocation>((resolve, reject) => {
    let settled = false;
    const settle = (error: unknown, response: unknown, failed: boolean): void => {
      if (settled) return;
      settled = true;
      timer.abort();
      signal?.removeEventListener('abort', onAbort);
      if (!failed) return resolve({ requestId, response });
      if (error instanceof AbortedError) return reject(error);
      const cause = toError(error);
      reject(new LambdaFunctionError(shardId, requestId, cause.message, { cause }));
    };
    const callback: LambdaCallback = (error, result) => {
      // The runtime treats any non-null first argument as an error, an empty string included.
      if (error !== null && error !== undefined) settle(error, undefined, true);
      else settle(undefined, result, false);
    };
    const onAbort = () =>
      settle(new AbortedError(`invocation ${requestId} aborted`, { cause: signal?.reason }), undefined, true);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    clock.sleep(fn.timeoutMs, timer.signal).then(
      () => settle(new Error(`Task timed out after ${(fn.timeoutMs / 1000).toFixed(2)} seconds`), undefined, true),
      () => undefined,
    );
    const context = createContext(fn, requestId, () => Math.max(0, deadline - clock.now()), callback);
    let returned: unknown;
    try {
      returned = handler(event, context, callback);
    } catch (err) {
      return settle(err, undefined, true);
    }
    if (isThenable(returned)) {
      returned.then(
        (response) => settle(undefined, response, false),
        (err: unknown) => settle(err ?? new Error('the handler rejected without a reason'), undefined, true),
      );
    } else if (handler.length < 3) {
      settle(undefined, null, false);
    }
  });
}

function createContext(
  fn: ResolvedLambdaFunction,
  awsRequestId: string,
  remaining: () => number,
  callback: LambdaCallback,
): LambdaContext {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: fn.functionVersion,
    invokedFunctionArn: fn.invokedFunctionArn,
    memoryLimitInMB: String(fn.memoryLimitInMB),
    awsRequestId,
    logGroupName: fn.logGroupName,
    logStreamName: fn.logStreamName,
    getRemainingTimeInMillis: remaining,
    done: (error?: Error, result?: unknown) => callback(error, result),
    fail: (error: Error | string) => callback(error),
    // The two-argument form is undocumented; the runtime ignores the object (per @types/aws-lambda).
    succeed: (messageOrObject: unknown) => callback(null, messageOrObject),
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
