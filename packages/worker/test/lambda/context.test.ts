import type { Callback, Context, DynamoDBStreamHandler, Handler } from 'aws-lambda';
import { AbortedError, ConfigError, ManualClock } from '@shardline/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  invokeHandler,
  LambdaFunctionError,
  resolveLambdaFunction,
  type LambdaCallback,
  type LambdaContext,
  type LambdaHandler,
} from '../../src/lambda/context.js';
import type { LambdaDynamoDBStreamEvent } from '../../src/lambda/event.js';

const STREAM = 'arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000';
const event: LambdaDynamoDBStreamEvent = { Records: [] };

function setup(timeoutMs = 3_000) {
  const clock = new ManualClock();
  let n = 0;
  const fn = resolveLambdaFunction({ functionName: 'orders-fn', timeoutMs }, STREAM);
  const options = { fn, clock, shardId: 'shard-1', requestId: () => `req-${++n}` };
  return { clock, fn, options };
}

describe('the Lambda context', () => {
  it('describes the function like Lambda does, with defaults derived from the stream ARN', () => {
    const { fn } = setup();
    const { logStreamName, ...rest } = fn;
    expect(logStreamName).toMatch(/^shardline\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(rest).toEqual({
      functionName: 'orders-fn',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:orders-fn',
      memoryLimitInMB: 128,
      logGroupName: '/aws/lambda/orders-fn',
      timeoutMs: 3_000,
    });
  });

  it('refuses a timeout that is not a positive integer and a memory size Lambda does not offer', () => {
    expect(() => resolveLambdaFunction({ timeoutMs: 0 }, STREAM)).toThrow(ConfigError);
    expect(() => resolveLambdaFunction({ memoryLimitInMB: 64 }, STREAM)).toThrow(/from 128 to 10240/);
  });

  it('hands the handler the context fields, a new awsRequestId per invocation, and a countdown on the clock', async () => {
    const { clock, options } = setup(3_000);
    const seen: Array<{ id: string; remaining: number[]; context: Partial<LambdaContext> }> = [];
    const handler: LambdaHandler<LambdaDynamoDBStreamEvent> = async (_event, context) => {
      const remaining = [context.getRemainingTimeInMillis()];
      await clock.sleep(1_200);
      remaining.push(context.getRemainingTimeInMillis());
      seen.push({
        id: context.awsRequestId,
        remaining,
        context: {
          functionName: context.functionName,
          functionVersion: context.functionVersion,
          invokedFunctionArn: context.invokedFunctionArn,
          memoryLimitInMB: context.memoryLimitInMB,
          logGroupName: context.logGroupName,
          callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
        },
      });
    };
    for (let i = 0; i < 2; i++) {
      const done = invokeHandler(handler, event, options);
      await clock.advance(1_200);
      await done;
    }
    expect(seen.map((s) => s.id)).toEqual(['req-1', 'req-2']);
    expect(seen[0]!.remaining).toEqual([3_000, 1_800]);
    expect(seen[0]!.context).toEqual({
      functionName: 'orders-fn',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:orders-fn',
      memoryLimitInMB: '128',
      logGroupName: '/aws/lambda/orders-fn',
      callbackWaitsForEmptyEventLoop: true,
    });
  });

  it('type-checks as @types/aws-lambda Context, and our handler type takes theirs', () => {
    expectTypeOf<LambdaContext>().toExtend<Context>();
    expectTypeOf<LambdaCallback>().toExtend<Callback>();
    expectTypeOf<DynamoDBStreamHandler>().toExtend<LambdaHandler<LambdaDynamoDBStreamEvent>>();
    expectTypeOf<Handler<LambdaDynamoDBStreamEvent, void>>().toExtend<LambdaHandler<LambdaDynamoDBStreamEvent>>();
  });
});

describe('invoking a handler', () => {
  it('async: the returned value is the response', async () => {
    const { options } = setup();
    const handler = async () => {
      await Promise.resolve();
      return { batchItemFailures: [] };
    };
    const result = await invokeHandler(handler, event, options);
    expect(result).toEqual({ requestId: 'req-1', response: { batchItemFailures: [] } });
  });

  it('promise-returning (not async): the promise settles the invocation', async () => {
    const { options } = setup();
    const handler = () => Promise.resolve('from a promise');
    await expect(invokeHandler(handler, event, options)).resolves.toMatchObject({ response: 'from a promise' });
    const failing = () => Promise.reject(new Error('rejected'));
    await expect(invokeHandler(failing, event, options)).rejects.toThrow('rejected');
  });

  it('(event, context, callback): waits for the callback, async or not', async () => {
    const { clock, options } = setup();
    const handler = (_e: unknown, _c: LambdaContext, callback: LambdaCallback) => {
      void clock.sleep(100).then(() => callback(null, 'called back'));
    };
    const done = invokeHandler(handler, event, options);
    await clock.advance(100);
    await expect(done).resolves.toMatchObject({ response: 'called back' });
  });

  it('callback(error) and callback("message") fail the invocation; callback(undefined) succeeds', async () => {
    const { options } = setup();
    const withError = (_e: unknown, _c: LambdaContext, cb: LambdaCallback) => cb(new Error('boom'));
    const withString = (_e: unknown, _c: LambdaContext, cb: LambdaCallback) => cb('plain message');
    const withNothing = (_e: unknown, _c: LambdaContext, cb: LambdaCallback) => cb(undefined, 'ok');
    await expect(invokeHandler(withError, event, options)).rejects.toThrow('boom');
    const failure = await invokeHandler(withString, event, options).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(LambdaFunctionError);
    expect(failure).toMatchObject({ message: 'plain message', functionError: 'Unhandled', requestId: 'req-2' });
    await expect(invokeHandler(withNothing, event, options)).resolves.toMatchObject({ response: 'ok' });
  });

  it('the first of callback and promise wins, as the runtime guards its callback', async () => {
    const { options } = setup();
    const handler = async (_e: unknown, _c: LambdaContext, callback: LambdaCallback) => {
      callback(null, 'callback first');
      await Promise.resolve();
      throw new Error('too late to matter');
    };
    await expect(invokeHandler(handler, event, options)).resolves.toMatchObject({ response: 'callback first' });
  });

  it('context.succeed / fail / done end the invocation like the callback', async () => {
    const { options } = setup();
    const succeed = (_e: unknown, c: LambdaContext) => c.succeed({ via: 'succeed' });
    const fail = (_e: unknown, c: LambdaContext) => c.fail('failed via fail');
    const done = (_e: unknown, c: LambdaContext) => c.done(undefined, 'via done');
    await expect(invokeHandler(succeed, event, options)).resolves.toMatchObject({ response: { via: 'succeed' } });
    await expect(invokeHandler(fail, event, options)).rejects.toThrow('failed via fail');
    await expect(invokeHandler(done, event, options)).resolves.toMatchObject({ response: 'via done' });
  });

  it('a non-async handler without a callback parameter ends with null, whatever it returns', async () => {
    const { options } = setup();
    // Typed as Lambda's Handler would refuse it; plain JavaScript handlers do this.
    const handler = (() => ({ ignored: true })) as unknown as LambdaHandler<LambdaDynamoDBStreamEvent>;
    await expect(invokeHandler(handler, event, options)).resolves.toMatchObject({ response: null });
  });

  it('a synchronous throw fails the invocation', async () => {
    const { options } = setup();
    const handler = () => {
      throw new TypeError('bad code');
    };
    const failure = await invokeHandler(handler, event, options).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(LambdaFunctionError);
    expect((failure as LambdaFunctionError).cause).toBeInstanceOf(TypeError);
  });

  it('times out like Lambda when the handler runs past the timeout on the clock', async () => {
    const { clock, options } = setup(2_000);
    const never = () => new Promise<never>(() => undefined);
    const done = invokeHandler(never, event, options).catch((err: unknown) => err);
    await clock.advance(1_999);
    expect(clock.pendingSleeps).toBe(1);
    await clock.advance(1);
    const failure = await done;
    expect(failure).toBeInstanceOf(LambdaFunctionError);
    expect((failure as Error).message).toBe('Task timed out after 2.00 seconds');
  });

  it('stops waiting when the shard’s signal aborts, with AbortedError (not a function error)', async () => {
    const { options } = setup();
    const abort = new AbortController();
    const done = invokeHandler(() => new Promise<never>(() => undefined), event, { ...options, signal: abort.signal });
    abort.abort(new Error('lease lost'));
    await expect(done).rejects.toBeInstanceOf(AbortedError);
    const already = new AbortController();
    already.abort();
    let called = false;
    await expect(
      invokeHandler(
        () => {
          called = true;
        },
        event,
        { ...options, signal: already.signal },
      ),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(called).toBe(false);
  });
});
