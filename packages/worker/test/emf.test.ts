import { ConfigError, ManualClock, silentLogger } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { EmfReporter, resolveEmfOptions } from '../src/emf.js';
import { METRIC_DEFINITIONS } from '../src/metric-definitions.js';
import { WorkerMetrics } from '../src/metrics.js';
import { resolveWorkerOptions } from '../src/options.js';

function reporter(clock: ManualClock) {
  const lines: string[] = [];
  const metrics = new WorkerMetrics();
  const emf = resolveEmfOptions({ intervalMs: 60_000, write: (line) => lines.push(line) })!;
  const r = new EmfReporter({
    metrics,
    emf,
    applicationName: 'orders',
    workerId: 'w-1',
    clock,
    logger: silentLogger(),
  });
  const docs = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { r, metrics, docs };
}

const STREAM = 'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000';

describe('EmfReporter', () => {
  it('writes one line per interval: counters as the increase since the last line, lag as per-shard values', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { r, metrics, docs } = reporter(clock);
    r.start();
    metrics.batchProcessed('s1', 5, 0.01);
    metrics.lag('s1', 1_200, STREAM);
    metrics.lag('s2', 30, STREAM);
    metrics.leasesHeld.set(2);
    await clock.advance(60_000);
    metrics.batchProcessed('s2', 3, 0.01);
    metrics.shardClosed('s1', STREAM);
    metrics.shardClosed('s2', STREAM);
    await clock.advance(60_000);
    const [first, second] = docs();
    expect(first).toMatchObject({
      _aws: {
        Timestamp: 1_700_000_060_000,
        CloudWatchMetrics: [
          {
            Namespace: 'shardline',
            Dimensions: [['ApplicationName']],
            Metrics: [
              { Name: 'RecordsProcessed', Unit: 'Count' },
              { Name: 'MillisBehindLatest', Unit: 'Milliseconds' },
              { Name: 'LeasesHeld', Unit: 'Count' },
            ],
          },
        ],
      },
      ApplicationName: 'orders',
      WorkerId: 'w-1',
      RecordsProcessed: 5,
      MillisBehindLatest: [1_200, 30],
      LeasesHeld: 2,
    });
    // No shard held: no lag metric at all (an empty array is not a valid metric value).
    expect(second).toMatchObject({ RecordsProcessed: 3, LeasesHeld: 2 });
    expect(second).not.toHaveProperty('MillisBehindLatest');
    expect(JSON.stringify(second!._aws as object)).not.toContain('MillisBehindLatest');
    await r.stop();
    expect(docs()).toHaveLength(3);
    expect(docs()[2]).toMatchObject({ RecordsProcessed: 0 });
  });

  it('is off unless asked, and rejects a bad namespace or interval', () => {
    expect(resolveEmfOptions(undefined)).toBeUndefined();
    expect(resolveEmfOptions(false)).toBeUndefined();
    expect(resolveEmfOptions(true)).toMatchObject({ namespace: 'shardline', intervalMs: 60_000 });
    expect(() => resolveEmfOptions({ namespace: '' })).toThrow(ConfigError);
    expect(() => resolveEmfOptions({ intervalMs: 10 })).toThrow(/intervalMs/);
  });
});

describe('metric options and docs', () => {
  it('rejects an unknown metrics key and an object that is no MeterProvider', () => {
    const base = { tableName: 't', processor: { processRecords: () => undefined } };
    expect(() => resolveWorkerOptions({ ...base, metrics: { prometheus: true } as never })).toThrow(/prometheus/);
    expect(() => resolveWorkerOptions({ ...base, metrics: { otel: {} as never } })).toThrow(/MeterProvider/);
    expect(resolveWorkerOptions({ ...base, metrics: { emf: true } }).emf).toMatchObject({ namespace: 'shardline' });
  });

  it("the worker README's metrics table and EMF table name every definition and KCL name", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const def of Object.values(METRIC_DEFINITIONS)) {
      expect(readme).toContain(`\`${def.name}`);
      if ('emf' in def) expect(readme).toContain(`| \`${def.emf.name}\` | ${def.emf.unit} | \`${def.name}\``);
    }
  });
});
