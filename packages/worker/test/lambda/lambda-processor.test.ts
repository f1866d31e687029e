import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { DynamoDBRecord, DynamoDBStreamEvent, DynamoDBStreamHandler } from 'aws-lambda';
import { ManualClock, silentLogger, systemClock } from '@shardline/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { WorkerOptions } from '../../src/options.js';
import type { RecordBatch } from '../../src/contracts.js';
import type { ProcessorContext } from '../../src/processor.js';
import { toStreamRecord } from '../../src/stream-record.js';
import type { LambdaCallback, LambdaContext } from '../../src/lambda/context.js';
import {
  InvocationLedger,
  LambdaFailureDestination,
  type LambdaOnFailureRecord,
} from '../../src/lambda/failure-record.js';
import { lambdaProcessor, type LambdaDynamoDBTimeWindowEvent } from '../../src/lambda/lambda-processor.js';
import { payloadBytes, toLambdaRecord } from '../../src/lambda/event.js';
import { batch, capturingLogger, makeConsumer, rec, seq } from '../fakes.js';

const STREAM = 'arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x';

/** The numbers (`NewImage.n`) of the records of each invocation. */
const numbers = (event: DynamoDBStreamEvent) => event.Records.map((r) => Number(r.dynamodb!.NewImage!.n!.N));

function recorder() {
  const invocations: number[][] = [];
  const requestIds: string[] = [];
  const see = (event: DynamoDBStreamEvent, context: { awsRequestId: string }) => {
    invocations.push(numbers(event));
    requestIds.push(context.awsRequestId);
  };
  return { invocations, requestIds, see };
}

describe('lambdaProcessor', () => {
  it('is a processor the Worker takes, and refuses bad options when created', () => {
    const handler: DynamoDBStreamHandler = async () => {
      await Promise.resolve();
    };
    expectTypeOf(lambdaProcessor(handler)).toExtend<WorkerOptions['processor']>();
    expect(() => lambdaProcessor(handler, { function: { timeoutMs: -1 } })).toThrow(
      /timeoutMs must be a positive integer/,
    );
    expect(() => lambdaProcessor(handler, { filterCriteria: { Filters: [{ Pattern: '{' }] } })).toThrow(
      /not valid JSON/,
    );
  });
});

