import {
  ConfigError,
  integerInRange,
  nonNegativeInteger,
  nonEmptyString,
  oneOf,
  positiveInteger,
  rejectUnknownKeys,
  requireThat,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
} from '@shardline/core';
import type { StreamsClient } from './client.js';
import { validateStartPosition, type StartPosition } from './position.js';

/** An iterator expires 15 minutes after it is issued (GetShardIterator API reference). */
export const ITERATOR_TTL_MS = 15 * 60_000;

/** GetRecords returns at most 1,000 records a call. */
export const GET_RECORDS_MAX_LIMIT = 1000;

export type TrimmedPolicy = 'TRIM_HORIZON' | 'stop';

export interface ShardReaderOptions {
  /** A `DynamoDBStreamsClient`, or anything with its `send`. */
  client: StreamsClient;
  streamArn: string;
  shardId: string;
  start: StartPosition;
  /** Records per GetRecords call (1–1000). @defaultValue 1000 */
  limit?: number;
  /**
   * The fast poll interval: the wait after the first empty response from an open shard, and
   * the interval a busy shard is polled at. @defaultValue 200
   */
  idleIntervalMs?: number;
  /**
   * Each further empty response in a row doubles the wait (with jitter below the ceiling) up to
   * this cap; a batch with records brings it back to `idleIntervalMs`. The trade-off: an idle
   * shard costs about 1 000 / (0.9 × cap) billed GetRecords a second (0.56 at 2 s; 5 with a fixed
   * 200 ms), and the first record after a long idle waits up to the cap. Set it equal to
   * `idleIntervalMs` for a fixed interval. @defaultValue 2000
   */
  maxIdleIntervalMs?: number;
  /**
   * An iterator older than this is replaced before use (AFTER_SEQUENCE_NUMBER of the last record
   * received), so the 15-minute expiry is never hit in normal running. Below 15 minutes.
   * @defaultValue 720000 (12 minutes)
   */
  iteratorRefreshMs?: number;
  /** Batches fetched ahead of the consumer; 0 fetches only on demand. @defaultValue 2 */
  prefetch?: number;
  /**
   * What to do when the position was trimmed (records older than 24 h): `TRIM_HORIZON` reads on
   * from the oldest record still there, `stop` makes the iterator throw `TrimmedDataError`.
   * Either way a `records:trimmed` event and an error log name the gap.
   * @defaultValue 'TRIM_HORIZON'
   */
  onTrimmed?: TrimmedPolicy;
  /** Attempts per call (the first included) on throttling and transient failures. @defaultValue 10 */
  maxAttempts?: number;
  /** First backoff ceiling; full jitter below it, doubling per attempt. @defaultValue 100 */
  backoffBaseMs?: number;
  /** Largest backoff ceiling. @defaultValue 10000 */
  backoffCapMs?: number;
  /** @defaultValue systemClock */
  clock?: Clock;
  /** Backoff jitter source, in [0, 1). @defaultValue Math.random */
  random?: () => number;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Stops the reader: pending `next()` calls end the iteration, in-flight requests are cancelled. */
  signal?: AbortSignal;
}

export interface ResolvedShardReaderOptions {
  client: StreamsClient;
  streamArn: string;
  shardId: string;
  start: StartPosition;
  limit: number;
  idleIntervalMs: number;
  maxIdleIntervalMs: number;
  iteratorRefreshMs: number;
  prefetch: number;
  onTrimmed: TrimmedPolicy;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  clock: Clock;
  random: () => number;
  logger: Logger;
  signal: AbortSignal | undefined;
}

/** One silent logger for every reader without one: a pino instance per shard would be waste. */
let silent: Logger | undefined;

export const SHARD_READER_DEFAULTS = {
  limit: GET_RECORDS_MAX_LIMIT,
  idleIntervalMs: 200,
  maxIdleIntervalMs: 2000,
  iteratorRefreshMs: 12 * 60_000,
  prefetch: 2,
  onTrimmed: 'TRIM_HORIZON',
  maxAttempts: 10,
  backoffBaseMs: 100,
  backoffCapMs: 10_000,
} as const satisfies Partial<ResolvedShardReaderOptions>;

const KNOWN: readonly (keyof ShardReaderOptions)[] = [
  'client',
  'streamArn',
  'shardId',
  'start',
  'limit',
  'idleIntervalMs',
  'maxIdleIntervalMs',
  'iteratorRefreshMs',
  'prefetch',
  'onTrimmed',
  'maxAttempts',
  'backoffBaseMs',
  'backoffCapMs',
  'clock',
  'random',
  'logger',
  'signal',
];

/** The reader's tunables: what a `Worker` passes through as its `reader` option. */
const TUNING_KEYS = ['limit', 'idleIntervalMs', 'maxIdleIntervalMs', 'iteratorRefreshMs', 'prefetch'] as const;
export type ShardReaderTuning = Pick<ShardReaderOptions, (typeof TUNING_KEYS)[number]>;
export type ResolvedShardReaderTuning = Pick<ResolvedShardReaderOptions, (typeof TUNING_KEYS)[number]>;

