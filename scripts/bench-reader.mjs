#!/usr/bin/env node
// ShardReader against a bare GetShardIterator + GetRecords(Limit 1000) loop, on the same
// DynamoDB Local stream, in one run. After one warm-up pair (the JVM's JIT and the SDK warm up;
// not counted), runs alternate, the order swapping each round (bare then reader, reader then
// bare, …) so that drift and machine noise fall on both; best and median rates are printed
// with their ratio (goal: ShardReader >= 0.95 of the bare loop). Numbers, not assertions.
//
//   npm run bench:reader                      (builds first; imports the built packages)
//   BENCH_RECORDS=50000 BENCH_ROUNDS=5 node scripts/bench-reader.mjs
import './sdk-notice.mjs';
import { performance } from 'node:perf_hooks';
import { BatchWriteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { listShards, ShardReader } from '@shardline/streams';
import { createStreamTable, startDynamoDBLocal } from '@shardline/testkit';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WRITERS = 4;
const BATCH = 25;

const local = await startDynamoDBLocal();
const config = {
  endpoint: local.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
};
const dynamodb = new DynamoDBClient(config);
const streams = new DynamoDBStreamsClient(config);

try {
  console.log(
    `DynamoDB Local ${local.endpoint} (up in ${local.startupMs} ms); ${RECORDS} records, ${ROUNDS} rounds each after a warm-up`,
  );
  const tableName = `bench-reader-${Date.now()}`;
  const { streamArn } = await createStreamTable(dynamodb, tableName);

  const loadStart = performance.now();
  await load(tableName);
  const loadSeconds = (performance.now() - loadStart) / 1000;
  console.log(
    `loaded ${RECORDS} items with BatchWriteItem (${BATCH} a call, ${WRITERS} writers): ${rate(RECORDS, loadSeconds)} items/s`,
  );

  const [shard] = await listShards(streams, streamArn);
  const runs = { bare: [], reader: [] };
  // This process's CPU time per run: the client-side cost, which machine noise hardly moves.
  const cpus = { bare: [], reader: [] };
  const contenders = [
    ['bare', bareLoop],
    ['reader', shardReader],
  ];
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, read] of round % 2 === 0 ? contenders : [...contenders].reverse()) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      const { count, bytes } = await read(streamArn, shard.shardId);
      const seconds = (performance.now() - start) / 1000;
      const cpu = process.cpuUsage(cpuStart);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      if (count !== RECORDS) console.log(`  warning: ${name} read ${count} records, expected ${RECORDS}`);
      if (round > 0) {
        runs[name].push(count / seconds);
        cpus[name].push(cpuMs);
      }
      const label = round === 0 ? 'warm-up' : `round ${round}`;
      console.log(
        `  ${label.padEnd(8)} ${name.padEnd(6)} ${rate(count, seconds).padStart(8)} records/s  (${count} records, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s, client CPU ${cpuMs.toFixed(0)} ms)`,
      );
    }
  }
  const best = (xs) => Math.max(...xs);
  const median = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  console.log('');
  console.log(
    `bare GetRecords loop  best ${best(runs.bare).toFixed(0)} records/s, median ${median(runs.bare).toFixed(0)}`,
  );
  console.log(
    `ShardReader           best ${best(runs.reader).toFixed(0)} records/s, median ${median(runs.reader).toFixed(0)}`,
  );
  console.log(
    `client CPU per run    bare median ${median(cpus.bare).toFixed(0)} ms, reader median ${median(cpus.reader).toFixed(0)} ms`,
  );
  console.log(
    `ratio reader/bare     best ${(best(runs.reader) / best(runs.bare)).toFixed(3)}, median ${(median(runs.reader) / median(runs.bare)).toFixed(3)}  (goal >= 0.95)`,
  );
} finally {
  dynamodb.destroy();
  streams.destroy();
  await local.stop();
}

async function load(tableName) {
  const payload = 'x'.repeat(100);
  let next = 0;
  const writer = async () => {
    for (;;) {
      const from = next;
      if (from >= RECORDS) return;
      next = Math.min(RECORDS, from + BATCH);
      let requests = [];
      for (let i = from; i < next; i++) {
        requests.push({
          PutRequest: {
            Item: { pk: { S: `k${String(i).padStart(7, '0')}` }, n: { N: String(i) }, payload: { S: payload } },
          },
        });
      }
      while (requests.length > 0) {
        const out = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }));
        requests = out.UnprocessedItems?.[tableName] ?? [];
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
}

/** What a hand-written consumer does: one iterator, GetRecords(Limit 1000) until caught up. */
async function bareLoop(streamArn, shardId) {
  const first = await streams.send(
    new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  let iterator = first.ShardIterator;
  let count = 0;
  let bytes = 0;
  while (iterator && count < RECORDS) {
    const out = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    for (const record of out.Records ?? []) bytes += record.dynamodb?.SizeBytes ?? 0;
    count += out.Records?.length ?? 0;
    iterator = out.NextShardIterator;
    if ((out.Records?.length ?? 0) === 0) break;
  }
  return { count, bytes };
}

async function shardReader(streamArn, shardId) {
  const reader = new ShardReader({ client: streams, streamArn, shardId, start: { type: 'TRIM_HORIZON' } });
  let count = 0;
  let bytes = 0;
  for await (const batch of reader) {
    for (const record of batch.records) bytes += record.dynamodb?.SizeBytes ?? 0;
    count += batch.records.length;
    if (count >= RECORDS || batch.records.length === 0 || batch.shardEnd) break;
  }
  await reader.close();
  return { count, bytes };
}

function rate(count, seconds) {
  return (count / seconds).toFixed(0);
}
