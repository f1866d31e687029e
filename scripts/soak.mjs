#!/usr/bin/env node
// Soak: two Workers in this process read the stream simulator (steady traffic, lease table on
// DynamoDB Local) for --minutes N; every 20 s one worker is replaced (graceful stop: its leases
// handed off, a new worker started with a new id, which takes its share back). Once a
// minute it prints RSS, heap, active handles and event-loop delay; at the end, the first and last
// samples and an audit of the records. They must not grow. `npm run soak -- --minutes 30`.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { audit, startDynamoDBLocal, startStreamSimulator } from '@shardline/testkit';
import { Worker } from '@shardline/worker';

const at = process.argv.indexOf('--minutes');
const MINUTES = Number(at > 0 ? process.argv[at + 1] : (process.env.MINUTES ?? 30));
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 60_000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const local = await startDynamoDBLocal({});
const sim = await startStreamSimulator({ shards: 4, seed: 30 });
const credentials = { accessKeyId: `soak${Date.now()}`, secretAccessKey: 'soak' };
const region = 'us-east-1';
const dynamodb = new DynamoDBClient({ endpoint: local.endpoint, region, credentials, maxAttempts: 1 });
const streams = new DynamoDBStreamsClient({ endpoint: sim.endpoint, region, credentials, maxAttempts: 1 });
const delivered = [];
const applicationName = `soak-${Date.now()}`;
let seq = 0;
const newWorker = () => {
  const worker = new Worker({
    streamArn: sim.streamArn,
    applicationName,
    workerId: `soak-${++seq}`,
    dynamodb,
    streams,
    leases: { leaseDurationMs: 3_000 },
    processor: {
      processRecords: ({ shardId, records }) => {
        for (const r of records) delivered.push({ shardId, sequenceNumber: r.sequenceNumber });
      },
    },
  });
  return worker;
};

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const samples = [];
const sample = (minute) => {
  const { rss, heapUsed } = process.memoryUsage();
  const s = {
    minute,
    rssMiB: Math.round(rss / 2 ** 20),
    heapMiB: Math.round(heapUsed / 2 ** 20),
    handles: process.getActiveResourcesInfo().length,
    loopP99Ms: Math.round(loop.percentile(99) / 1e6),
    loopMaxMs: Math.round(loop.max / 1e6),
    records: delivered.length,
  };
  loop.reset();
  samples.push(s);
  console.log(JSON.stringify(s));
};

const workers = [newWorker(), newWorker()];
await Promise.all(workers.map((w) => w.start()));
let puts = 0;
const traffic = setInterval(() => {
  for (let k = 0; k < 5; k++) sim.put(`key-${puts++ % 200}`, { n: puts });
}, 50);
const started = Date.now();
const REPLACE_MS = Number(process.env.REPLACE_MS ?? 20_000);
let replacements = 0;
sample(0);
const sampler = setInterval(() => sample(Math.round((Date.now() - started) / 60_000)), SAMPLE_MS);
while (Date.now() - started < MINUTES * 60_000) {
  await sleep(Math.min(REPLACE_MS, Math.max(0, MINUTES * 60_000 - (Date.now() - started))));
  if (Date.now() - started >= MINUTES * 60_000) break;
  const i = replacements++ % 2;
  await workers[i].stop();
  workers[i] = newWorker();
  await workers[i].start();
}
clearInterval(sampler);
clearInterval(traffic);
await sleep(5_000);
sample(Math.round((Date.now() - started) / 60_000));
await Promise.all(workers.map((w) => w.stop()));
const report = audit(sim.manifest(), delivered);
const first = samples[1] ?? samples[0];
const last = samples.at(-1);
console.log(
  JSON.stringify({
    minutes: MINUTES,
    replacements,
    records: sim.manifest().length,
    lost: report.lost.length,
    orderViolations: report.orderViolations.length,
    rssMiB: [first.rssMiB, last.rssMiB],
    handles: [first.handles, last.handles],
    loopP99Ms: [first.loopP99Ms, last.loopP99Ms],
  }),
);
dynamodb.destroy();
streams.destroy();
await sim.stop();
await local.stop();