/**
 * The tunables alone, with their defaults and cross-field checks: a `Worker` calls this at
 * construction so bad reader options fail there. Idempotent (a resolved set resolves to itself).
 */
export function resolveShardReaderTuning(options: ShardReaderTuning): ResolvedShardReaderTuning {
  rejectUnknownKeys('reader', options, TUNING_KEYS);
  return resolveTuning(options);
}

function resolveTuning(options: ShardReaderTuning): ResolvedShardReaderTuning {
  const idleIntervalMs = positiveInteger(
    'idleIntervalMs',
    options.idleIntervalMs ?? SHARD_READER_DEFAULTS.idleIntervalMs,
  );
  const resolved: ResolvedShardReaderTuning = {
    limit: integerInRange('limit', options.limit ?? SHARD_READER_DEFAULTS.limit, 1, GET_RECORDS_MAX_LIMIT),
    idleIntervalMs,
    // An explicit fast interval above the default cap raises the cap with it (a fixed interval),
    // instead of failing a configuration that only ever set idleIntervalMs.
    maxIdleIntervalMs: positiveInteger(
      'maxIdleIntervalMs',
      options.maxIdleIntervalMs ?? Math.max(SHARD_READER_DEFAULTS.maxIdleIntervalMs, idleIntervalMs),
    ),
    iteratorRefreshMs: positiveInteger(
      'iteratorRefreshMs',
      options.iteratorRefreshMs ?? SHARD_READER_DEFAULTS.iteratorRefreshMs,
    ),
    prefetch: nonNegativeInteger('prefetch', options.prefetch ?? SHARD_READER_DEFAULTS.prefetch),
  };
  requireThat(
    resolved.iteratorRefreshMs < ITERATOR_TTL_MS,
    `iteratorRefreshMs (${resolved.iteratorRefreshMs}) must be below the 15-minute iterator expiry (${ITERATOR_TTL_MS}); leave it at the default 12 minutes unless you know why`,
  );
  requireThat(
    resolved.idleIntervalMs < resolved.iteratorRefreshMs,
    `idleIntervalMs (${resolved.idleIntervalMs}) must be below iteratorRefreshMs (${resolved.iteratorRefreshMs}), or every poll would start with a refresh`,
  );
  requireThat(
    resolved.maxIdleIntervalMs >= resolved.idleIntervalMs,
    `maxIdleIntervalMs (${resolved.maxIdleIntervalMs}) must not be below idleIntervalMs (${resolved.idleIntervalMs}); set them equal for a fixed poll interval`,
  );
  requireThat(
    resolved.maxIdleIntervalMs < resolved.iteratorRefreshMs,
    `maxIdleIntervalMs (${resolved.maxIdleIntervalMs}) must be below iteratorRefreshMs (${resolved.iteratorRefreshMs}), or every idle poll would start with a refresh`,
  );
  requireThat(
    resolved.prefetch <= 100,
    `prefetch (${resolved.prefetch}) holds up to that many batches of ${resolved.limit} records in memory; keep it at 100 or less`,
  );
  return resolved;
}

export function resolveShardReaderOptions(options: ShardReaderOptions): ResolvedShardReaderOptions {
  rejectUnknownKeys('ShardReader', options, KNOWN);
  if (typeof options.client?.send !== 'function')
    throw new ConfigError('ShardReader needs a client with send() (a DynamoDBStreamsClient)');
  const resolved: ResolvedShardReaderOptions = {
    client: options.client,
    streamArn: nonEmptyString('streamArn', options.streamArn),
    shardId: nonEmptyString('shardId', options.shardId),
    start: validateStartPosition(options.start, 'start'),
    ...resolveTuning(options),
    onTrimmed: oneOf('onTrimmed', options.onTrimmed ?? SHARD_READER_DEFAULTS.onTrimmed, [
      'TRIM_HORIZON',
      'stop',
    ] as const),
    maxAttempts: positiveInteger('maxAttempts', options.maxAttempts ?? SHARD_READER_DEFAULTS.maxAttempts),
    backoffBaseMs: positiveInteger('backoffBaseMs', options.backoffBaseMs ?? SHARD_READER_DEFAULTS.backoffBaseMs),
    backoffCapMs: positiveInteger('backoffCapMs', options.backoffCapMs ?? SHARD_READER_DEFAULTS.backoffCapMs),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    logger: options.logger ?? (silent ??= silentLogger()),
    signal: options.signal,
  };
  requireThat(
    resolved.backoffBaseMs <= resolved.backoffCapMs,
    `backoffBaseMs (${resolved.backoffBaseMs}) must not exceed backoffCapMs (${resolved.backoffCapMs})`,
  );
  return resolved;
}