describe('lambdaProcessor on the shard consumer', () => {
  it('hands an @types/aws-lambda handler Lambda’s event and context; resolving completes and checkpoints the batch', async () => {
    const { invocations, see } = recorder();
    const contexts: string[] = [];
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      contexts.push(`${context.functionName} ${context.invokedFunctionArn}`);
      expect(event.Records[0]).toMatchObject({
        eventSource: 'aws:dynamodb',
        eventVersion: '1.1',
        eventSourceARN: STREAM,
        awsRegion: 'us-east-1',
      });
      await Promise.resolve();
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 3), batch('shard-1', 4, 5, true)],
      processor: lambdaProcessor(handler, { function: { functionName: 'orders' } }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(invocations).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(contexts[0]).toBe('orders arn:aws:lambda:us-east-1:000000000000:function:orders');
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(3), seq(5), 'SHARD_END']);
  });

  it('the handler gets the images as DynamoDB JSON exactly as GetRecords gave them: nothing is unmarshalled on the way', async () => {
    // `unmarshall` refuses this number without wrapNumbers (it throws): the eager record failed the batch.
    const big: _Record = {
      ...rec(1, 'k1', { big: { N: '12345678901234567890.5' } }),
      eventName: 'MODIFY',
    };
    big.dynamodb!.OldImage = { pk: { S: 'k1' }, big: { N: '1' } };
    const seen: DynamoDBRecord[] = [];
    const h = makeConsumer<unknown>({
      batches: [{ ...batch('shard-1', 1, 1, true), records: [big] }],
      processor: lambdaProcessor(async (event: DynamoDBStreamEvent) => {
        await Promise.resolve();
        seen.push(...event.Records);
      }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(seen).toEqual([toLambdaRecord(big, STREAM)]);
    expect(seen[0]!.dynamodb!.NewImage!.big).toEqual({ N: '12345678901234567890.5' });
    expect(seen[0]!.dynamodb!.OldImage).toEqual({ pk: { S: 'k1' }, big: { N: '1' } });
  });

  it('a partial batch response checkpoints before the lowest failed record and retries from it', async () => {
    const { invocations, requestIds, see } = recorder();
    let failing = true;
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      await Promise.resolve();
      if (!failing) return { batchItemFailures: [] };
      failing = false;
      return { batchItemFailures: [{ itemIdentifier: seq(4) }, { itemIdentifier: seq(3) }] };
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 5, true)],
      policy: { maxRetries: 3 },
      processor: lambdaProcessor(handler, { reportBatchItemFailures: true }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(invocations).toEqual([
      [1, 2, 3, 4, 5],
      [3, 4, 5],
    ]);
    expect(new Set(requestIds).size).toBe(2);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2), seq(5), 'SHARD_END']);
  });

  it('logs a partial batch response as one info line naming the shard and records, without a stack', async () => {
    let failing = true;
    const handler: DynamoDBStreamHandler = async () => {
      await Promise.resolve();
      if (!failing) return undefined;
      failing = false;
      return { batchItemFailures: [{ itemIdentifier: seq(4) }, { itemIdentifier: seq(3) }] };
    };
    const { logger, lines } = capturingLogger();
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 5, true)],
      policy: { maxRetries: 3 },
      processor: lambdaProcessor(handler, { reportBatchItemFailures: true }),
      // As the worker scopes it.
      logger: logger.child({ component: 'shard', shardId: 'shard-1' }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    const aboutFailures = lines.filter((l) => /fail/i.test(String(l.msg)));
    expect(aboutFailures).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'the processor reported failed records',
        shardId: 'shard-1',
        firstSequenceNumber: seq(1),
        lastSequenceNumber: seq(5),
        retryFrom: seq(3),
        reportedRecords: 2,
      }),
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/stack/);
  });

  it('ignores batchItemFailures without ReportBatchItemFailures, as Lambda does', async () => {
    const { invocations, see } = recorder();
    const handler: DynamoDBStreamHandler = (event, context, callback) => {
      see(event, context);
      callback(null, { batchItemFailures: [{ itemIdentifier: seq(2) }] });
    };
    const h = makeConsumer<unknown>({ batches: [batch('shard-1', 1, 3, true)], processor: lambdaProcessor(handler) });
    await h.consumer.run();
    expect(invocations).toEqual([[1, 2, 3]]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(3), 'SHARD_END']);
  });

  it('an invalid identifier fails the whole batch: it is retried whole', async () => {
    const { invocations, see } = recorder();
    let calls = 0;
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      await Promise.resolve();
      return ++calls === 1 ? { batchItemFailures: [{ itemIdentifier: '' }] } : undefined;
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 3, true)],
      policy: { maxRetries: 2 },
      processor: lambdaProcessor(handler, { reportBatchItemFailures: true }),
    });
    const errors: string[] = [];
    h.events.on('processor:error', ({ error }) => errors.push(error.message));
    await h.consumer.run();
    expect(invocations).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect(errors).toEqual(['batchItemFailures[0].itemIdentifier is ""']);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(3), 'SHARD_END']);
  });

  it('a thrown error, a rejection and callback(error) fail the whole batch', async () => {
    for (const fail of [
      () => {
        throw new Error('thrown');
      },
      () => Promise.reject(new Error('rejected')),
      (_e: unknown, _c: LambdaContext, callback: LambdaCallback) => callback(new Error('called back')),
    ]) {
      let calls = 0;
      const seen: number[][] = [];
      const handler = (event: DynamoDBStreamEvent, context: LambdaContext, callback: LambdaCallback) => {
        seen.push(numbers(event));
        if (++calls === 1) return fail(event, context, callback);
        callback(null);
      };
      const h = makeConsumer<unknown>({
        batches: [batch('shard-1', 1, 2, true)],
        policy: { maxRetries: 1 },
        processor: lambdaProcessor(handler),
      });
      expect((await h.consumer.run()).reason).toBe('shard-end');
      expect(seen).toEqual([
        [1, 2],
        [1, 2],
      ]);
    }
  });

  it('records filtered out never reach the handler and are checkpointed past; a batch filtered out entirely is not invoked', async () => {
    const { invocations, see } = recorder();
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      await Promise.resolve();
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 2), batch('shard-1', 3, 6, true)],
      processor: lambdaProcessor(handler, {
        filterCriteria: {
          Filters: [
            { Pattern: '{ "dynamodb": { "NewImage": { "n": { "N": [ { "numeric": [ ">", 2, "<", 5 ] } ] } } } }' },
          ],
        },
      }),
    });
    await h.consumer.run();
    expect(invocations).toEqual([[3, 4]]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2), seq(6), 'SHARD_END']);
  });

  it('runs a handler built with Powertools’ BatchProcessor unchanged: only the failed record and those after it are retried', async () => {
    const processor = new BatchProcessor(EventType.DynamoDBStreams);
    const attempts = new Map<number, number>();
    const recordHandler = async (record: DynamoDBRecord): Promise<void> => {
      const n = Number(record.dynamodb!.NewImage!.n!.N);
      attempts.set(n, (attempts.get(n) ?? 0) + 1);
      await Promise.resolve();
      if (n === 3 && attempts.get(n) === 1) throw new Error('record 3 fails once');
    };
    const handler: DynamoDBStreamHandler = async (event, context) =>
      processPartialResponse(event, recordHandler, processor, { context });
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 5, true)],
      policy: { maxRetries: 2 },
      processor: lambdaProcessor(handler, { reportBatchItemFailures: true }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect([...attempts.entries()]).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
      [5, 2],
    ]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2), seq(5), 'SHARD_END']);
  });

  it('after the retries, writes Lambda’s on-failure record naming the last invocation, and moves on', async () => {
    const ledger = new InvocationLedger();
    const written: LambdaOnFailureRecord[] = [];
    const destination = new LambdaFailureDestination({
      to: {
        name: 'memory',
        write: (record) => {
          written.push(record);
          return Promise.resolve();
        },
      },
      function: { functionName: 'f' },
      ledger,
      clock: systemClock,
    });
    const { requestIds, see } = recorder();
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      await Promise.resolve();
      if (numbers(event).includes(2)) throw new Error('poison');
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 3), batch('shard-1', 4, 4, true)],
      policy: { maxRetries: 1, destination },
      processor: lambdaProcessor(handler, { ledger }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      requestContext: { requestId: requestIds[1], condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      DDBStreamBatchInfo: {
        shardId: 'shard-1',
        startSequenceNumber: seq(1),
        endSequenceNumber: seq(3),
        batchSize: 3,
        streamArn: STREAM,
      },
    });
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(3), seq(4), 'SHARD_END']);
  });

  it('a record that keeps failing after a partial batch response: the on-failure record starts at it, the records before it stay done', async () => {
    const ledger = new InvocationLedger();
    const written: LambdaOnFailureRecord[] = [];
    const destination = new LambdaFailureDestination({
      to: { name: 'memory', write: (record) => Promise.resolve(void written.push(record)) },
      ledger,
    });
    const { invocations, see } = recorder();
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      await Promise.resolve();
      const poison = event.Records.find((r) => r.dynamodb!.NewImage!.n!.N === '3');
      return { batchItemFailures: poison ? [{ itemIdentifier: poison.dynamodb!.SequenceNumber! }] : [] };
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 5), batch('shard-1', 6, 6, true)],
      policy: { maxRetries: 2, destination },
      processor: lambdaProcessor(handler, { reportBatchItemFailures: true, ledger }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(invocations).toEqual([[1, 2, 3, 4, 5], [3, 4, 5], [3, 4, 5], [6]]);
    expect(written).toHaveLength(1);
    expect(written[0]!.DDBStreamBatchInfo).toMatchObject({
      startSequenceNumber: seq(3),
      endSequenceNumber: seq(5),
      batchSize: 3,
    });
    expect(written[0]!.requestContext).toMatchObject({
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
    });
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2), seq(5), seq(6), 'SHARD_END']);
  });

  it('with BisectBatchOnFunctionError, a partial response splits at the returned record: only the rest is retried and bisected', async () => {
    const { invocations, see } = recorder();
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      await Promise.resolve();
      if (numbers(event).includes(4)) {
        const first = event.Records[0]!;
        // Record 2 reported once; afterwards any batch holding 4 fails whole.
        if (numbers(event)[0] === 1)
          return { batchItemFailures: [{ itemIdentifier: event.Records[1]!.dynamodb!.SequenceNumber! }] };
        throw new Error(`poison in a batch from ${first.dynamodb!.SequenceNumber}`);
      }
      return undefined;
    };
    const written: LambdaOnFailureRecord[] = [];
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 5, true)],
      policy: {
        maxRetries: 0,
        bisectOnError: true,
        destination: new LambdaFailureDestination({
          to: { name: 'memory', write: (record) => Promise.resolve(void written.push(record)) },
        }),
      },
      processor: lambdaProcessor(handler, { reportBatchItemFailures: true }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(invocations).toEqual([[1, 2, 3, 4, 5], [2, 3, 4, 5], [2, 3], [4, 5], [4], [5]]);
    expect(written.map((w) => [w.DDBStreamBatchInfo.startSequenceNumber, w.DDBStreamBatchInfo.batchSize])).toEqual([
      [seq(4), 1],
    ]);
  });

  it('with per-key concurrency, each key group is invoked on its own and a partial failure retries only its key', async () => {
    const { invocations, see } = recorder();
    let failed = false;
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      await Promise.resolve();
      if (failed || !numbers(event).includes(3)) return;
      failed = true;
      return { batchItemFailures: [{ itemIdentifier: seq(3) }] };
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 4, true, (i) => `key-${i % 2}`)],
      keyConcurrency: 2,
      policy: { maxRetries: 1 },
      processor: lambdaProcessor(handler, { reportBatchItemFailures: true }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(invocations.map((n) => n.join(',')).sort()).toEqual(['1,3', '2,4', '3']);
    expect(h.store.writes.at(-2)?.checkpoint).toBe(seq(4));
    expect(h.store.last).toBe('SHARD_END');
  });

  it('splits a batch over the payload limit into several invocations; a failure in a later one keeps the earlier ones done', async () => {
    const { invocations, see } = recorder();
    // A limit that two of these records fit in, and three do not.
    const twoRecords = payloadBytes({ Records: [1, 2].map((i) => toLambdaRecord(rec(i), STREAM)) });
    let calls = 0;
    const handler: DynamoDBStreamHandler = async (event, context) => {
      see(event, context);
      await Promise.resolve();
      if (++calls === 2) throw new Error('second invocation fails once');
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 4, true)],
      policy: { maxRetries: 1 },
      processor: lambdaProcessor(handler, { payloadLimitBytes: twoRecords }),
    });
    await h.consumer.run();
    expect(invocations).toEqual([
      [1, 2],
      [3, 4],
      [3, 4],
    ]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2), seq(4), 'SHARD_END']);
  });

  it('tumbling windows: state carried within the window, a final invocation when it ends and when the shard ends', async () => {
    const at = (i: number, seconds: number): _Record => {
      const r = batch('shard-1', i, i).records[0]!;
      r.dynamodb!.ApproximateCreationDateTime = new Date(Date.parse('2024-01-01T00:00:00Z') + seconds * 1000);
      return r;
    };
    const batches: RecordBatch[] = [
      { shardId: 'shard-1', records: [at(1, 5), at(2, 30)], shardEnd: false, millisBehindLatest: 0 },
      { shardId: 'shard-1', records: [at(3, 50), at(4, 70)], shardEnd: true, millisBehindLatest: 0 },
    ];
    const seen: unknown[] = [];
    const handler = async (event: LambdaDynamoDBTimeWindowEvent) => {
      await Promise.resolve();
      const { Records, state, ...fields } = event;
      seen.push({ n: numbers(event), state, ...fields });
      return { state: { count: ((state.count as number | undefined) ?? 0) + Records.length } };
    };
    // The function's clock stands at 00:00:40: the windows end by records and by the shard's end.
    const clock = new ManualClock(Date.parse('2024-01-01T00:00:40Z'));
    const h = makeConsumer<unknown>({
      batches,
      processor: lambdaProcessor(handler, { tumblingWindowMs: 60_000, clock }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    const w0 = { start: '2024-01-01T00:00:00Z', end: '2024-01-01T00:01:00Z' };
    const w1 = { start: '2024-01-01T00:01:00Z', end: '2024-01-01T00:02:00Z' };
    const common = { shardId: 'shard-1', eventSourceARN: STREAM, isWindowTerminatedEarly: false };
    expect(seen).toEqual([
      { n: [1, 2], state: {}, window: w0, isFinalInvokeForWindow: false, ...common },
      { n: [3], state: { count: 2 }, window: w0, isFinalInvokeForWindow: false, ...common },
      { n: [], state: { count: 3 }, window: w0, isFinalInvokeForWindow: true, ...common },
      { n: [4], state: {}, window: w1, isFinalInvokeForWindow: false, ...common },
      { n: [], state: { count: 1 }, window: w1, isFinalInvokeForWindow: true, ...common },
    ]);
    expect(h.store.writes.map((w) => w.checkpoint)).toEqual([seq(2), seq(4), 'SHARD_END']);
  });

  it('tumbling windows: a response without state fails the invocation, which is retried with the same state', async () => {
    let calls = 0;
    const states: unknown[] = [];
    const handler = async (event: LambdaDynamoDBTimeWindowEvent) => {
      await Promise.resolve();
      states.push(event.state);
      return ++calls === 1 ? { batchItemFailures: [] } : { state: { ok: true } };
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 1, true)],
      policy: { maxRetries: 1 },
      processor: lambdaProcessor(handler, { tumblingWindowMs: 60_000 }),
    });
    const errors: string[] = [];
    h.events.on('processor:error', ({ error }) => errors.push(error.message));
    expect((await h.consumer.run()).reason).toBe('shard-end');
    expect(errors).toEqual(['with a tumbling window the response must contain a "state" object']);
    expect(states).toEqual([{}, {}, { ok: true }]);
  });
});

