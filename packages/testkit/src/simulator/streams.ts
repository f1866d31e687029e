import type { Clock } from '@shardline/core';
import type { Random } from './random.js';
import { SequenceCounter, StreamStore } from './store.js';
import type { ManifestEntry, StreamViewType } from './types.js';

export type StreamStatus = 'ENABLED' | 'DISABLED';

export interface StreamMeta {
  streamArn: string;
  streamLabel: string;
  tableName: string;
  viewType: StreamViewType;
  createdAtMs: number;
}

export interface StreamEntry {
  readonly meta: StreamMeta;
  readonly store: StreamStore;
  status: StreamStatus;
  disabledAtMs: number | undefined;
}

export interface RegistryOptions {
  clock: Clock;
  random: Random;
  region: string;
  tableName: string;
  viewType: StreamViewType;
  retentionMs: number;
  shards: number;
}

/**
 * The table's streams: the current one, and those disabled earlier, which stay readable
 * (DISABLED, every shard closed) until retention has passed, as on the service. Records of all
 * of them share one sequence counter, one set of shard ids and one manifest.
 */
export class StreamRegistry {
  readonly #options: RegistryOptions;
  readonly #sequence: SequenceCounter;
  readonly #manifest: ManifestEntry[] = [];
  readonly #shardIds = new Set<string>();
  #streams: StreamEntry[] = [];

  constructor(options: RegistryOptions) {
    this.#options = options;
    this.#sequence = new SequenceCounter(options.random);
    this.#streams.push(this.#create());
  }

  current(): StreamEntry {
    return this.#streams[this.#streams.length - 1]!;
  }

  /** Streams still visible, oldest first. */
  list(): StreamEntry[] {
    this.#sweep();
    return this.#streams;
  }

  byArn(streamArn: string): StreamEntry | undefined {
    return this.list().find((entry) => entry.meta.streamArn === streamArn);
  }

  byLabel(streamLabel: string): StreamEntry | undefined {
    return this.list().find((entry) => entry.meta.streamLabel === streamLabel);
  }

  /** Disables the current stream (its open shards close) and enables a new one: a new label and ARN. */
  recreate(): StreamEntry {
    const old = this.current();
    old.store.closeAll();
    old.status = 'DISABLED';
    old.disabledAtMs = this.#options.clock.now();
    const created = this.#create();
    this.#streams.push(created);
    return created;
  }

  manifest(): ManifestEntry[] {
    return this.#manifest.map((entry) => ({ ...entry }));
  }

  #create(): StreamEntry {
    const { clock, region, tableName, viewType, retentionMs, shards, random } = this.#options;
    const createdAtMs = clock.now();
    // Labels are creation times; two streams made in the same virtual millisecond still differ.
    let labelMs = createdAtMs;
    const used = new Set(this.#streams.map((entry) => entry.meta.streamLabel));
    let streamLabel: string;
    while (used.has((streamLabel = new Date(labelMs).toISOString().replace('Z', '')))) labelMs++;
    const store = new StreamStore({
      clock,
      random,
      viewType,
      region,
      retentionMs,
      shards,
      sequence: this.#sequence,
      manifest: this.#manifest,
      shardIds: this.#shardIds,
    });
    return {
      meta: {
        streamArn: `arn:aws:dynamodb:${region}:000000000000:table/${tableName}/stream/${streamLabel}`,
        streamLabel,
        tableName,
        viewType,
        createdAtMs,
      },
      store,
      status: 'ENABLED',
      disabledAtMs: undefined,
    };
  }

  /** Forgets disabled streams whose records and shards are all past retention. */
  #sweep(): void {
    const horizon = this.#options.clock.now() - this.#options.retentionMs;
    if (this.#streams.some((entry) => entry.disabledAtMs !== undefined && entry.disabledAtMs <= horizon)) {
      this.#streams = this.#streams.filter((entry) => entry.disabledAtMs === undefined || entry.disabledAtMs > horizon);
    }
  }
}
