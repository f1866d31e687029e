import { BUILT_IN_HEALTH_PATHS, type HealthRoute } from './health-server.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import {
  ConfigError,
  integerInRange,
  nonEmptyString,
  nonNegativeInteger as nonNegative,
  oneOf,
  positiveInteger,
  rejectUnknownKeys,
  requireThat,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
} from '@shardline/core';
import {
  checkLeaseTableName,
  resolveLeaseTuning,
  tableOfStream,
  type LeaseTuningOptions,
  type ResolvedLeaseTuning,
} from '@shardline/leases';
import { resolveShardReaderTuning, type ResolvedShardReaderTuning, type ShardReaderTuning } from '@shardline/streams';
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { resolveBatchingOptions, type BatchingOptions, type ResolvedBatching } from './batch-gatherer.js';
import { CLIENT_DEFAULTS, resolveClientOptions } from './clients.js';
import { resolveEmfOptions, type EmfOptions, type ResolvedEmfOptions } from './emf.js';
import type { Coordinator, ReaderFactory } from './contracts.js';
import { DynamoDBTableDestination, JsonlFileDestination, type FailureDestination } from './destinations.js';
import type { ResolvedFailurePolicy } from './failure-policy.js';
import { toProcessorFactory, type ProcessorFactory, type RecordProcessor } from './processor.js';

export type DestinationOption =
  FailureDestination | { type: 'jsonl'; path: string } | { type: 'dynamodb'; tableName: string; keyAttribute?: string };

export interface FailurePolicyOptions {
  /**
   * Retries after the first failed attempt of a batch, 0–10,000 (Lambda's range), or -1: until
   * the records expire (older than `maxRecordAgeMs`, or than the stream's 24 h retention).
   * @defaultValue 3
   */
  maxRetries?: number;
  /** Backoff (full jitter) ceiling of the first retry. @defaultValue 100 */
  retryBaseMs?: number;
  /** Largest backoff ceiling. @defaultValue 5_000 */
  retryCapMs?: number;
  /** After the retries, split the batch in halves (recursively) to isolate the bad record. @defaultValue false */
  bisectOnError?: boolean;
  /**
   * What to do with records the processor keeps failing on: `destination` stores them there and
   * moves on; `stop` stops the shard (it stays stalled, with a `shard:failed` event and an
   * error log) until someone fixes the processor.
   * @defaultValue 'destination' when a destination is set, otherwise 'stop'
   */
  onFailure?: 'destination' | 'stop';
  /** Built in: `{ type: 'jsonl', path }`, `{ type: 'dynamodb', tableName }`; or any `FailureDestination`. */
  destination?: DestinationOption;
  /**
   * Records older than this (ApproximateCreationDateTime) go to the on-failure action
   * unprocessed, before their first attempt or between retries. @defaultValue no limit
   */
  maxRecordAgeMs?: number;
  /** An attempt of processRecords that has not settled by then fails (and is retried). @defaultValue 60_000 */
  processorTimeoutMs?: number;
}

/** Where a stream comes from: a table (its latest stream, resolved at start) or a stream ARN. */
export type StreamSource = { tableName: string; streamArn?: undefined } | { streamArn: string; tableName?: undefined };