describe('lambdaProcessor over several streams', () => {
  it('keeps each stream’s window state apart when two streams have a shard of the same id', async () => {
    const OTHER = 'arn:aws:dynamodb:us-east-1:000000000000:table/u/stream/y';
    const states: Array<{ stream: string; state: unknown }> = [];
    const handler = async (event: LambdaDynamoDBTimeWindowEvent) => {
      await Promise.resolve();
      states.push({ stream: event.eventSourceARN, state: event.state });
      return { state: { count: ((event.state.count as number | undefined) ?? 0) + event.Records.length } };
    };
    const processor = lambdaProcessor(handler, {
      tumblingWindowMs: 60_000,
      clock: new ManualClock(Date.parse('2023-11-14T22:13:30Z')),
    });
    const ctxOf = (streamArn: string): ProcessorContext => ({
      shardId: 'shard-1',
      streamArn,
      tableName: 't',
      logger: silentLogger(),
      signal: new AbortController().signal,
      millisBehindLatest: 0,
      checkpointer: { checkpoint: () => Promise.resolve(), lastCheckpoint: '' },
    });
    const records = (from: number, to: number) => ({
      shardId: 'shard-1',
      records: batch('shard-1', from, to).records.map((r) => toStreamRecord<Record<string, unknown>>(r)),
      millisBehindLatest: 0,
    });
    const start = { shardId: 'shard-1', checkpoint: 'TRIM_HORIZON', logger: silentLogger() };
    await processor.initialize?.({ ...start, streamArn: STREAM });
    await processor.processRecords(records(1, 2), ctxOf(STREAM));
    // The other stream's shard-1 starts while the first one's window is open.
    await processor.initialize?.({ ...start, streamArn: OTHER });
    await processor.processRecords(records(3, 3), ctxOf(OTHER));
    await processor.processRecords(records(4, 4), ctxOf(STREAM));
    expect(states).toEqual([
      { stream: STREAM, state: {} },
      { stream: OTHER, state: {} },
      { stream: STREAM, state: { count: 2 } },
    ]);
  });
});
