import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, connectTestDynamoDB, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { FIXTURE_PROCESSOR, processTestFile, readSeen, spawnCli, waitFor } from './cli-process.js';

/**
 * Three `shardline run` processes read the stream simulator (several shards) while shards roll
 * over and split under them; the lease table lives in DynamoDB Local (separate endpoints). The
 * audit must show nothing lost and no child record before its parents' last record, also
 * across a kill -9.
 */
const db = connectTestDynamoDB();
const { dir } = processTestFile('shardline-sim-e2e-');
let sim: StreamSimulator;

beforeAll(async () => {
  sim = await startStreamSimulator({ shards: 3, seed: 7 });
});
afterAll(async () => {
  await sim.stop();
  await db.close();
});

describe('shardline run on the stream simulator', () => {
  it('keeps lineage order and loses nothing through rollovers, splits and a crash', async () => {
    const output = join(dir, 'seen.jsonl');
    const app = db.uniqueName('sim');
    const start = (name: string) =>
      spawnCli(
        name,
        [
          'run',
          '--stream-arn',
          sim.streamArn,
          '--processor',
          FIXTURE_PROCESSOR,
          '--app',
          app,
          '--worker-id',
          name,
          '--dynamodb-endpoint',
          db.endpoint,
          '--streams-endpoint',
          sim.endpoint,
          '--lease-duration-ms',
          '3000',
          '--idle-interval-ms',
          '50',
          '--shutdown-timeout-ms',
          '8000',
        ],
        {
          ...db.env,
          E2E_OUTPUT: output,
          E2E_WORKER: name,
        },
      );
    const workers = [start('w1'), start('w2'), start('w3')];
    let n = 0;
    const write = (count: number) => {
      for (let i = 0; i < count; i++, n++) sim.put(`key-${n % 40}`, { pk: `key-${n % 40}`, n });
    };
    const seenCount = () => new Set(readSeen(output).map((r) => `${r.shardId}/${r.sequenceNumber}`)).size;
    const describe = () =>
      `seen ${seenCount()} of ${sim.manifest().length}\n${workers.map((w) => `${w.name}: ${w.output().slice(-2000)}`).join('\n')}`;

    write(150);
    await waitFor(() => seenCount() >= 150, 40_000, describe);
    // Reshard while traffic flows: roll one shard over, split another.
    const [a, b] = sim.openShardIds();
    sim.rollover(a!);
    write(100);
    sim.split(b!);
    write(100);
    await waitFor(() => seenCount() >= 350, 40_000, describe);

    // Crash one worker mid-stream, reshard again, keep writing.
    workers[0]!.child.kill('SIGKILL');
    await workers[0]!.exited;
    sim.rollover(sim.openShardIds()[0]!);
    write(150);
    await waitFor(() => seenCount() >= sim.manifest().length, 40_000, describe);

    const delivered = readSeen(output).map((r) => ({ shardId: r.shardId, sequenceNumber: r.sequenceNumber }));
    const report = audit(sim.manifest(), delivered, sim.shards());
    expect(report.lost).toEqual([]);
    expect(report.childBeforeParent).toEqual([]);
    expect(report.orderViolations).toEqual([]);
    expect(report.unknown).toEqual([]);
    expect(report.ok).toBe(true);

    for (const w of workers.slice(1)) w.child.kill('SIGTERM');
    expect(await Promise.all(workers.slice(1).map((w) => w.exited))).toEqual([0, 0]);
  });
});