export interface WorkerOptions<T = Record<string, unknown>> {
  /**
   * The processor (shared by all shards of all streams) or a factory returning one per shard.
   * Required unless `processors` names one for every table.
   */
  processor?: RecordProcessor<T> | ProcessorFactory<T>;
  /**
   * One processor (or factory) per table name: a table's batches go to its own, the others' to
   * `processor`. @defaultValue `processor` for every table
   */
  processors?: Record<string, RecordProcessor<T> | ProcessorFactory<T>>;
  /** The table whose stream to consume (its latest stream): the single-stream shorthand of `tables`. */
  tableName?: string;
  /** A stream ARN (single-stream shorthand of `streamArns`); wins over tableName. */
  streamArn?: string;
  /**
   * Several tables, one application: every table's latest stream, sharing one lease table and
   * one fleet (balanced over the shards of all of them). With `streamArns`, the union.
   */
  tables?: readonly string[];
  /** Several streams by ARN (see `tables`). */
  streamArns?: readonly string[];
  /** Names the consumer group. @defaultValue the (first) table name */
  applicationName?: string;
  /** @defaultValue `shardline-<applicationName>` */
  leaseTableName?: string;
  /** Unique per process. @defaultValue `<hostname>-<pid>-<random>` */
  workerId?: string;
  /**
   * A client for the table and the lease table; created from endpoint/region when absent (and
   * destroyed on stop). Give yours a request timeout (`createDynamoDBClient` does): the SDK has
   * none by default, so a hung request would stall a shard or the lease heartbeat.
   */
  dynamodb?: DynamoDBClient;
  /** A DynamoDB Streams client; created when absent. Same advice as `dynamodb` on timeouts. */
  streams?: DynamoDBStreamsClient;
  /** One endpoint for both services (DynamoDB Local). @defaultValue the AWS endpoint of `region` */
  endpoint?: string;
  /** Endpoint of DynamoDB (table, lease table) only; wins over `endpoint`. */
  dynamodbEndpoint?: string;
  /** Endpoint of DynamoDB Streams only (e.g. the simulator); wins over `endpoint`. */
  streamsEndpoint?: string;
  /** @defaultValue the SDK's default chain (AWS_REGION…) */
  region?: string;
  /** @defaultValue the SDK's default credential chain */
  credentials?: AwsCredentialIdentity;
  /**
   * Per-attempt request timeout of the clients the worker creates (not of ones you pass in): a
   * GetRecords or lease write with no full answer by then fails and is retried.
   * @defaultValue 10_000
   */
  requestTimeoutMs?: number;
  /** Connection timeout of the clients the worker creates. @defaultValue 3_000, or requestTimeoutMs when smaller */
  connectionTimeoutMs?: number;
  /** @defaultValue 'auto' (after each batch resolves) */
  checkpointMode?: 'auto' | 'manual';
  /**
   * Auto mode: a shard's checkpoint is written at most once per this interval, with the newest
   * completed position (never one whose batch has not resolved). Writes are off the read path
   * either way; this bounds their number while a shard catches up (each costs a write unit).
   * Always flushed at shard end, hand-off and shutdown. A crash re-delivers at most this much
   * more. 0 writes after every batch. 5 s keeps a busy shard at 12 writes a minute: 64 busy
   * shards on 4 workers write the lease table ~1,000 times a minute with their heartbeats, below
   * KCL's 1,152 renewals alone (at 1 s it was ~4,100: issue #9).
   * @defaultValue 5_000
   */
  checkpointIntervalMs?: number;
  /** Records of different keys of one shard processed concurrently, up to this many key groups. @defaultValue 1 (off) */
  keyConcurrency?: number;
  /**
   * How shards are shared (`@shardline/leases`, which documents, defaults and checks each):
   * `initialPosition`, `leaseDurationMs`, `heartbeatIntervalMs` (a tenth of the lease duration
   * by default, what bounds hand-off time), `assignmentIntervalMs`, `shardSyncIntervalMs`,
   * `handOffTimeoutMs`, `takeoverMarginMs`, `maxLeasesPerWorker`.
   */
  leases?: LeaseTuningOptions;
  /**
   * How shards are read (`@shardline/streams`' ShardReader, which documents, defaults and
   * checks each): `limit` (records per GetRecords), `idleIntervalMs` (wait after an empty read
   * of an open shard), `maxIdleIntervalMs` (the cap that wait doubles up to while the shard
   * stays empty), `prefetch` (batches fetched ahead of the processor), `iteratorRefreshMs`.
   */
  reader?: ShardReaderTuning;
  /**
   * Gather records across reads into one processRecords call, as Lambda's `BatchSize` and
   * `MaximumBatchingWindowInSeconds` do (batch-gatherer.ts): `maxRecords` (up to 10,000),
   * `maxWindowMs` (up to 300,000), `maxBytes` (6 MB). @defaultValue off: one call per read
   */
  batching?: BatchingOptions;
  failurePolicy?: FailurePolicyOptions;
  /** `stop()` resolves within this; in-flight batches are aborted (ctx.signal) when it runs out. @defaultValue 20_000 */
  shutdownTimeoutMs?: number;
  /** Serve /healthz, /readyz, /metrics on this port (0 = any free port). @defaultValue off */
  healthPort?: number;
  /** @defaultValue '127.0.0.1' */
  healthHost?: string;
  /**
   * More GET routes on the health server, by path (e.g. `{ '/status': handler }`: the CLI's
   * `--status-page`). A route cannot replace /healthz, /readyz or /metrics. @defaultValue none
   */
  healthRoutes?: Readonly<Record<string, HealthRoute>>;
  /** Also export Node process metrics (prom-client defaults). @defaultValue false */
  processMetrics?: boolean;
  /**
   * Where metrics go besides the Prometheus registry (`/metrics`): `otel`, an OpenTelemetry
   * MeterProvider that gets the same instruments; `emf`, CloudWatch Embedded Metric Format lines
   * (true, or `{ namespace, intervalMs, write }`). @defaultValue Prometheus only
   */
  metrics?: { otel?: MeterProvider; emf?: boolean | EmfOptions };
  /** Spans around each batch (processor time) and each checkpoint write. @defaultValue no spans */
  tracerProvider?: TracerProvider;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** @defaultValue systemClock */
  clock?: Clock;
  /** @defaultValue Math.random */
  random?: () => number;
  /** Advanced / tests: a coordinator instead of the @shardline/leases one. */
  coordinator?: Coordinator;
  /** Advanced / tests: a reader factory instead of @shardline/streams ShardReader. */
  readerFactory?: ReaderFactory;
}

