import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { Worker } from '@shardline/worker';
import { captureCli, stubDatabaseEnv } from './capture-cli.js';

const db = connectTestDynamoDB();
afterAll(() => db.close());

const capture = captureCli;

describe('shardline status', () => {
  it('shows shards with owner, state, checkpoint and lag, as a table and as JSON', async () => {
    stubDatabaseEnv(db);
    const { tableName } = await db.createStreamTable();
    const worker = new Worker({
      tableName,
      workerId: 'status-w1',
      dynamodb: db.dynamodb,
      streams: db.streams,
      reader: { idleIntervalMs: 50 },
      processor: { processRecords: () => undefined },
    });
    try {
      const acquired = worker.events.waitFor('lease:acquired');
      await worker.start();
      await acquired;
      const text = await capture(['status', '--app', tableName, '--endpoint', db.endpoint, '--region', db.region]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/SHARD\s+PARENT\s+OWNER\s+STATE\s+CHECKPOINT\s+BEHIND\s+AGE/);
      expect(text.stdout).toMatch(/status-w1\s+processing\s+TRIM_HORIZON\s+≥0\s+-/);
      expect(text.stdout).toContain(
        'BEHIND: records after the checkpoint, counted (exact for a shard read to its end; ≥N for an open shard',
      );
      expect(text.stdout).toMatch(/status-w1\s+processing\s+TRIM_HORIZON/);
      const json = await capture([
        'status',
        '--app',
        tableName,
        '--endpoint',
        db.endpoint,
        '--region',
        db.region,
        '--json',
      ]);
      const parsed = JSON.parse(json.stdout) as {
        leaseTable: string;
        shards: Array<{ owner: string; state: string; lagMs: number | null; behindRecords: number | null }>;
        workers: Array<{ workerId: string }>;
      };
      expect(parsed.leaseTable).toBe(`shardline-${tableName}`);
      expect(parsed.shards).toEqual([
        expect.objectContaining({ owner: 'status-w1', state: 'processing', lagMs: 0, behindRecords: 0 }),
      ]);
      expect(parsed.workers.map((w) => w.workerId)).toEqual(['status-w1']);
    } finally {
      await worker.stop();
      vi.unstubAllEnvs();
    }
  });

  it('counts the records behind the checkpoint exactly', async () => {
    stubDatabaseEnv(db);
    const { tableName } = await db.createStreamTable();
    const put = (pk: string) => db.dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: pk } } }));
    let seen = 0;
    const worker = new Worker({
      tableName,
      workerId: 'status-w2',
      dynamodb: db.dynamodb,
      streams: db.streams,
      reader: { idleIntervalMs: 50 },
      processor: { processRecords: (batch) => void (seen += batch.records.length) },
    });
    try {
      for (const pk of ['a', 'b', 'c']) await put(pk);
      await worker.start();
      const deadline = Date.now() + 20_000;
      while (seen < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(seen).toBe(3);
    } finally {
      await worker.stop(); // checkpoints the last record it was given
    }
    try {
      for (const pk of ['d', 'e', 'f', 'g']) await put(pk);
      const json = await capture([
        'status',
        '--app',
        tableName,
        '--endpoint',
        db.endpoint,
        '--region',
        db.region,
        '--json',
      ]);
      const parsed = JSON.parse(json.stdout) as {
        shards: Array<{ behindRecords: number; behindLowerBound?: boolean; lagMs: number }>;
      };
      expect(parsed.shards.map((s) => [s.behindRecords, s.behindLowerBound])).toEqual([[4, true]]);
      expect(parsed.shards[0]!.lagMs).toBeGreaterThanOrEqual(0);
      const text = await capture(['status', '--app', tableName, '--endpoint', db.endpoint, '--region', db.region]);
      // An open shard: its tip is not provable, so the count is a lower bound.
      expect(text.stdout).toMatch(/unassigned\s+\d+\s+≥4\s+~/);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('an unknown application is one line and exit 2', async () => {
    stubDatabaseEnv(db);
    try {
      const result = await capture(['status', '--app', 'never-ran', '--endpoint', db.endpoint, '--region', db.region]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/lease table shardline-never-ran not found/),
      ]);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('--app is required', async () => {
    const result = await capture(['status']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--app is required/);
  });
});

describe('shardline status help and errors', () => {
  it('suggests only what status accepts: no --config', async () => {
    const result = await capture(['status']);
    expect(result.stderr).not.toMatch(/config/);
    const help = await capture(['status', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).not.toMatch(/--config/);
    expect(help.stdout).toMatch(/--no-lag/);
  });
});
