import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Browser } from 'playwright-core';
import { connectTestDynamoDB, testDynamoDBControls } from '@shardline/testkit';
import { Worker } from '@shardline/worker';
import { readStatus } from '../src/commands/status.js';
import { startStatusServer, type StatusServer } from '../src/status-page/server.js';
import { main } from '../src/cli.js';
import { captureCli, stubDatabaseEnv } from './capture-cli.js';

// The status page in a real browser: Debian's chromium, driven headless by playwright-core,
// against a real Worker on DynamoDB Local, with a shard rollover from the testkit controls.

const CHROMIUM = '/usr/bin/chromium';
// Skipped on a developer machine without it; CI (.ci/run installs it) must not skip silently.
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI)
  throw new Error(`${CHROMIUM} not found: CI runs the browser test (apt-get install chromium)`);
if (!hasChromium) console.warn(`status page browser test skipped: ${CHROMIUM} not found (apt-get install chromium)`);
// The README's picture is refreshed on demand (UPDATE_SCREENSHOTS=1), so a test run leaves the
// tree clean; otherwise the screenshot still happens, into the temp directory.
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS
  ? fileURLToPath(new URL('../../../docs/status-page.png', import.meta.url))
  : join(tmpdir(), `shardline-status-page-${process.pid}.png`);

const db = connectTestDynamoDB();
// Scoped to this file's database: a rollover here does not disturb the other test files.
const controls = testDynamoDBControls(db);
const workers: Worker[] = [];
const servers: StatusServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(() => db.close());

async function startWorker(tableName: string, workerId: string, seen: string[]): Promise<Worker> {
  const worker = new Worker({
    tableName,
    workerId,
    dynamodb: db.dynamodb,
    streams: db.streams,
    reader: { idleIntervalMs: 50 },
    leases: { shardSyncIntervalMs: 1_000 },
    processor: {
      processRecords: (batch) => void seen.push(...batch.records.map((r) => String(r.dynamodb?.Keys?.pk?.S))),
    },
  });
  workers.push(worker);
  const acquired = worker.events.waitFor('lease:acquired');
  await worker.start();
  await acquired;
  return worker;
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const put = (tableName: string, pk: string) =>
  db.dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: pk } } }));

describe.skipIf(!hasChromium || !controls)('the status page in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  }, 60_000);
  afterAll(async () => browser?.close());

  it('draws the shards coloured by state, the workers, and the lineage edge after a rollover', async () => {
    const { tableName } = await db.createStreamTable();
    const seen: string[] = [];
    await startWorker(tableName, 'page-w1', seen);
    await put(tableName, 'before');
    await until('the first record', () => seen.includes('before'));

    const server = await startStatusServer({
      read: () => readStatus(db.dynamodb, db.streams, `shardline-${tableName}`),
      port: 0,
      refreshMs: 200,
    });
    servers.push(server);
    const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
    // Each wait fails on its own, with what it waited for, well before the test's timeout.
    page.setDefaultTimeout(20_000);
    try {
      await page.goto(server.url);
      await page.locator('#shard-count', { hasText: '1 shard(s)' }).waitFor();
      await expect(page.locator('g.shard[data-state="processing"]').count()).resolves.toBe(1);
      await expect(page.locator('g.shard').first().textContent()).resolves.toContain('page-w1');
      await expect(page.locator('path.edge').count()).resolves.toBe(0);
      // Leases held comes from the worker's heartbeat item, which may lag its first lease by a beat.
      await page.locator('tr[data-worker="page-w1"] td').nth(1).filter({ hasText: /^1$/ }).waitFor();

      await controls!.rollover();
      await put(tableName, 'after');
      await until('the record in the child shard', () => seen.includes('after'));

      // The parent reached SHARD_END and the child was taken: one edge, parent → child. The parent
      // is drawn finished, from its lease or (once the leader has removed that lease) dashed.
      const child = page.locator('g.shard[data-state="processing"]', { hasText: 'page-w1' });
      // attached, not visible: a straight horizontal edge has a zero-height box, which Playwright calls hidden.
      await page.locator('path.edge').waitFor({ state: 'attached' });
      const edge = page.locator('path.edge');
      await expect(edge.count()).resolves.toBe(1);
      const parentId = await edge.getAttribute('data-parent');
      const childId = await edge.getAttribute('data-child');
      expect(parentId).not.toBe(childId);
      await page.locator(`g.shard[data-state="processing"][data-shard="${childId}"]`).waitFor();
      await expect(child.count()).resolves.toBe(1);
      await expect(page.locator(`g.shard[data-shard="${parentId}"]`).getAttribute('data-state')).resolves.toBe(
        'finished',
      );
      await expect(page.locator('g.shard').count()).resolves.toBe(2);
      await expect(page.locator('#leader').textContent()).resolves.toBe('page-w1');
      // The heartbeat age appears once this server has seen the counter move.
      await page.locator('tr[data-worker="page-w1"] td:nth-child(3)', { hasText: /\d/ }).waitFor();
      await expect(page.locator('#error').textContent()).resolves.toBe('');

      const png = await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      if (!process.env.UPDATE_SCREENSHOTS) rmSync(SCREENSHOT);
    } finally {
      await page.close();
    }
  }, 90_000);
});

/** Runs the CLI in-process; its stdout joins what the surrounding spy collects. */
const capture = captureCli;

describe('shardline status --serve', () => {
  it('serves the page and the JSON status reads, on 127.0.0.1, until SIGINT', async () => {
    stubDatabaseEnv(db);
    const { tableName } = await db.createStreamTable();
    await startWorker(tableName, 'serve-w1', []);
    let stdout = '';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    try {
      const exit = main([
        'status',
        '--app',
        tableName,
        '--endpoint',
        db.endpoint,
        '--region',
        db.region,
        '--serve',
        '--port',
        '0',
      ]);
      await until('the address line', () => /status page on /.test(stdout));
      const url = /status page on (\S+)/.exec(stdout)![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const html = await fetch(url).then((r) => r.text());
      expect(html).toContain('Shard lineage');
      expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // self-contained
      const json = (await fetch(`${url}status.json`).then((r) => r.json())) as {
        leaseTable: string;
        shards: Array<{ owner: string; state: string; streamArn: string }>;
        workers: Array<{ workerId: string; heartbeatAgeMs: number | null }>;
      };
      expect(json.leaseTable).toBe(`shardline-${tableName}`);
      expect(json.shards).toEqual([expect.objectContaining({ owner: 'serve-w1', state: 'processing' })]);
      expect(json.shards[0]!.streamArn).toMatch(/^arn:aws:dynamodb:/);
      expect(json.workers.map((w) => w.workerId)).toEqual(['serve-w1']);
      // The port is now taken: a second page on it is one line and exit 2.
      const port = new URL(url).port;
      const busy = await capture(['status', '--app', tableName, '--endpoint', db.endpoint, '--serve', '--port', port]);
      expect(busy.code).toBe(2);
      expect(busy.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(new RegExp(`cannot serve the status page on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`)),
      ]);
      process.emit('SIGINT');
      await expect(exit).resolves.toBe(0);
      await expect(fetch(url)).rejects.toThrow();
    } finally {
      out.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});
