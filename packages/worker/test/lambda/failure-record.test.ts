import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { ManualClock } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import type { FailedRecord } from '../../src/destinations.js';
import {
  buildOnFailureRecord,
  InvocationLedger,
  LambdaFailureDestination,
  type LambdaOnFailureRecord,
} from '../../src/lambda/failure-record.js';

const STREAM = 'arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388';
const FUNCTION = 'arn:aws:lambda:us-east-2:123456789012:function:myfunction';

const record = (sequenceNumber: string, created: string): _Record => ({
  eventID: sequenceNumber,
  eventName: 'INSERT',
  dynamodb: {
    Keys: { id: { S: sequenceNumber } },
    SequenceNumber: sequenceNumber,
    ApproximateCreationDateTime: new Date(created),
  },
});

describe('the on-failure record', () => {
  it('reproduces the invocation record of Lambda’s documentation field for field', () => {
    // https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html, "Example Invocation Record".
    const documented: LambdaOnFailureRecord = {
      requestContext: {
        requestId: '316aa6d0-8154-xmpl-9af7-85d5f4a6bc81',
        functionArn: FUNCTION,
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 1,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: '2019-11-14T00:13:49.717Z',
      DDBStreamBatchInfo: {
        shardId: 'shardId-00000001573689847184-864758bb',
        startSequenceNumber: '800000000003126276362',
        endSequenceNumber: '800000000003126276362',
        approximateArrivalOfFirstRecord: '2019-11-14T00:13:19Z',
        approximateArrivalOfLastRecord: '2019-11-14T00:13:19Z',
        batchSize: 1,
        streamArn: STREAM,
      },
    };
    const built = buildOnFailureRecord({
      shardId: 'shardId-00000001573689847184-864758bb',
      streamArn: STREAM,
      records: [record('800000000003126276362', '2019-11-14T00:13:19Z')],
      condition: 'RetryAttemptsExhausted',
      invokeCount: 1,
      requestId: '316aa6d0-8154-xmpl-9af7-85d5f4a6bc81',
      functionArn: FUNCTION,
      executedVersion: '$LATEST',
      functionError: 'Unhandled',
      now: Date.parse('2019-11-14T00:13:49.717Z'),
    });
    expect(built).toEqual(documented);
    expect(JSON.stringify(built)).toBe(JSON.stringify(documented));
  });

  it('spans the batch: first and last sequence numbers and arrivals, and its size', () => {
    const built = buildOnFailureRecord({
      shardId: 's',
      streamArn: STREAM,
      records: [
        record('100', '2024-01-01T00:00:01.900Z'),
        record('200', '2024-01-01T00:00:02Z'),
        record('300', '2024-01-01T00:00:09Z'),
      ],
      condition: 'MaximumRecordAgeExceeded',
      invokeCount: 0,
      functionArn: FUNCTION,
      executedVersion: '7',
      now: 0,
    });
    expect(built.DDBStreamBatchInfo).toMatchObject({
      startSequenceNumber: '100',
      endSequenceNumber: '300',
      approximateArrivalOfFirstRecord: '2024-01-01T00:00:01Z',
      approximateArrivalOfLastRecord: '2024-01-01T00:00:09Z',
      batchSize: 3,
    });
    // Never invoked: no function error, and a request id of its own.
    expect(built.responseContext).toEqual({ statusCode: 200, executedVersion: '7', functionError: '' });
    expect(built.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(() =>
      buildOnFailureRecord({
        ...{
          shardId: 's',
          streamArn: STREAM,
          condition: 'RetryAttemptsExhausted',
          invokeCount: 1,
          functionArn: FUNCTION,
          executedVersion: '1',
          now: 0,
        },
        records: [],
      }),
    ).toThrow(TypeError);
  });
});

describe('LambdaFailureDestination', () => {
  const failed = (r: _Record, reason: FailedRecord['reason'], attempts: number): FailedRecord => ({
    shardId: 'shard-7',
    streamArn: STREAM,
    sequenceNumber: r.dynamodb!.SequenceNumber!,
    eventName: 'INSERT',
    keys: {},
    reason,
    error: { name: 'Error', message: 'boom' },
    attempts,
    failedAt: '2024-01-01T00:00:00.000Z',
    workerId: 'w1',
    record: r,
  });

  it('turns what the failure policy gives up on into one Lambda record naming the last invocation', async () => {
    const written: LambdaOnFailureRecord[] = [];
    const ledger = new InvocationLedger();
    ledger.record({ streamArn: STREAM, shardId: 'shard-7' }, 'req-41', 'Unhandled');
    const clock = new ManualClock(Date.parse('2024-01-01T00:05:00.000Z'));
    const destination = new LambdaFailureDestination({
      to: {
        name: 'memory',
        write: (r) => {
          written.push(r);
          return Promise.resolve();
        },
      },
      function: { functionName: 'myfunction' },
      ledger,
      clock,
    });
    const records = [record('100', '2024-01-01T00:00:00Z'), record('200', '2024-01-01T00:00:01Z')];
    await destination.send(records.map((r) => failed(r, 'retries-exhausted', 4)));
    await destination.send([]);
    expect(written).toEqual([
      {
        requestContext: {
          requestId: 'req-41',
          functionArn: FUNCTION,
          condition: 'RetryAttemptsExhausted',
          approximateInvokeCount: 4,
        },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        version: '1.0',
        timestamp: '2024-01-01T00:05:00.000Z',
        DDBStreamBatchInfo: {
          shardId: 'shard-7',
          startSequenceNumber: '100',
          endSequenceNumber: '200',
          approximateArrivalOfFirstRecord: '2024-01-01T00:00:00Z',
          approximateArrivalOfLastRecord: '2024-01-01T00:00:01Z',
          batchSize: 2,
          streamArn: STREAM,
        },
      },
    ]);
  });

  it('records that aged out were never invoked: a fresh request id, no function error', async () => {
    const written: LambdaOnFailureRecord[] = [];
    const ledger = new InvocationLedger();
    ledger.record({ streamArn: STREAM, shardId: 'shard-7' }, 'req-9', 'Unhandled');
    const destination = new LambdaFailureDestination({
      to: {
        name: 'memory',
        write: (r) => {
          written.push(r);
          return Promise.resolve();
        },
      },
      function: { functionName: 'myfunction' },
      ledger,
      clock: new ManualClock(),
    });
    await destination.send([failed(record('100', '2024-01-01T00:00:00Z'), 'max-record-age', 0)]);
    expect(written[0]!.requestContext).toMatchObject({
      condition: 'MaximumRecordAgeExceeded',
      approximateInvokeCount: 0,
    });
    expect(written[0]!.requestContext.requestId).not.toBe('req-9');
    expect(written[0]!.responseContext.functionError).toBe('');
  });

  it('fails when the write fails, so the shard stops instead of skipping the batch', async () => {
    const destination = new LambdaFailureDestination({
      to: { name: 'broken', write: () => Promise.reject(new Error('disk full')) },
      clock: new ManualClock(),
    });
    await expect(
      destination.send([failed(record('1', '2024-01-01T00:00:00Z'), 'retries-exhausted', 1)]),
    ).rejects.toThrow('disk full');
  });

  it('appends one JSON line per discarded batch to a JSONL file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lambda-on-failure-'));
    try {
      const path = join(dir, 'nested', 'on-failure.jsonl');
      const destination = new LambdaFailureDestination({
        to: { type: 'jsonl', path },
        function: { functionName: 'myfunction', functionVersion: '7' },
        clock: new ManualClock(Date.parse('2024-01-01T00:05:00.000Z')),
      });
      expect(destination.name).toBe(`lambda-on-failure:jsonl:${path}`);
      await destination.send([failed(record('100', '2024-01-01T00:00:00Z'), 'retries-exhausted', 2)]);
      await destination.send([failed(record('300', '2024-01-01T00:00:02Z'), 'max-record-age', 0)]);
      const lines = readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as LambdaOnFailureRecord);
      expect(lines.map((l) => [l.requestContext.condition, l.DDBStreamBatchInfo.startSequenceNumber])).toEqual([
        ['RetryAttemptsExhausted', '100'],
        ['MaximumRecordAgeExceeded', '300'],
      ]);
      expect(lines[0]!.requestContext.functionArn).toBe(FUNCTION);
      expect(lines[0]!.responseContext.executedVersion).toBe('7');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
