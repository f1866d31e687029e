import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { readLeaseTable } from '@shardline/leases';
import { connectTestDynamoDB } from '@shardline/testkit';
import type { LambdaOnFailureRecord } from '@shardline/worker';
import { processTestFile, spawnCli, waitFor, waitForAsync, type CliProcess } from './cli-process.js';
import type { Invocation } from './fixtures/lambda/invocations.js';

/**
 * Lambda handlers written against @types/aws-lambda, run unchanged by `shardline run --handler`
 * on DynamoDB Local: the records of every invocation, the retries, the checkpoint after a
 * partial failure, and Lambda's on-failure record in the JSONL destination, asserted exactly.
 */
const db = connectTestDynamoDB();
const FIXTURES = fileURLToPath(new URL('./fixtures/lambda/', import.meta.url));
const { dir } = processTestFile('shardline-lambda-e2e-');
afterAll(() => db.close());

/** Puts one item per key, in order (one shard on DynamoDB Local, so the stream keeps this order). */
async function put(tableName: string, keys: string[]): Promise<void> {
  for (const [i, key] of keys.entries()) {
    await db.dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: key }, n: { N: String(i + 1) } } }),
    );
  }
}

function readLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

function startHandler(
  name: string,
  handler: string,
  output: string,
  args: string[],
  env: Record<string, string> = {},
): CliProcess {
  return spawnCli(
    name,
    [
      'run',
      '--handler',
      handler,
      '--endpoint',
      db.endpoint,
      '--worker-id',
      name,
      '--lease-duration-ms',
      '3000',
      '--idle-interval-ms',
      '50',
      '--checkpoint-interval-ms',
      '0',
      '--shutdown-timeout-ms',
      '8000',
      ...args,
    ],
    { ...db.env, E2E_OUTPUT: output, E2E_WORKER: name, ...env },
  );
}

async function checkpointOf(tableName: string): Promise<string | undefined> {
  const { leases } = await readLeaseTable(db.dynamodb, `shardline-${tableName}`);
  return leases[0]?.checkpoint;
}

async function stop(worker: CliProcess): Promise<void> {
  worker.child.kill('SIGTERM');
  expect(await worker.exited).toBe(0);
}