export const DEFAULTS = {
  checkpointMode: 'auto',
  checkpointIntervalMs: 5_000,
  keyConcurrency: 1,
  shutdownTimeoutMs: 20_000,
  healthHost: '127.0.0.1',
  requestTimeoutMs: CLIENT_DEFAULTS.requestTimeoutMs,
  connectionTimeoutMs: CLIENT_DEFAULTS.connectionTimeoutMs,
  failurePolicy: {
    maxRetries: 3,
    retryBaseMs: 100,
    retryCapMs: 5_000,
    bisectOnError: false,
    processorTimeoutMs: 60_000,
  },
} as const satisfies Partial<Omit<ResolvedWorkerOptions<unknown>, 'failurePolicy'>> & {
  failurePolicy: Partial<ResolvedFailurePolicy>;
};

export interface ResolvedWorkerOptions<T> {
  /** The shared processor; undefined when `processorsByTable` covers every table. */
  processorFactory: ProcessorFactory<T> | undefined;
  /** Per-table processors (`processors`). */
  processorsByTable: ReadonlyMap<string, ProcessorFactory<T>>;
  /** The streams to consume, in the order given, at least one. */
  sources: readonly StreamSource[];
  applicationName: string;
  leaseTableName: string;
  workerId: string;
  dynamodb: DynamoDBClient | undefined;
  streams: DynamoDBStreamsClient | undefined;
  dynamodbEndpoint: string | undefined;
  streamsEndpoint: string | undefined;
  region: string | undefined;
  credentials: AwsCredentialIdentity | undefined;
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
  checkpointMode: 'auto' | 'manual';
  checkpointIntervalMs: number;
  keyConcurrency: number;
  leases: ResolvedLeaseTuning;
  reader: ResolvedShardReaderTuning;
  batching: ResolvedBatching | undefined;
  failurePolicy: ResolvedFailurePolicy;
  shutdownTimeoutMs: number;
  healthPort: number | undefined;
  healthHost: string;
  healthRoutes: Readonly<Record<string, HealthRoute>>;
  processMetrics: boolean;
  otel: MeterProvider | undefined;
  emf: ResolvedEmfOptions | undefined;
  tracerProvider: TracerProvider | undefined;
  logger: Logger;
  clock: Clock;
  random: () => number;
  coordinator: Coordinator | undefined;
  readerFactory: ReaderFactory | undefined;
}

