import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What a shard consumer reports; a no-op object in unit tests. */
export interface ConsumerMetrics {
  batchProcessed(shardId: string, records: number, seconds: number): void;
  lag(shardId: string, millisBehindLatest: number): void;
  checkpointFailed(): void;
  failedRecordsSent(records: number): void;
  shardClosed(shardId: string): void;
}

export const noopMetrics: ConsumerMetrics = {
  batchProcessed: () => undefined,
  lag: () => undefined,
  checkpointFailed: () => undefined,
  failedRecordsSent: () => undefined,
  shardClosed: () => undefined,
};

/**
 * Prometheus metrics of one Worker, in a Registry of its own (two workers in one process, as in
 * `shardline demo` or tests, do not collide). Shard ids appear only as a label of the lag
 * gauge, which is removed when the shard is done, so shard rollovers do not grow cardinality.
 */
export class WorkerMetrics implements ConsumerMetrics {
  readonly registry = new Registry();
  readonly #records: Counter;
  readonly #batches: Counter;
  readonly #duration: Histogram;
  readonly #lag: Gauge<'shard_id'>;
  readonly leasesHeld: Gauge;
  readonly leasesLost: Counter;
  readonly iteratorRefreshes: Counter<'reason'>;
  readonly throttles: Counter;
  readonly trimmed: Counter;
  readonly #checkpointFailures: Counter;
  readonly #failedSent: Counter;
  #fencedProbe: () => boolean = () => false;

  constructor(options: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    const registers = [this.registry];
    this.#records = new Counter({
      name: 'shardline_records_processed_total',
      help: 'Stream records processed',
      registers,
    });
    this.#batches = new Counter({ name: 'shardline_batches_processed_total', help: 'Batches processed', registers });
    this.#duration = new Histogram({
      name: 'shardline_batch_processing_seconds',
      help: 'Time to process one batch, retries included',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#lag = new Gauge({
      name: 'shardline_millis_behind_latest',
      help: 'MillisBehindLatest of the last read, per shard',
      labelNames: ['shard_id'],
      registers,
    });
    this.leasesHeld = new Gauge({ name: 'shardline_leases_held', help: 'Leases this worker holds', registers });
    this.leasesLost = new Counter({
      name: 'shardline_leases_lost_total',
      help: 'Leases lost to other workers or expiry',
      registers,
    });
    this.iteratorRefreshes = new Counter({
      name: 'shardline_iterator_refreshes_total',
      help: 'Shard iterators refreshed (age or expiry)',
      labelNames: ['reason'],
      registers,
    });
    this.throttles = new Counter({ name: 'shardline_throttles_total', help: 'Throttled Streams calls', registers });
    this.trimmed = new Counter({
      name: 'shardline_trimmed_data_events_total',
      help: 'TrimmedDataAccessException events (records lost to retention)',
      registers,
    });
    this.#checkpointFailures = new Counter({
      name: 'shardline_checkpoint_failures_total',
      help: 'Failed checkpoint writes',
      registers,
    });
    this.#failedSent = new Counter({
      name: 'shardline_failed_records_sent_total',
      help: 'Records sent to the failure destination',
      registers,
    });
    // Read at scrape time: fencing is a state of the lease coordinator, not an event counted here.
    const fencedProbe = () => this.#fencedProbe();
    new Gauge({
      name: 'shardline_worker_fenced',
      help: '1 while the worker has fenced itself (no lease heartbeat for a lease duration: it runs no shard)',
      registers,
      collect() {
        this.set(fencedProbe() ? 1 : 0);
      },
    });
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  batchProcessed(_shardId: string, records: number, seconds: number): void {
    this.#records.inc(records);
    this.#batches.inc();
    this.#duration.observe(seconds);
  }

  lag(shardId: string, millisBehindLatest: number): void {
    this.#lag.set({ shard_id: shardId }, millisBehindLatest);
  }

  checkpointFailed(): void {
    this.#checkpointFailures.inc();
  }

  failedRecordsSent(records: number): void {
    this.#failedSent.inc(records);
  }

  shardClosed(shardId: string): void {
    this.#lag.remove({ shard_id: shardId });
  }

  /** Where `shardline_worker_fenced` reads the coordinator's state (set once it exists). */
  watchFenced(probe: () => boolean): void {
    this.#fencedProbe = probe;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
