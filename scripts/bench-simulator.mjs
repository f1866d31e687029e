#!/usr/bin/env node
// Stream simulator throughput: GetRecords (Limit 1000) through the real SDK client.
// Prints records/s against the 10,000/s the leases benchmark needs. Uses the built packages.
import './sdk-notice.mjs';
import { DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { startStreamSimulator } from '@shardline/testkit';

const SHARDS = 4;
const RECORDS = 40_000;
const sim = await startStreamSimulator({ shards: SHARDS });
try {
  for (let i = 0; i < RECORDS; i++) sim.put(`key-${i % 1000}`, { i, payload: 'x'.repeat(100) });
  const client = new DynamoDBStreamsClient({
    endpoint: sim.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const rates = [];
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    let total = 0;
    for (const shardId of sim.openShardIds()) {
      let { ShardIterator: iterator } = await client.send(
        new GetShardIteratorCommand({ StreamArn: sim.streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      while (iterator) {
        const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        total += out.Records?.length ?? 0;
        if (!out.Records?.length) break; // open shard read to its tip
        iterator = out.NextShardIterator;
      }
    }
    rates.push(total / ((performance.now() - started) / 1000));
  }
  client.destroy();
  const best = Math.max(...rates);
  console.log(
    `simulator GetRecords: ${Math.round(best)} records/s best of ${rates.length} (${rates.map((r) => Math.round(r)).join(', ')}); goal 10000, ratio ${(best / 10_000).toFixed(2)}`,
  );
} finally {
  await sim.stop();
}
