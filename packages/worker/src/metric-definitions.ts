/**
 * The one list of the worker's metrics. The Prometheus registry, the OpenTelemetry meter and the
 * CloudWatch EMF lines are all built from it, so a metric is named, described and labelled once.
 *
 * Names are Prometheus names. OpenTelemetry instruments take the name without the `_total`
 * suffix of counters (an OTel Prometheus exporter adds it back, so a collector shows the same
 * series as `/metrics`). `emf` names the CloudWatch metric where KCL has one that means the same.
 */
export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface EmfMapping {
  /** The CloudWatch metric name (KCL's where it maps). */
  readonly name: string;
  readonly unit: 'Count' | 'Milliseconds';
}

export interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labels: readonly string[];
  /** Histograms: bucket upper bounds (the same for Prometheus and OpenTelemetry). */
  readonly buckets?: readonly number[];
  readonly emf?: EmfMapping;
}

export const METRIC_DEFINITIONS = {
  recordsProcessed: {
    name: 'shardline_records_processed_total',
    help: 'Stream records processed',
    kind: 'counter',
    labels: [],
    emf: { name: 'RecordsProcessed', unit: 'Count' },
  },
  batchesProcessed: {
    name: 'shardline_batches_processed_total',
    help: 'Batches processed',
    kind: 'counter',
    labels: [],
  },
  batchDuration: {
    name: 'shardline_batch_processing_seconds',
    help: 'Time to process one batch, retries included',
    kind: 'histogram',
    labels: [],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  },
  millisBehindLatest: {
    name: 'shardline_millis_behind_latest',
    help: 'MillisBehindLatest of the last read, per shard',
    kind: 'gauge',
    labels: ['shard_id', 'stream_arn'],
    emf: { name: 'MillisBehindLatest', unit: 'Milliseconds' },
  },
  leasesHeld: {
    name: 'shardline_leases_held',
    help: 'Leases this worker holds',
    kind: 'gauge',
    labels: [],
    emf: { name: 'LeasesHeld', unit: 'Count' },
  },
  leasesLost: {
    name: 'shardline_leases_lost_total',
    help: 'Leases lost to other workers or expiry',
    kind: 'counter',
    labels: [],
  },
  streamsReplaced: {
    name: 'shardline_streams_replaced_total',
    help: 'Followed tables found with a new stream (disabled and re-enabled), counted by the leader that noticed',
    kind: 'counter',
    labels: [],
  },
  iteratorRefreshes: {
    name: 'shardline_iterator_refreshes_total',
    help: 'Shard iterators refreshed (age or expiry)',
    kind: 'counter',
    labels: ['reason'],
  },
  throttles: {
    name: 'shardline_throttles_total',
    help: 'Throttled Streams calls',
    kind: 'counter',
    labels: [],
  },
  trimmed: {
    name: 'shardline_trimmed_data_events_total',
    help: 'TrimmedDataAccessException events (records lost to retention)',
    kind: 'counter',
    labels: [],
  },
  checkpointFailures: {
    name: 'shardline_checkpoint_failures_total',
    help: 'Failed checkpoint writes',
    kind: 'counter',
    labels: [],
  },
  failedRecordsSent: {
    name: 'shardline_failed_records_sent_total',
    help: 'Records sent to the failure destination',
    kind: 'counter',
    labels: [],
  },
  workerFenced: {
    name: 'shardline_worker_fenced',
    help: '1 while the worker has fenced itself (no lease heartbeat for a lease duration: it runs no shard)',
    kind: 'gauge',
    labels: [],
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricId = keyof typeof METRIC_DEFINITIONS;

/** The OpenTelemetry instrument name of a definition (see the header). */
export function otelName(def: MetricDefinition): string {
  return def.kind === 'counter' ? def.name.replace(/_total$/, '') : def.name;
}
