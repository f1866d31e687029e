import type {
  Attributes,
  Counter as OtelCounter,
  Histogram as OtelHistogram,
  Meter,
  MeterProvider,
} from '@opentelemetry/api';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { METRIC_DEFINITIONS, otelName, type MetricDefinition, type MetricId } from './metric-definitions.js';

/** What a shard consumer reports; a no-op object in unit tests. */
export interface ConsumerMetrics {
  batchProcessed(shardId: string, records: number, seconds: number): void;
  /** Shard ids repeat across streams (a re-enabled stream, several tables): the stream is part of the series. */
  lag(shardId: string, millisBehindLatest: number, streamArn: string): void;
  checkpointFailed(): void;
  failedRecordsSent(records: number): void;
  shardClosed(shardId: string, streamArn: string): void;
}

export const noopMetrics: ConsumerMetrics = {
  batchProcessed: () => undefined,
  lag: () => undefined,
  checkpointFailed: () => undefined,
  failedRecordsSent: () => undefined,
  shardClosed: () => undefined,
};

type Labels = Record<string, string>;

/** A counter reported to Prometheus and, when given, OpenTelemetry; keeps its total for EMF. */
export class CounterMetric {
  #total = 0;
  constructor(
    readonly definition: MetricDefinition,
    private readonly prom: Counter,
    private readonly otel: OtelCounter | undefined,
    private readonly attributes: Attributes,
  ) {}

  inc(labelsOrValue?: Labels | number, value?: number): void {
    const [labels, by] = typeof labelsOrValue === 'number' ? [{}, labelsOrValue] : [labelsOrValue ?? {}, value ?? 1];
    this.prom.inc(labels, by);
    this.otel?.add(by, { ...this.attributes, ...labels });
    this.#total += by;
  }

  /** Sum over every label set since the worker started. */
  get total(): number {
    return this.#total;
  }
}

/**
 * A gauge whose current values live here, one per label set (or come from a probe read at
 * collection time): Prometheus and the OpenTelemetry observable gauge both read them, so a
 * removed label set (a finished shard) disappears from both.
 */
export class GaugeMetric {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  #probe: (() => number) | undefined;
  constructor(readonly definition: MetricDefinition) {}

  set(labelsOrValue: Labels | number, value?: number): void {
    const [labels, v] = typeof labelsOrValue === 'number' ? [{}, labelsOrValue] : [labelsOrValue, value ?? 0];
    const key = labelKey(labels);
    // Updated in place: the lag gauge is set on every poll of every held shard.
    const entry = this.#values.get(key);
    if (entry) entry.value = v;
    else this.#values.set(key, { labels, value: v });
  }

  remove(labels: Labels): void {
    this.#values.delete(labelKey(labels));
  }

  /** Read at every collection instead of stored values (a state, not an event). */
  probe(read: () => number): void {
    this.#probe = read;
  }

  entries(): Array<{ labels: Labels; value: number }> {
    return this.#probe ? [{ labels: {}, value: this.#probe() }] : [...this.#values.values()];
  }
}

export class HistogramMetric {
  constructor(
    readonly definition: MetricDefinition,
    private readonly prom: Histogram,
    private readonly otel: OtelHistogram | undefined,
    private readonly attributes: Attributes,
  ) {}

  observe(value: number): void {
    this.prom.observe(value);
    this.otel?.record(value, this.attributes);
  }
}

type InstrumentOf<D extends MetricDefinition> = D['kind'] extends 'counter'
  ? CounterMetric
  : D['kind'] extends 'gauge'
    ? GaugeMetric
    : HistogramMetric;
export type Instruments = { [K in MetricId]: InstrumentOf<(typeof METRIC_DEFINITIONS)[K]> };

export interface WorkerMetricsOptions {
  /** Also export Node process metrics (Prometheus only). */
  defaultMetrics?: boolean;
  /** Labels (Prometheus) and attributes (OpenTelemetry) on every series. */
  labels?: Record<string, string>;
  /** Also report every instrument to this OpenTelemetry meter provider. */
  otel?: MeterProvider;
}

