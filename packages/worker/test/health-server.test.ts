import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '@shardline/core';
import { HealthServer } from '../src/health-server.js';
import { WorkerMetrics } from '../src/metrics.js';
import { Worker } from '../src/worker.js';
import { batch, FakeCoordinator, ScriptedReader, until } from './fakes.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('HealthServer', () => {
  it('serves /healthz, /readyz and /metrics from its source, 127.0.0.1 by default', async () => {
    let ready: string | null = 'starting';
    const metrics = new WorkerMetrics();
    metrics.batchProcessed('s1', 5, 0.01);
    const server = new HealthServer({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger(),
      source: {
        liveness: () => null,
        readiness: () => ready,
        metrics: () => metrics.metrics(),
        metricsContentType: metrics.registry.contentType,
      },
    });
    await server.start();
    closers.push(() => server.close());
    const base = `http://127.0.0.1:${server.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toMatch(/starting/);
    ready = null;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const body = await (await fetch(`${base}/metrics`)).text();
    expect(body).toMatch(/shardline_records_processed_total 5/);
    expect(body).toMatch(/shardline_batch_processing_seconds_bucket/);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('/healthz is 503 with a JSON reason once the last heartbeat that got through is older than the lease duration', async () => {
    const clock = new ManualClock(1_000_000);
    let lastHeartbeatAt: number | undefined = clock.now();
    // Fenced as the real coordinator is: no heartbeat through for more than a lease duration.
    const coordinator = Object.assign(new FakeCoordinator(), {
      lastHeartbeatAt: () => lastHeartbeatAt,
      isFenced: () => lastHeartbeatAt !== undefined && clock.now() - lastHeartbeatAt > 10_000,
    });
    const worker = new Worker({
      streamArn: 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/x',
      region: 'us-east-1',
      processor: { processRecords: () => undefined },
      coordinator,
      readerFactory: new ScriptedReader([]).factory,
      healthPort: 0,
      leases: { leaseDurationMs: 10_000, heartbeatIntervalMs: 2_000 },
      clock,
    });
    closers.push(() => worker.stop());
    await worker.start();
    const healthz = async () => {
      const res = await fetch(`http://127.0.0.1:${worker.healthPort}/healthz`);
      return {
        status: res.status,
        type: res.headers.get('content-type'),
        body: (await res.json()) as { status: string; reason?: string },
      };
    };

    expect(await healthz()).toEqual({
      status: 200,
      type: expect.stringMatching(/^application\/json/) as unknown,
      body: { status: 'ok' },
    });
    await clock.advance(10_000); // exactly a lease duration old: not yet fenced
    expect((await healthz()).status).toBe(200);
    await clock.advance(1);
    const stale = await healthz();
    expect(stale.status).toBe(503);
    expect(stale.body.status).toBe('unhealthy');
    expect(stale.body.reason).toMatch(/heartbeat is 10001 ms old \(lease duration 10000 ms\)/);

    lastHeartbeatAt = clock.now(); // a heartbeat got through again
    expect((await healthz()).status).toBe(200);
    lastHeartbeatAt = undefined; // a coordinator that has not beaten yet is not judged
    await clock.advance(60_000);
    expect((await healthz()).status).toBe(200);
  });

  it('a Worker with healthPort reports ready once assignment settled, and per-shard lag and counts in /metrics', async () => {
    const coordinator = new FakeCoordinator();
    const reader = new ScriptedReader([{ ...batch('s1', 1, 3), millisBehindLatest: 1234 }]);
    const worker = new Worker({
      streamArn: 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/x',
      region: 'us-east-1',
      processor: { processRecords: () => undefined },
      coordinator,
      readerFactory: reader.factory,
      healthPort: 0,
    });
    closers.push(() => worker.stop());
    await worker.start();
    const base = `http://127.0.0.1:${worker.healthPort}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    coordinator.acquire('s1');
    await until(() => coordinator.checkpoints.length === 1, 2_000, 'checkpoint');
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const body = await (await fetch(`${base}/metrics`)).text();
    expect(body).toMatch(/shardline_millis_behind_latest\{shard_id="s1",stream_arn="[^"]+"\} 1234/);
    expect(body).toMatch(/shardline_records_processed_total 3/);
    expect(body).toMatch(/shardline_leases_held 1/);
    await worker.stop();
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});

describe('healthRoutes', () => {
  it('serves the extra routes a Worker is given beside the built-in ones, and refuses to shadow those', async () => {
    const worker = new Worker({
      streamArn: 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/x',
      region: 'us-east-1',
      processor: { processRecords: () => undefined },
      coordinator: new FakeCoordinator(),
      readerFactory: new ScriptedReader([]).factory,
      healthPort: 0,
      healthRoutes: { '/status': (_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<p>hi') },
    });
    closers.push(() => worker.stop());
    await worker.start();
    const base = `http://127.0.0.1:${worker.healthPort}`;
    const page = await fetch(`${base}/status`);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe('<p>hi');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toMatch(/\/status/);
    expect(
      () =>
        new Worker({
          tableName: 'orders',
          processor: { processRecords: () => undefined },
          healthRoutes: { '/metrics': () => undefined },
        }),
    ).toThrow(/healthRoutes: \/metrics is the health server's own/);
  });
});