const KNOWN: readonly (keyof WorkerOptions)[] = [
  'processor',
  'processors',
  'tableName',
  'streamArn',
  'tables',
  'streamArns',
  'applicationName',
  'leaseTableName',
  'workerId',
  'dynamodb',
  'streams',
  'endpoint',
  'dynamodbEndpoint',
  'streamsEndpoint',
  'region',
  'credentials',
  'requestTimeoutMs',
  'connectionTimeoutMs',
  'checkpointMode',
  'keyConcurrency',
  'checkpointIntervalMs',
  'leases',
  'reader',
  'batching',
  'failurePolicy',
  'shutdownTimeoutMs',
  'healthPort',
  'healthHost',
  'healthRoutes',
  'processMetrics',
  'metrics',
  'tracerProvider',
  'logger',
  'clock',
  'random',
  'coordinator',
  'readerFactory',
];
const KNOWN_POLICY: readonly (keyof FailurePolicyOptions)[] = [
  'maxRetries',
  'retryBaseMs',
  'retryCapMs',
  'bisectOnError',
  'onFailure',
  'destination',
  'maxRecordAgeMs',
  'processorTimeoutMs',
];

/** Table name from `arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`. */
export function tableNameFromStreamArn(arn: string): string | undefined {
  return tableOfStream(arn);
}

/**
 * The application a worker of these options runs as: `applicationName`, else the table of its
 * first stream (named, or read from the stream ARN); undefined when neither says. The one rule,
 * for the worker (its lease table is `shardline-<name>`) and for whoever names it before
 * starting one (the CLI's log lines).
 */
export function applicationNameOf(
  options: Pick<WorkerOptions<never>, 'applicationName' | 'tableName' | 'streamArn' | 'tables' | 'streamArns'>,
): string | undefined {
  if (options.applicationName !== undefined) return options.applicationName;
  const listed = options.tables !== undefined || options.streamArns !== undefined;
  // The first source as resolveSources orders them.
  const table = listed ? options.tables?.[0] : options.streamArn === undefined ? options.tableName : undefined;
  if (table !== undefined) return table;
  const arn = listed ? options.streamArns?.[0] : options.streamArn;
  return arn === undefined ? undefined : tableNameFromStreamArn(arn);
}

/**
 * The streams asked for: `tables` and `streamArns` together, or the single-stream shorthand
 * (`streamArn` winning over `tableName`, as it always did). Never both forms.
 */
function resolveSources(options: WorkerOptions<never>): StreamSource[] {
  const listed = options.tables !== undefined || options.streamArns !== undefined;
  if (listed && (options.tableName !== undefined || options.streamArn !== undefined))
    throw new ConfigError('give tables / streamArns or the single tableName / streamArn, not both');
  if (!listed) {
    if (options.streamArn !== undefined) return [{ streamArn: nonEmptyString('streamArn', options.streamArn) }];
    if (options.tableName !== undefined) return [{ tableName: nonEmptyString('tableName', options.tableName) }];
    throw new ConfigError(
      'Worker needs tableName or streamArn (or tables / streamArns): which stream should it consume?',
    );
  }
  const sources: StreamSource[] = [
    ...(options.tables ?? []).map((t, i) => ({ tableName: nonEmptyString(`tables[${i}]`, t) })),
    ...(options.streamArns ?? []).map((a, i) => ({ streamArn: nonEmptyString(`streamArns[${i}]`, a) })),
  ];
  requireThat(sources.length > 0, 'tables / streamArns name no stream');
  const names = sources.map((s) => s.tableName ?? s.streamArn);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  requireThat(twice === undefined, `stream source ${twice} is given twice`);
  return sources;
}

function processorFactoryOf<T>(source: RecordProcessor<T> | ProcessorFactory<T>, what: string): ProcessorFactory<T> {
  try {
    return toProcessorFactory(source);
  } catch (err) {
    throw new ConfigError(`${what}: ${(err as Error).message}`);
  }
}

