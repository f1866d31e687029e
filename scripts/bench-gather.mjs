#!/usr/bin/env node
// What gathering records across GetRecords answers costs the worker's CPU (issue #11: BatchSize
// above 1,000, MaximumBatchingWindowInSeconds): 1,000-record answers from memory through the
// batch gatherer (window 0, BatchSize 10,000), with the default JSON measure and with a Lambda
// handler's measure (each record as the Lambda event carries it), against reading the same
// answers straight. Needs a build (`npm run build`). Usage: node scripts/bench-gather.mjs [records]
import './sdk-notice.mjs';
import { silentLogger, systemClock } from '@shardline/core';
import { lambdaPayloadBatching } from '@shardline/worker';
import { gatheringReaderFactory, resolveBatchingOptions } from '../packages/worker/dist/batch-gatherer.js';

const TOTAL = Number(process.argv[2] ?? 200_000);
const ANSWER = 1000;
const STREAM = 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-01T00:00:00.000';

function record(i) {
  return {
    eventID: `e${i}`,
    eventName: 'MODIFY',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    dynamodb: {
      ApproximateCreationDateTime: new Date(1_700_000_000_000 + i),
      Keys: { pk: { S: `order#${i % 5000}` } },
      NewImage: { pk: { S: `order#${i % 5000}` }, total: { N: String(i * 3) }, status: { S: 'paid' } },
      OldImage: { pk: { S: `order#${i % 5000}` }, total: { N: String(i * 2) }, status: { S: 'new' } },
      SequenceNumber: String(100_000_000_000_000_000_000n + BigInt(i)),
      SizeBytes: 120,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

const answers = [];
for (let from = 0; from < TOTAL; from += ANSWER) {
  const records = Array.from({ length: ANSWER }, (_, j) => record(from + j));
  answers.push({ shardId: 's', records, shardEnd: from + ANSWER >= TOTAL, millisBehindLatest: 0 });
}
const source = () => ({
  async *[Symbol.asyncIterator]() {
    yield* answers;
  },
});

async function drain(factory) {
  const started = performance.now();
  let calls = 0;
  let records = 0;
  for await (const batch of factory({
    shardId: 's',
    start: { type: 'TRIM_HORIZON' },
    signal: new AbortController().signal,
  })) {
    calls++;
    records += batch.records.length;
  }
  return { ms: performance.now() - started, calls, records };
}

const gathered = (batching) =>
  gatheringReaderFactory(source, {
    batching: resolveBatchingOptions(batching),
    readLimit: ANSWER,
    streamArn: STREAM,
    clock: systemClock,
    logger: silentLogger(),
  });

const runs = {
  'straight (no gathering)': () => drain(source),
  'gathered, JSON measure': () => drain(gathered({ maxRecords: 10_000 })),
  'gathered, Lambda measure': () => drain(gathered({ maxRecords: 10_000, ...lambdaPayloadBatching() })),
};
for (const run of Object.values(runs)) await run(); // warm-up
for (const [name, run] of Object.entries(runs)) {
  const best = [];
  for (let i = 0; i < 3; i++) best.push(await run());
  best.sort((a, b) => a.ms - b.ms);
  const { ms, calls, records } = best[0];
  console.log(
    `${name.padEnd(26)} ${records} records in ${calls} calls: ${ms.toFixed(0)} ms (${((ms / records) * 1000).toFixed(2)} ms per 1,000 records)`,
  );
}