describe('shardline run --handler on DynamoDB Local', () => {
  it('an async ESM handler under its event source mapping: filters, a partial failure retried from the failed record, then Lambda’s on-failure record', async () => {
    const { tableName, streamArn } = await db.createStreamTable();
    const output = join(dir, `${tableName}.jsonl`);
    const failed = join(dir, `${tableName}.on-failure.jsonl`);
    const mappingFile = join(dir, `${tableName}.mapping.json`);
    // What `aws lambda get-event-source-mapping` prints for this mapping.
    writeFileSync(
      mappingFile,
      JSON.stringify({
        UUID: '14e0db71-5d35-4eb5-b481-8945cf9d10c2',
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 10,
        MaximumBatchingWindowInSeconds: 0,
        ParallelizationFactor: 1,
        EventSourceArn: streamArn,
        FilterCriteria: {
          Filters: [
            {
              Pattern: JSON.stringify({ dynamodb: { Keys: { pk: { S: [{ 'anything-but': { prefix: 'skip' } }] } } } }),
            },
          ],
        },
        FunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:orders-consumer',
        LastModified: 1_700_000_000,
        LastProcessingResult: 'OK',
        State: 'Enabled',
        StateTransitionReason: 'User action',
        DestinationConfig: { OnFailure: {} },
        MaximumRecordAgeInSeconds: -1,
        BisectBatchOnFunctionError: false,
        MaximumRetryAttempts: 2,
        TumblingWindowInSeconds: 0,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      }),
    );
    const keys = ['k1', 'k2', 'k3', 'poison', 'k5', 'k6', 'skip-7', 'k8', 'k9', 'k10', 'k11', 'k12'];
    await put(tableName, keys);
    const worker = startHandler(
      'w',
      `${join(FIXTURES, 'async-handler.ts')}#handler`,
      output,
      ['--event-source-mapping', mappingFile, '--app', tableName, '--failure-jsonl', failed],
      { E2E_FAIL_KEY: 'poison' },
    );
    const seen = () => readLines<Invocation>(output);
    await waitFor(
      () => seen().some((i) => i.keys.includes('k12')) && readLines(failed).length === 1,
      45_000,
      () => `all invoked, one on-failure record\n${JSON.stringify(seen())}\n${worker.output()}`,
    );
    const invocations = seen();
    const afterPoison = ['poison', 'k5', 'k6', 'k8', 'k9', 'k10'];
    // BatchSize 10: the first read holds k1…k10, skip-7 is filtered out; then 1 + 2 retries from poison.
    expect(invocations.map((i) => i.keys)).toEqual([
      ['k1', 'k2', 'k3', ...afterPoison],
      afterPoison,
      afterPoison,
      ['k11', 'k12'],
    ]);
    expect(new Set(invocations.map((i) => i.requestId)).size).toBe(4);
    expect(invocations.every((i) => i.functionName === 'orders-consumer' && i.eventSource === 'aws:dynamodb')).toBe(
      true,
    );
    const sequenceOf = new Map(invocations[0]!.keys.map((k, i) => [k, invocations[0]!.sequenceNumbers[i]!]));
    const records = readLines<LambdaOnFailureRecord>(failed);
    const isoSeconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
    const string = (pattern: RegExp): string => expect.stringMatching(pattern) as string;
    expect(records).toEqual([
      {
        requestContext: {
          requestId: invocations[2]!.requestId,
          functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:orders-consumer',
          condition: 'RetryAttemptsExhausted',
          approximateInvokeCount: 3,
        },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: '' },
        version: '1.0',
        timestamp: string(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        DDBStreamBatchInfo: {
          shardId: string(/^shardId-/),
          startSequenceNumber: sequenceOf.get('poison'),
          endSequenceNumber: sequenceOf.get('k10'),
          approximateArrivalOfFirstRecord: string(isoSeconds),
          approximateArrivalOfLastRecord: string(isoSeconds),
          // poison … k10, the filtered skip-7 included: the records given up on, as they are in the stream.
          batchSize: 7,
          streamArn,
        },
      },
    ]);
    const last = invocations[3]!.sequenceNumbers.at(-1);
    await waitForAsync(
      async () => (await checkpointOf(tableName)) === last,
      10_000,
      () => 'checkpoint at k12',
    );
    await stop(worker);
  });

  it('a CommonJS callback handler retried without limit: the checkpoint stays before the failing batch; after kill -9 a promise handler resumes from it', async () => {
    const { tableName } = await db.createStreamTable();
    const output = join(dir, `${tableName}.jsonl`);
    await put(tableName, ['a1', 'a2', 'a3']);
    const common = ['--table', tableName, '--initial-position', 'trim_horizon', '--batch-size', '3'];
    const first = startHandler(
      'cjs',
      join(FIXTURES, 'callback-handler.cjs'),
      output,
      [...common, '--max-retries', '-1'],
      {
        E2E_FAIL_KEY: 'bad',
      },
    );
    const seen = () => readLines<Invocation>(output);
    await waitFor(
      () => seen().length === 1,
      30_000,
      () => `first batch invoked\n${first.output()}`,
    );
    const firstBatch = seen()[0]!;
    expect(firstBatch.keys).toEqual(['a1', 'a2', 'a3']);
    await waitForAsync(
      async () => (await checkpointOf(tableName)) === firstBatch.sequenceNumbers[2],
      10_000,
      () => 'checkpoint after the first batch',
    );
    await put(tableName, ['bad', 'b2']);
    // callback(error) fails the whole batch: it is retried, whole, again and again.
    await waitFor(
      () => seen().filter((i) => i.keys[0] === 'bad').length >= 3,
      30_000,
      () => `retries of the failing batch\n${JSON.stringify(seen())}\n${first.output()}`,
    );
    // The failing batch is what one read returned (bad alone, or bad and b2): the same each time.
    const failing = seen().slice(1);
    expect(failing[0]!.keys[0]).toBe('bad');
    expect(failing.map((i) => i.keys)).toEqual(failing.map(() => failing[0]!.keys));
    expect(new Set(failing.map((i) => i.requestId)).size).toBe(failing.length);
    expect(await checkpointOf(tableName)).toBe(firstBatch.sequenceNumbers[2]);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const retried = seen().length;

    // The handler is fixed and deployed again: a promise-returning ES module, another export name.
    const second = startHandler('esm', `${join(FIXTURES, 'promise-handler.mjs')}#consume`, output, common);
    await waitFor(
      () => seen().length > retried,
      30_000,
      () => `the new worker resumes\n${second.output()}`,
    );
    const resumed = seen().slice(retried);
    expect(resumed.map((i) => [i.handler, i.keys])).toEqual([['promise-esm', ['bad', 'b2']]]);
    expect(resumed[0]!.remainingMs).toBeGreaterThan(0);
    await waitForAsync(
      async () => (await checkpointOf(tableName)) === resumed[0]!.sequenceNumbers[1],
      10_000,
      () => 'checkpoint after the resumed batch',
    );
    await stop(second);
  });

  it('a partial failure retried without limit checkpoints just before the reported record, and a graceful stop keeps it there', async () => {
    const { tableName } = await db.createStreamTable();
    const output = join(dir, `${tableName}.jsonl`);
    await put(tableName, ['c1', 'c2', 'bad', 'c4']);
    const worker = startHandler(
      'partial',
      join(FIXTURES, 'async-handler.ts'),
      output,
      [
        '--table',
        tableName,
        '--initial-position',
        'trim_horizon',
        '--report-batch-item-failures',
        '--max-retries',
        '-1',
      ],
      { E2E_FAIL_KEY: 'bad' },
    );
    const seen = () => readLines<Invocation>(output);
    await waitFor(
      () => seen().length >= 4,
      30_000,
      () => `retries from the reported record\n${JSON.stringify(seen())}\n${worker.output()}`,
    );
    const [first, ...retries] = seen();
    expect(first!.keys).toEqual(['c1', 'c2', 'bad', 'c4']);
    expect(retries.every((i) => JSON.stringify(i.keys) === JSON.stringify(['bad', 'c4']))).toBe(true);
    const beforeBad = first!.sequenceNumbers[1];
    await waitForAsync(
      async () => (await checkpointOf(tableName)) === beforeBad,
      10_000,
      () => 'checkpoint before the reported record',
    );
    await stop(worker);
    expect(await checkpointOf(tableName)).toBe(beforeBad);
  });

  it('a handler built on Powertools’ BatchProcessor: the failed record and those after it are retried until it passes', async () => {
    const { tableName } = await db.createStreamTable();
    const output = join(dir, `${tableName}.jsonl`);
    const failed = join(dir, `${tableName}.on-failure.jsonl`);
    await put(tableName, ['p1', 'p2', 'poison', 'p4', 'p5']);
    const worker = startHandler(
      'pt',
      join(FIXTURES, 'powertools-handler.ts'),
      output,
      [
        '--table',
        tableName,
        '--initial-position',
        'trim_horizon',
        '--report-batch-item-failures',
        '--max-retries',
        '3',
        '--failure-jsonl',
        failed,
        '--function-name',
        'powertools-fn',
      ],
      { E2E_FAIL_KEY: 'poison', E2E_FAIL_TIMES: '2' },
    );
    const seen = () => readLines<Invocation>(output);
    await waitFor(
      () => seen().length === 3,
      30_000,
      () => `three invocations\n${JSON.stringify(seen())}\n${worker.output()}`,
    );
    expect(seen().map((i) => i.keys)).toEqual([
      ['p1', 'p2', 'poison', 'p4', 'p5'],
      ['poison', 'p4', 'p5'],
      ['poison', 'p4', 'p5'],
    ]);
    expect(seen().every((i) => i.functionName === 'powertools-fn')).toBe(true);
    const last = seen()[2]!.sequenceNumbers[2];
    await waitForAsync(
      async () => (await checkpointOf(tableName)) === last,
      10_000,
      () => 'checkpoint after the third invocation',
    );
    expect(readLines(failed)).toEqual([]);
    await stop(worker);
    expect(seen()).toHaveLength(3);
  });

  it('--failure-table: Lambda’s on-failure record lands in a DynamoDB table, keyed by shard and first sequence number', async () => {
    const { tableName } = await db.createStreamTable();
    const failures = db.uniqueName('on-failure');
    await db.dynamodb.send(
      new CreateTableCommand({
        TableName: failures,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const output = join(dir, `${tableName}.jsonl`);
    await put(tableName, ['t1', 'poison', 't3']);
    const worker = startHandler(
      'table',
      join(FIXTURES, 'async-handler.ts'),
      output,
      [
        '--table',
        tableName,
        '--initial-position',
        'trim_horizon',
        '--report-batch-item-failures',
        '--max-retries',
        '1',
        '--failure-table',
        failures,
      ],
      { E2E_FAIL_KEY: 'poison' },
    );
    const seen = () => readLines<Invocation>(output);
    await waitFor(
      () => seen().length >= 2,
      30_000,
      () => `two invocations\n${worker.output()}`,
    );
    const [first, retry] = seen();
    expect([first!.keys, retry!.keys]).toEqual([
      ['t1', 'poison', 't3'],
      ['poison', 't3'],
    ]);
    const scan = async () =>
      (await db.dynamodb.send(new ScanCommand({ TableName: failures, ConsistentRead: true }))).Items ?? [];
    await waitForAsync(
      async () => (await scan()).length === 1,
      15_000,
      () => `one item\n${worker.output()}`,
    );
    const [item] = await scan();
    const record = JSON.parse(item!.record!.S!) as LambdaOnFailureRecord;
    expect(item!.id!.S).toBe(`${record.DDBStreamBatchInfo.shardId}:${first!.sequenceNumbers[1]}`);
    expect(record.requestContext).toMatchObject({
      requestId: retry!.requestId,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 2,
    });
    expect(record.DDBStreamBatchInfo).toMatchObject({
      startSequenceNumber: first!.sequenceNumbers[1],
      endSequenceNumber: first!.sequenceNumbers[2],
      batchSize: 2,
    });
    await stop(worker);
  });

  it('refuses, in one line, what it cannot honour: an SQS on-failure destination, a missing export, --processor with --handler', async () => {
    const mappingFile = join(dir, 'sqs.mapping.json');
    writeFileSync(
      mappingFile,
      JSON.stringify({
        EventSourceArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024-01-01T00:00:00.000',
        DestinationConfig: { OnFailure: { Destination: 'arn:aws:sqs:us-east-1:123456789012:dlq' } },
      }),
    );
    const sqs = spawnCli(
      'sqs',
      ['run', '--handler', join(FIXTURES, 'async-handler.ts'), '--event-source-mapping', mappingFile],
      db.env,
    );
    expect(await sqs.exited).toBe(2);
    expect(sqs.output().trim().split('\n')).toEqual([
      expect.stringMatching(
        /^shardline: event source mapping: DestinationConfig\.OnFailure\.Destination .* is an SQS queue/,
      ),
    ]);
    const noExport = spawnCli(
      'noexport',
      ['run', '--table', 't', '--handler', `${join(FIXTURES, 'promise-handler.mjs')}#handler`],
      db.env,
    );
    expect(await noExport.exited).toBe(2);
    expect(noExport.output().trim()).toMatch(
      /^shardline: .* has no function export "handler"; function exports: consume/,
    );
    const both = spawnCli('both', ['run', '--table', 't', '--handler', 'h.mjs', '--processor', 'p.mjs'], db.env);
    expect(await both.exited).toBe(2);
    expect(both.output().trim()).toBe('shardline: give one of --processor and --handler, not both');
  });
});
