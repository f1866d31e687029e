import { AbortedError, ConfigError, type Clock, type Logger } from '@shardline/core';
import { METRIC_DEFINITIONS, type MetricId } from './metric-definitions.js';
import type { CounterMetric, GaugeMetric, WorkerMetrics } from './metrics.js';

/**
 * CloudWatch Embedded Metric Format: one JSON log line per interval that CloudWatch Logs turns
 * into metrics (Lambda and the CloudWatch agent pick it up from stdout), so no PutMetricData
 * call, no credentials and no extra client. Written directly: the format is one object, lighter
 * than the aws-embedded-metrics package. Which metrics and their names: the `emf` mappings of
 * METRIC_DEFINITIONS (KCL's names). Spec:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export interface EmfOptions {
  /** CloudWatch namespace. @defaultValue 'shardline' */
  namespace?: string;
  /** One line per interval (CloudWatch's standard resolution is a minute). @defaultValue 60_000 */
  intervalMs?: number;
  /** Where lines go. @defaultValue process.stdout */
  write?: (line: string) => void;
}

export interface ResolvedEmfOptions {
  namespace: string;
  intervalMs: number;
  write: (line: string) => void;
}

export const EMF_DEFAULTS = { namespace: 'shardline', intervalMs: 60_000 } as const;

/** CloudWatch takes at most 100 values in one metric array. */
const MAX_VALUES = 100;

export function resolveEmfOptions(options: boolean | EmfOptions | undefined): ResolvedEmfOptions | undefined {
  if (options === undefined || options === false) return undefined;
  const o = options === true ? {} : options;
  const namespace = o.namespace ?? EMF_DEFAULTS.namespace;
  if (typeof namespace !== 'string' || namespace.length < 1 || namespace.length > 255)
    throw new ConfigError(`metrics.emf.namespace must be 1-255 characters, got ${JSON.stringify(namespace)}`);
  const intervalMs = o.intervalMs ?? EMF_DEFAULTS.intervalMs;
  if (!Number.isInteger(intervalMs) || intervalMs < 1_000)
    throw new ConfigError(`metrics.emf.intervalMs must be an integer of at least 1000, got ${intervalMs}`);
  return { namespace, intervalMs, write: o.write ?? ((line) => void process.stdout.write(`${line}\n`)) };
}

export interface EmfReporterOptions {
  metrics: WorkerMetrics;
  emf: ResolvedEmfOptions;
  applicationName: string;
  workerId: string;
  clock: Clock;
  logger: Logger;
}

export class EmfReporter {
  readonly #o: EmfReporterOptions;
  readonly #reported = new Map<MetricId, number>();
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: EmfReporterOptions) {
    this.#o = options;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops the interval and writes a last line, so the final counts are not lost. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    this.flush();
  }

  async #run(): Promise<void> {
    for (;;) {
      try {
        await this.#o.clock.sleep(this.#o.emf.intervalMs, this.#stop.signal);
      } catch (err) {
        if (err instanceof AbortedError) return;
        throw err;
      }
      this.flush();
    }
  }

  flush(): void {
    try {
      this.#o.emf.write(JSON.stringify(this.document()));
    } catch (err) {
      this.#o.logger.warn({ err }, 'EMF metrics line not written');
    }
  }

  /**
   * One document: counters as the increase since the last line (Count, summed by CloudWatch),
   * gauges as their current values; the per-shard lag as an array of values, so CloudWatch's
   * Maximum is the worst shard without a ShardId dimension per shard.
   */
  document(): Record<string, unknown> {
    const { metrics, emf, applicationName, workerId, clock } = this.#o;
    const definitions: Array<{ Name: string; Unit: string }> = [];
    const values: Record<string, number | number[]> = {};
    for (const [id, def] of Object.entries(METRIC_DEFINITIONS) as Array<
      [MetricId, (typeof METRIC_DEFINITIONS)[MetricId]]
    >) {
      if (!('emf' in def)) continue;
      const instrument = metrics.instruments[id];
      let value: number | number[] | undefined;
      if (def.kind === 'counter') {
        const total = (instrument as CounterMetric).total;
        value = total - (this.#reported.get(id) ?? 0);
        this.#reported.set(id, total);
      } else {
        const current = (instrument as GaugeMetric).entries().map((e) => e.value);
        if (def.labels.length === 0) value = current.reduce((a, b) => a + b, 0);
        else if (current.length > 0) value = current.sort((a, b) => b - a).slice(0, MAX_VALUES);
      }
      if (value === undefined) continue;
      definitions.push({ Name: def.emf.name, Unit: def.emf.unit });
      values[def.emf.name] = value;
    }
    return {
      _aws: {
        Timestamp: Math.round(clock.now()),
        CloudWatchMetrics: [{ Namespace: emf.namespace, Dimensions: [['ApplicationName']], Metrics: definitions }],
      },
      ApplicationName: applicationName,
      // A property, not a dimension: worker ids change at every restart and would each be a new metric.
      WorkerId: workerId,
      ...values,
    };
  }
}
