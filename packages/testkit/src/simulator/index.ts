import {
  integerInRange,
  nonEmptyString,
  nonNegativeInteger,
  oneOf,
  positiveInteger,
  rejectUnknownKeys,
  systemClock,
  type Clock,
  type ShardInfo,
} from '@shardline/core';
import { FaultController, type SimulatorFaults } from './faults.js';
import { createRandom } from './random.js';
import { startSchedule, type ScheduleHandle, type ScheduleOptions } from './schedule.js';
import { startServer } from './server.js';
import { StreamRegistry, type StreamStatus } from './streams.js';
import {
  STREAM_VIEW_TYPES,
  type ManifestEntry,
  type Operation,
  type ResolvedSimulatorOptions,
  type StreamSimulatorOptions,
} from './types.js';

export interface StreamSimulator {
  /** `http://127.0.0.1:PORT`: pass it as `endpoint` to a DynamoDBStreamsClient. */
  readonly endpoint: string;
  readonly port: number;
  /** The current stream's ARN (changes with `recreateStream()`). */
  readonly streamArn: string;
  readonly streamLabel: string;
  readonly tableName: string;
  readonly clock: Clock;
  /** Writes the item under `key` (INSERT, or MODIFY when the key holds an item) to the shard owning the key. */
  put(key: string, item: Record<string, unknown>): ManifestEntry;
  /**
   * Deletes the item (REMOVE); returns undefined and writes nothing when there is none, as
   * DynamoDB does. `ttl: true` makes it a Time to Live delete: the record carries
   * `userIdentity { PrincipalId: 'dynamodb.amazonaws.com', Type: 'Service' }`.
   */
  remove(key: string, options?: { ttl?: boolean }): ManifestEntry | undefined;
  /** Closes an open shard and opens one child that owns the same keys. */
  rollover(shardId: string): ShardInfo;
  /** Closes an open shard and opens two children that divide its keys. */
  split(shardId: string): [ShardInfo, ShardInfo];
  /**
   * Disables the current stream (every open shard closes; it stays readable, DISABLED, for the
   * retention period) and enables a new one with a new label and ARN, as turning a table's
   * stream off and on does. Later writes go to the new stream. Returns the new ARN.
   */
  recreateStream(): string;
  /** The table's streams still visible to ListStreams, oldest first. */
  streams(): Array<{ streamArn: string; streamLabel: string; status: StreamStatus }>;
  /** Every shard DescribeStream would list now for the current stream, in creation order. */
  shards(): ShardInfo[];
  /** Open shards, in key-hash order. */
  openShardIds(): string[];
  /** The open shard a key's writes go to now. */
  shardFor(key: string): string;
  readonly faults: SimulatorFaults;
  /** Starts traffic and topology changes on the simulator's clock; stopped by `stop()` at the latest. */
  schedule(options: ScheduleOptions): ScheduleHandle;
  /** Every record written, in write order (trimmed ones included). */
  manifest(): ManifestEntry[];
  /** Calls received per operation, faults included. */
  calls(): Record<Operation, number>;
  /** Stops the schedules, closes the server and its connections. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULTS = {
  port: 0,
  clock: systemClock,
  shards: 1,
  tableName: 'shardline-sim',
  viewType: 'NEW_AND_OLD_IMAGES',
  retentionMs: 24 * 60 * 60 * 1000,
  iteratorTtlMs: 15 * 60 * 1000,
  seed: 1,
  region: 'us-east-1',
} satisfies ResolvedSimulatorOptions;

export function resolveSimulatorOptions(options: StreamSimulatorOptions = {}): ResolvedSimulatorOptions {
  rejectUnknownKeys('stream simulator', options, Object.keys(DEFAULTS));
  const merged = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
  } as ResolvedSimulatorOptions;
  integerInRange('port', merged.port, 0, 65535);
  positiveInteger('shards', merged.shards);
  integerInRange('shards', merged.shards, 1, 100_000);
  nonEmptyString('tableName', merged.tableName);
  oneOf('viewType', merged.viewType, STREAM_VIEW_TYPES);
  positiveInteger('retentionMs', merged.retentionMs);
  positiveInteger('iteratorTtlMs', merged.iteratorTtlMs);
  nonNegativeInteger('seed', merged.seed);
  nonEmptyString('region', merged.region);
  return merged;
}

/**
 * Starts a DynamoDB Streams look-alike on 127.0.0.1 that the real `DynamoDBStreamsClient`
 * talks to unchanged, with scripted lineage (rollover, split), faults and a manifest of every
 * record for audits. DynamoDB Local gives a stream one shard and rolls it over only by age;
 * this is where splits, scale and throttling get tested.
 */
export async function startStreamSimulator(options: StreamSimulatorOptions = {}): Promise<StreamSimulator> {
  const config = resolveSimulatorOptions(options);
  const { clock } = config;
  const random = createRandom(config.seed);
  const streams = new StreamRegistry({
    clock,
    random,
    region: config.region,
    tableName: config.tableName,
    viewType: config.viewType,
    retentionMs: config.retentionMs,
    shards: config.shards,
  });
  const store = () => streams.current().store;
  // Faults get their own stream of randomness so adding a fault does not change shard ids or data.
  const faults = new FaultController(createRandom(config.seed ^ 0x5eed), clock);
  const server = await startServer(config.port, { streams, clock, iteratorTtlMs: config.iteratorTtlMs }, faults);
  const schedules = new Set<ScheduleHandle>();
  let stopping: Promise<void> | undefined;

  return {
    endpoint: server.endpoint,
    port: server.port,
    get streamArn() {
      return streams.current().meta.streamArn;
    },
    get streamLabel() {
      return streams.current().meta.streamLabel;
    },
    tableName: config.tableName,
    clock,
    put: (key, item) => store().put(requireKey(key), item),
    remove: (key, removeOptions) => store().remove(requireKey(key), removeOptions),
    rollover: (shardId) => store().rollover(shardId),
    split: (shardId) => store().split(shardId),
    recreateStream: () => streams.recreate().meta.streamArn,
    streams: () =>
      streams.list().map(({ meta, status }) => ({ streamArn: meta.streamArn, streamLabel: meta.streamLabel, status })),
    shards: () => store().shards(),
    openShardIds: () => store().openShardIds(),
    shardFor: (key) => store().ownerOf(requireKey(key)).id,
    faults,
    schedule(scheduleOptions) {
      if (stopping) throw new Error('the simulator is stopped');
      const handle = startSchedule(store, clock, createRandom(config.seed + 1 + schedules.size), scheduleOptions);
      schedules.add(handle);
      return handle;
    },
    manifest: () => streams.manifest(),
    calls: () => ({ ...server.calls }),
    stop() {
      stopping ??= (async () => {
        await Promise.all([...schedules].map((handle) => handle.stop()));
        await server.close();
      })();
      return stopping;
    },
  };
}

function requireKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0)
    throw new TypeError(`key must be a non-empty string, got ${JSON.stringify(key)}`);
  return key;
}

export type { StreamSimulatorOptions, ManifestEntry, StreamViewType, Operation, EventName } from './types.js';
export type { SimulatorFaults, FaultKind, ThrottleOptions } from './faults.js';
export type { StreamStatus } from './streams.js';
export { SERVICE_RATE_LIMITS, type CallRateLimits } from './limits.js';
export type { ScheduleOptions, ScheduleHandle } from './schedule.js';
