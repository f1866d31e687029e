import type { Clock } from '@shardline/core';

export const STREAM_VIEW_TYPES = ['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES'] as const;
export type StreamViewType = (typeof STREAM_VIEW_TYPES)[number];

export const OPERATIONS = ['ListStreams', 'DescribeStream', 'GetShardIterator', 'GetRecords'] as const;
export type Operation = (typeof OPERATIONS)[number];

export type EventName = 'INSERT' | 'MODIFY' | 'REMOVE';

/** One record the simulator wrote, in write order: what an audit compares deliveries against. */
export interface ManifestEntry {
  shardId: string;
  sequenceNumber: string;
  key: string;
  eventName: EventName;
}

/** Options of `startStreamSimulator`; all optional. */
export interface StreamSimulatorOptions {
  /** Port on 127.0.0.1. @defaultValue 0 (any free port) */
  port?: number;
  /** Time source for record timestamps, iterator expiry and retention; a ManualClock gives virtual time. @defaultValue systemClock */
  clock?: Clock;
  /** Open shards at start, dividing the key hash space evenly. @defaultValue 1 */
  shards?: number;
  /** @defaultValue 'shardline-sim' */
  tableName?: string;
  /** @defaultValue 'NEW_AND_OLD_IMAGES' */
  viewType?: StreamViewType;
  /** Records older than this are trimmed; closed shards vanish this long after closing. @defaultValue 24 h */
  retentionMs?: number;
  /** A shard iterator expires this long after it was issued. @defaultValue 15 min */
  iteratorTtlMs?: number;
  /** Seed for shard ids, event ids, sequence-number gaps and probabilistic faults. @defaultValue 1 */
  seed?: number;
  /** `awsRegion` of records and the region in the stream ARN. @defaultValue 'us-east-1' */
  region?: string;
}

export interface ResolvedSimulatorOptions {
  port: number;
  clock: Clock;
  shards: number;
  tableName: string;
  viewType: StreamViewType;
  retentionMs: number;
  iteratorTtlMs: number;
  seed: number;
  region: string;
}