export function resolveWorkerOptions<T>(options: WorkerOptions<T>): ResolvedWorkerOptions<T> {
  if (typeof options !== 'object' || options === null) throw new ConfigError('Worker options must be an object');
  rejectUnknownKeys('Worker', options, KNOWN);
  const sources = resolveSources(options);
  const processorsByTable = new Map(
    Object.entries(options.processors ?? {}).map(([table, processor]) => [
      nonEmptyString('processors key', table),
      processorFactoryOf(processor, `processors.${table}`),
    ]),
  );
  if (options.processor === undefined && processorsByTable.size === 0)
    throw new ConfigError('Worker needs a processor: an object with processRecords, or a factory returning one');
  const processorFactory =
    options.processor === undefined ? undefined : processorFactoryOf(options.processor, 'processor');
  const applicationName = applicationNameOf(options);
  if (applicationName === undefined)
    throw new ConfigError(`cannot derive applicationName from streamArn ${sources[0]!.streamArn}; set applicationName`);
  nonEmptyString('applicationName', applicationName);
  const leaseTableName = checkLeaseTableName(
    options.leaseTableName ?? `shardline-${applicationName}`,
    '; set applicationName or leaseTableName',
  );
  const policy = resolveFailurePolicy(options.failurePolicy ?? {});
  const shutdownTimeoutMs = positiveInteger(
    'shutdownTimeoutMs',
    options.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs,
  );
  const client = resolveClientOptions({
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    connectionTimeoutMs: options.connectionTimeoutMs,
  });
  return {
    processorFactory,
    processorsByTable,
    sources,
    applicationName,
    leaseTableName,
    workerId:
      options.workerId === undefined
        ? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
        : nonEmptyString('workerId', options.workerId),
    dynamodb: options.dynamodb,
    streams: options.streams,
    dynamodbEndpoint: options.dynamodbEndpoint ?? options.endpoint,
    streamsEndpoint: options.streamsEndpoint ?? options.endpoint,
    region: options.region,
    credentials: options.credentials,
    requestTimeoutMs: client.requestTimeoutMs,
    connectionTimeoutMs: client.connectionTimeoutMs,
    checkpointMode: oneOf('checkpointMode', options.checkpointMode ?? DEFAULTS.checkpointMode, [
      'auto',
      'manual',
    ] as const),
    checkpointIntervalMs: nonNegative(
      'checkpointIntervalMs',
      options.checkpointIntervalMs ?? DEFAULTS.checkpointIntervalMs,
    ),
    keyConcurrency: integerInRange('keyConcurrency', options.keyConcurrency ?? DEFAULTS.keyConcurrency, 1, 1000),
    // Each package owns its defaults and cross-field checks: resolved here only so bad input fails now.
    leases: resolveLeaseTuning(options.leases ?? {}),
    reader: resolveShardReaderTuning(options.reader ?? {}),
    batching: resolveBatchingOptions(options.batching),
    failurePolicy: policy,
    shutdownTimeoutMs,
    healthPort:
      options.healthPort === undefined ? undefined : integerInRange('healthPort', options.healthPort, 0, 65_535),
    healthHost: options.healthHost ?? DEFAULTS.healthHost,
    healthRoutes: checkHealthRoutes(options.healthRoutes ?? {}),
    processMetrics: options.processMetrics ?? false,
    ...resolveMetricsOptions(options.metrics),
    tracerProvider: options.tracerProvider,
    logger: options.logger ?? silentLogger(),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    coordinator: options.coordinator,
    readerFactory: options.readerFactory,
  };
}

function resolveMetricsOptions(metrics: WorkerOptions['metrics']): {
  otel: MeterProvider | undefined;
  emf: ResolvedEmfOptions | undefined;
} {
  if (metrics === undefined) return { otel: undefined, emf: undefined };
  rejectUnknownKeys('metrics', metrics, ['otel', 'emf']);
  if (metrics.otel !== undefined && typeof metrics.otel.getMeter !== 'function')
    throw new ConfigError('metrics.otel must be an OpenTelemetry MeterProvider (with getMeter)');
  return { otel: metrics.otel, emf: resolveEmfOptions(metrics.emf) };
}

