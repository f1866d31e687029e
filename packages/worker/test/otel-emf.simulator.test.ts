import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Ajv } from 'ajv';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { METRIC_DEFINITIONS, otelName } from '../src/metric-definitions.js';
import { SPAN_NAMES } from '../src/tracing.js';
import { Worker } from '../src/worker.js';
import { until } from './fakes.js';

/**
 * A real Worker (stream simulator, lease table on DynamoDB Local) reporting to the real
 * OpenTelemetry SDK (a MetricReader collected on demand, the InMemorySpanExporter) and writing
 * CloudWatch EMF lines that are validated against the EMF specification's rules.
 */
class CollectOnDemand extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const emfSchema = JSON.parse(readFileSync(new URL('./fixtures/emf-schema.json', import.meta.url), 'utf8')) as object;
const db = connectTestDynamoDB();
let sim: StreamSimulator;
let streams: DynamoDBStreamsClient;

beforeAll(async () => {
  sim = await startStreamSimulator({ shards: 2, seed: 5 });
  streams = new DynamoDBStreamsClient({ endpoint: sim.endpoint, region: db.region, credentials: db.credentials });
});
afterAll(async () => {
  streams.destroy();
  await sim.stop();
  await db.close();
});

function metricsByName(collected: ResourceMetrics) {
  return new Map(collected.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
}

describe('Worker metrics through OpenTelemetry and CloudWatch EMF', () => {
  it('reports the Prometheus instruments to an OTel MeterProvider, spans batches and checkpoints, and writes valid EMF lines', async () => {
    const reader = new CollectOnDemand();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const spans = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    const lines: string[] = [];
    const seen: string[] = [];
    const worker = new Worker<{ pk: string }>({
      streamArn: sim.streamArn,
      applicationName: db.uniqueName('otelapp'),
      dynamodb: db.dynamodb,
      streams,
      reader: { idleIntervalMs: 20 },
      checkpointIntervalMs: 0,
      metrics: { otel: meterProvider, emf: { namespace: 'shardline-test', write: (line) => lines.push(line) } },
      tracerProvider,
      processor: {
        processRecords: ({ records }) => {
          seen.push(...records.map((r) => String(r.keys.pk)));
        },
      },
    });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    try {
      await worker.start();
      for (const pk of keys) sim.put(pk, { pk });
      await until(() => keys.every((k) => seen.includes(k)), 15_000, 'every record processed');
      await until(() => worker.shardIds.length === 2, 15_000, 'both shards leased');

      // OpenTelemetry: the same instruments and values as the Prometheus registry.
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      const otel = metricsByName(resourceMetrics);
      const prometheus = await worker.metrics.registry.getMetricsAsJSON();
      const records = otel.get(otelName(METRIC_DEFINITIONS.recordsProcessed));
      expect(records?.dataPointType).toBe(DataPointType.SUM);
      const otelRecords = records!.dataPoints.reduce((sum, p) => sum + (p.value as number), 0);
      expect(otelRecords).toBe(seen.length);
      const promRecords = prometheus.find((m) => m.name === METRIC_DEFINITIONS.recordsProcessed.name)!.values[0]!.value;
      expect(otelRecords).toBe(promRecords);
      const histogram = otel.get(otelName(METRIC_DEFINITIONS.batchDuration))!;
      expect(histogram.dataPointType).toBe(DataPointType.HISTOGRAM);
      const batches = otel.get(otelName(METRIC_DEFINITIONS.batchesProcessed))!.dataPoints[0]!.value as number;
      expect((histogram.dataPoints[0]!.value as { count: number }).count).toBe(batches);
      expect(histogram.dataPoints[0]!.value).toMatchObject({
        buckets: { boundaries: [...METRIC_DEFINITIONS.batchDuration.buckets] },
      });
      const lag = otel.get(otelName(METRIC_DEFINITIONS.millisBehindLatest))!;
      expect(lag.dataPoints.map((p) => p.attributes.shard_id).sort()).toEqual([...worker.shardIds].sort());
      expect(otel.get(otelName(METRIC_DEFINITIONS.leasesHeld))!.dataPoints[0]!.value).toBe(2);
      expect(otel.get(otelName(METRIC_DEFINITIONS.workerFenced))!.dataPoints[0]!.value).toBe(0);
      // Every OTel metric is one of the definitions, and carries its help text.
      const byOtelName = new Map(Object.values(METRIC_DEFINITIONS).map((d) => [otelName(d), d]));
      for (const [name, metric] of otel) expect(metric.descriptor.description).toBe(byOtelName.get(name)?.help);

      // Spans: one per batch with its records and outcome, and one per checkpoint write.
      const finished = spans.getFinishedSpans();
      const batchSpans = finished.filter((s) => s.name === SPAN_NAMES.batch);
      expect(batchSpans.length).toBe(batches);
      expect(batchSpans.reduce((sum, s) => sum + (s.attributes['shardline.records'] as number), 0)).toBe(seen.length);
      expect(batchSpans.every((s) => s.attributes['shardline.status'] === 'processed')).toBe(true);
      expect(batchSpans.every((s) => worker.shardIds.includes(s.attributes['shardline.shard_id'] as string))).toBe(
        true,
      );
      // Checkpoints are written behind the processing (checkpointSoon): wait for the first.
      await until(
        () => spans.getFinishedSpans().some((s) => s.name === SPAN_NAMES.checkpoint),
        15_000,
        'a checkpoint span',
      );
      const checkpointSpans = spans.getFinishedSpans().filter((s) => s.name === SPAN_NAMES.checkpoint);
      expect(checkpointSpans[0]!.attributes['shardline.checkpoint']).toMatch(/^\d+$/);
    } finally {
      await worker.stop();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    }

    // EMF: at least the line written at stop; every line valid, with KCL's names and the counts.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const validate = new Ajv({ allErrors: true, strict: false }).compile(emfSchema);
    let recordsProcessed = 0;
    for (const line of lines) {
      const doc = JSON.parse(line) as Record<string, unknown> & {
        _aws: {
          CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
        };
      };
      expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
      for (const directive of doc._aws.CloudWatchMetrics) {
        expect(directive.Namespace).toBe('shardline-test');
        for (const dimension of directive.Dimensions.flat()) expect(typeof doc[dimension]).toBe('string');
        for (const { Name } of directive.Metrics) {
          const target = doc[Name];
          const values = Array.isArray(target) ? target : [target];
          expect(values.length).toBeLessThanOrEqual(100);
          for (const v of values) expect(typeof v).toBe('number');
        }
      }
      recordsProcessed += doc.RecordsProcessed as number;
    }
    expect(recordsProcessed).toBe(seen.length);
    const last = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(last.LeasesHeld).toBe(0);
    const names = (
      JSON.parse(lines[0]!) as { _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> } }
    )._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name);
    expect(names).toEqual(expect.arrayContaining(['RecordsProcessed', 'LeasesHeld']));
  }, 60_000);
});
