import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  LimitExceededException,
  ListStreamsCommand,
  type GetRecordsCommandOutput,
} from '@aws-sdk/client-dynamodb-streams';
import { audit, freePort, type ManifestEntry } from '@shardline/testkit';
import { cliRunner } from './cli-process.js';

const scratch = mkdtempSync(join(tmpdir(), 'shardline-simulate-'));
const children = new Set<ChildProcessWithoutNullStreams>();
const clients: DynamoDBStreamsClient[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const client of clients) client.destroy();
  rmSync(scratch, { recursive: true, force: true });
});

const cli = cliRunner(children);

function streamsClient(endpoint: string, maxAttempts?: number): DynamoDBStreamsClient {
  const client = new DynamoDBStreamsClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    ...(maxAttempts ? { maxAttempts } : {}),
  });
  clients.push(client);
  return client;
}

const line = (stdout: string, label: string): string => {
  const match = new RegExp(`^${label} +(\\S+)$`, 'm').exec(stdout);
  if (!match?.[1]) throw new Error(`no ${label} line in ${stdout}`);
  return match[1];
};

describe('shardline simulate', () => {
  it('serves a stream with traffic, rollovers and splits, and writes the manifest on SIGTERM', async () => {
    const port = await freePort();
    const manifestPath = join(scratch, 'manifest.jsonl');
    const run = cli([
      'simulate',
      '--port',
      String(port),
      '--table',
      'orders',
      '--shards',
      '2',
      '--rate',
      '200',
      '--keys',
      '20',
      '--split-every',
      '0.5',
      '--rollover-every',
      '1',
      '--manifest',
      manifestPath,
    ]);
    await run.until(() => run.stdout().includes('Press Ctrl-C to stop.'), 'ready banner');
    const endpoint = line(run.stdout(), 'endpoint');
    const streamArn = line(run.stdout(), 'streamArn');
    expect(endpoint).toBe(`http://127.0.0.1:${port}`);
    expect(streamArn).toMatch(/^arn:aws:dynamodb:us-east-1:000000000000:table\/orders\/stream\//);
    expect(run.stdout()).toContain(`export SHARDLINE_STREAM_ARN=${streamArn}`);
    expect(run.stdout()).toContain(`export SHARDLINE_STREAMS_ENDPOINT=${endpoint}`);

    const client = streamsClient(endpoint);
    expect((await client.send(new ListStreamsCommand({ TableName: 'orders' }))).Streams?.[0]?.StreamArn).toBe(
      streamArn,
    );
    const describe = async () =>
      (await client.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription?.Shards ?? [];
    // Wait for a rollover (a parent with one child), a split (a parent with two) and a closed
    // child (lineage three deep).
    const childCounts = (shards: Awaited<ReturnType<typeof describe>>) => {
      const counts = new Map<string, number>();
      for (const s of shards) if (s.ParentShardId) counts.set(s.ParentShardId, (counts.get(s.ParentShardId) ?? 0) + 1);
      return [...counts.values()];
    };
    await run.until(async () => {
      const shards = await describe();
      const counts = childCounts(shards);
      return (
        counts.includes(1) &&
        counts.includes(2) &&
        shards.some((s) => s.ParentShardId && s.SequenceNumberRange?.EndingSequenceNumber)
      );
    }, 'rollover, split and a closed child');

    // Read every closed shard, parents first, as a worker would.
    const shards = await describe();
    const closed = shards.filter((s) => s.SequenceNumberRange?.EndingSequenceNumber);
    const delivered: Array<{ shardId: string; sequenceNumber: string }> = [];
    for (const shard of closed) {
      const it = await client.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      let next = it.ShardIterator;
      while (next) {
        const out: GetRecordsCommandOutput = await client.send(new GetRecordsCommand({ ShardIterator: next }));
        for (const r of out.Records ?? [])
          delivered.push({ shardId: shard.ShardId!, sequenceNumber: r.dynamodb!.SequenceNumber! });
        next = out.NextShardIterator;
      }
    }
    expect(delivered.length).toBeGreaterThan(0);

    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.stdout()).toMatch(/Simulator stopped: \d+ records written over \d+ shards?; manifest in /);
    const manifest = readFileSync(manifestPath, 'utf8')
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as ManifestEntry);
    const closedIds = new Set(closed.map((s) => s.ShardId));
    const report = audit(
      manifest.filter((e) => closedIds.has(e.shardId)),
      delivered,
      shards.map((s) => ({ shardId: s.ShardId!, parentShardId: s.ParentShardId })),
    );
    expect(report).toMatchObject({ ok: true, lost: [], unknown: [], orderViolations: [], childBeforeParent: [] });
    expect(manifest.length).toBeGreaterThan(delivered.length);
    expect(new Set(manifest.map((e) => e.key)).size).toBeLessThanOrEqual(20);
  });

  it('throttles calls at --throttle-rate and stops on SIGINT with exit 0', async () => {
    const port = await freePort();
    const run = cli(['simulate', '--port', String(port), '--rate', '0', '--throttle-rate', '1', '--service-limits']);
    await run.until(() => run.stdout().includes('Press Ctrl-C to stop.'), 'ready banner');
    const client = streamsClient(line(run.stdout(), 'endpoint'), 1);
    await expect(client.send(new ListStreamsCommand({}))).rejects.toBeInstanceOf(LimitExceededException);
    expect(run.stdout()).toContain('throttling 100% of calls, service call-rate limits.');
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    // Quiet: one line on stdout after the banner, nothing on stderr.
    expect(run.stdout().split('Press Ctrl-C to stop.\n')[1]).toBe(
      'Simulator stopped: 0 records written over 1 shard.\n',
    );
    expect(run.stderr()).toBe('');
  });

  it.concurrent.for<[string[], RegExp]>([
    [['--port', 'abc'], /--port must be an integer/],
    [['--port', '0', '--throttle-rate', '1.5'], /--throttle-rate must be a fraction/],
    [['--port', '0', '--manifest', '/no/such/dir/m.jsonl'], /--manifest: directory \/no\/such\/dir does not exist/],
    [[], /required option '--port/],
  ])('refuses bad input %j with one line and exit code 2', async ([args, message], { expect }) => {
    const run = cli(['simulate', ...args]);
    expect(await run.exit).toBe(2);
    expect(run.stderr()).toMatch(message);
    expect(run.stderr().trim().split('\n')).toHaveLength(1);
    expect(run.stdout()).toBe('');
  });
});