export function resolveFailurePolicy(options: FailurePolicyOptions): ResolvedFailurePolicy {
  rejectUnknownKeys('failurePolicy', options, KNOWN_POLICY);
  const d = DEFAULTS.failurePolicy;
  const destination = options.destination === undefined ? undefined : toDestination(options.destination);
  const onFailure = oneOf('failurePolicy.onFailure', options.onFailure ?? (destination ? 'destination' : 'stop'), [
    'destination',
    'stop',
  ] as const);
  requireThat(
    onFailure !== 'destination' || destination !== undefined,
    "failurePolicy.onFailure is 'destination' but no failurePolicy.destination is set: give one ({ type: 'jsonl', path }) or use onFailure: 'stop'",
  );
  const retryBaseMs = positiveInteger('failurePolicy.retryBaseMs', options.retryBaseMs ?? d.retryBaseMs);
  const retryCapMs = positiveInteger('failurePolicy.retryCapMs', options.retryCapMs ?? d.retryCapMs);
  requireThat(
    retryBaseMs <= retryCapMs,
    `failurePolicy.retryBaseMs (${retryBaseMs}) must not exceed retryCapMs (${retryCapMs})`,
  );
  return {
    maxRetries: resolveMaxRetries(options.maxRetries ?? d.maxRetries),
    retryBaseMs,
    retryCapMs,
    bisectOnError: options.bisectOnError ?? d.bisectOnError,
    onFailure,
    destination,
    maxRecordAgeMs:
      options.maxRecordAgeMs === undefined
        ? undefined
        : positiveInteger('failurePolicy.maxRecordAgeMs', options.maxRecordAgeMs),
    processorTimeoutMs: positiveInteger(
      'failurePolicy.processorTimeoutMs',
      options.processorTimeoutMs ?? d.processorTimeoutMs,
    ),
  };
}

function resolveMaxRetries(value: number): number {
  const retries = integerInRange('failurePolicy.maxRetries', value, -1, 10_000);
  return retries === -1 ? Infinity : retries;
}

/** A placeholder until the worker has its DynamoDB client (`bindTableDestination`). */
class PendingTableDestination implements FailureDestination {
  readonly name: string;
  inner: FailureDestination | undefined;
  constructor(
    readonly tableName: string,
    readonly keyAttribute: string,
  ) {
    this.name = `dynamodb:${tableName}`;
  }
  send(records: Parameters<FailureDestination['send']>[0]): Promise<void> {
    if (!this.inner)
      return Promise.reject(new ConfigError(`failure destination ${this.name} used before the worker started`));
    return this.inner.send(records);
  }
}

function toDestination(option: DestinationOption): FailureDestination {
  if ('send' in option && typeof option.send === 'function') return option;
  if ('type' in option && option.type === 'jsonl')
    return new JsonlFileDestination(nonEmptyString('failurePolicy.destination.path', option.path));
  if ('type' in option && option.type === 'dynamodb') {
    return new PendingTableDestination(
      nonEmptyString('failurePolicy.destination.tableName', option.tableName),
      option.keyAttribute ?? 'id',
    );
  }
  throw new ConfigError(
    "failurePolicy.destination must be { type: 'jsonl', path }, { type: 'dynamodb', tableName } or an object with send(records)",
  );
}

/** Gives a `{ type: 'dynamodb' }` destination the worker's client. */
export function bindTableDestination(destination: FailureDestination | undefined, client: DynamoDBClient): void {
  if (destination instanceof PendingTableDestination) {
    destination.inner = new DynamoDBTableDestination({
      client,
      tableName: destination.tableName,
      keyAttribute: destination.keyAttribute,
    });
  }
}

/** Extra health-server routes may add paths, never shadow the built-in ones. */
function checkHealthRoutes(routes: Readonly<Record<string, HealthRoute>>): Readonly<Record<string, HealthRoute>> {
  for (const path of Object.keys(routes)) {
    if (!path.startsWith('/')) throw new ConfigError(`healthRoutes: path ${JSON.stringify(path)} must start with /`);
    if ((BUILT_IN_HEALTH_PATHS as readonly string[]).includes(path))
      throw new ConfigError(`healthRoutes: ${path} is the health server's own; choose another path`);
  }
  return routes;
}