/**
 * Metrics of one Worker, built from METRIC_DEFINITIONS: a Prometheus Registry of its own (two
 * workers in one process, as in `shardline demo` or tests, do not collide) and, when given, the
 * same instruments on an OpenTelemetry meter. Shard ids appear only as a label of the lag gauge,
 * which is removed when the shard is done, so shard rollovers do not grow cardinality.
 */
export class WorkerMetrics implements ConsumerMetrics {
  readonly registry = new Registry();
  readonly instruments: Instruments;

  constructor(options: WorkerMetricsOptions = {}) {
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    const meter = options.otel?.getMeter('@shardline/worker');
    const attributes: Attributes = { ...options.labels };
    const built: Record<string, CounterMetric | GaugeMetric | HistogramMetric> = {};
    for (const [id, def] of Object.entries(METRIC_DEFINITIONS) as Array<[MetricId, MetricDefinition]>)
      built[id] = this.#build(def, meter, attributes);
    this.instruments = built as Instruments;
    this.instruments.workerFenced.probe(() => 0);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  #build(def: MetricDefinition, meter: Meter | undefined, attributes: Attributes) {
    const common = { name: def.name, help: def.help, labelNames: [...def.labels], registers: [this.registry] };
    const otel = { description: def.help };
    switch (def.kind) {
      case 'counter':
        return new CounterMetric(def, new Counter(common), meter?.createCounter(otelName(def), otel), attributes);
      case 'histogram':
        return new HistogramMetric(
          def,
          new Histogram({ ...common, buckets: [...(def.buckets ?? [])] }),
          meter?.createHistogram(otelName(def), {
            ...otel,
            advice: { explicitBucketBoundaries: [...(def.buckets ?? [])] },
          }),
          attributes,
        );
      case 'gauge': {
        const gauge = new GaugeMetric(def);
        new Gauge({
          ...common,
          collect() {
            this.reset();
            for (const { labels, value } of gauge.entries()) this.set(labels, value);
          },
        });
        meter?.createObservableGauge(otelName(def), otel).addCallback((result) => {
          for (const { labels, value } of gauge.entries()) result.observe(value, { ...attributes, ...labels });
        });
        return gauge;
      }
    }
  }

  get leasesHeld(): GaugeMetric {
    return this.instruments.leasesHeld;
  }
  get leasesLost(): CounterMetric {
    return this.instruments.leasesLost;
  }
  get streamsReplaced(): CounterMetric {
    return this.instruments.streamsReplaced;
  }
  get iteratorRefreshes(): CounterMetric {
    return this.instruments.iteratorRefreshes;
  }
  get throttles(): CounterMetric {
    return this.instruments.throttles;
  }
  get trimmed(): CounterMetric {
    return this.instruments.trimmed;
  }

  batchProcessed(_shardId: string, records: number, seconds: number): void {
    this.instruments.recordsProcessed.inc(records);
    this.instruments.batchesProcessed.inc();
    this.instruments.batchDuration.observe(seconds);
  }

  lag(shardId: string, millisBehindLatest: number, streamArn: string): void {
    this.instruments.millisBehindLatest.set({ shard_id: shardId, stream_arn: streamArn }, millisBehindLatest);
  }

  checkpointFailed(): void {
    this.instruments.checkpointFailures.inc();
  }

  failedRecordsSent(records: number): void {
    this.instruments.failedRecordsSent.inc(records);
  }

  shardClosed(shardId: string, streamArn: string): void {
    this.instruments.millisBehindLatest.remove({ shard_id: shardId, stream_arn: streamArn });
  }

  /** Where `shardline_worker_fenced` reads the coordinator's state (set once it exists). */
  watchFenced(probe: () => boolean): void {
    // Read at collection time: fencing is a state of the lease coordinator, not an event counted here.
    this.instruments.workerFenced.probe(() => (probe() ? 1 : 0));
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/** One string per label set, whatever the key order; cheap for the common single label. */
function labelKey(labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length > 1) names.sort();
  let key = '';
  for (const name of names) key += `${name}\u0000${labels[name]}\u0001`;
  return key;
}
