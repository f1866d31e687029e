import { relatedLeaseKey, streamNameOf } from '@shardline/leases';

/**
 * What the status page learns by reading the lease table again and again, which one read cannot
 * tell: heartbeat ages and records/s measured on this server's clock (a worker's own timestamps
 * are its machine's), and the recent events — leases taken or moved, hand-offs, shards finished,
 * workers joining and leaving — as differences between consecutive reads.
 */

/** The part of a status report the observer looks at. */
export interface ObservedReport {
  workers: Array<{ workerId: string; heartbeat: number; recordsProcessed?: number | undefined }>;
  shards: Array<{
    shardId: string;
    /** Unique over every stream of the application (shard ids may repeat across streams). */
    leaseKey: string;
    streamArn: string;
    owner: string | null;
    state: string;
    parentShardIds?: readonly string[];
  }>;
}

export type StatusEventKind =
  | 'lease-taken'
  | 'lease-moved'
  | 'hand-off'
  | 'shard-finished'
  | 'worker-joined'
  | 'worker-left'
  | 'trimmed'
  | 'failed-records'
  | 'shard-failed'
  | 'fenced';

export interface StatusEvent {
  at: string;
  kind: StatusEventKind;
  text: string;
  /** Where it was seen: a change between two reads of the lease table, or a worker's own event. */
  source: 'lease table' | 'worker';
}

/** Events kept for the page (newest last). */
export const RECENT_EVENTS = 50;
/** records/s is the counter's move over this window. */
const RATE_WINDOW_MS = 10_000;

export class StatusObserver {
  readonly #now: () => number;
  readonly #beats = new Map<string, { heartbeat: number; at: number }>();
  readonly #records = new Map<string, Array<{ records: number; at: number }>>();
  #previous: ObservedReport | undefined;
  readonly #events: StatusEvent[] = [];

  constructor(now: () => number) {
    this.#now = now;
  }

  /** The recent events, oldest first. */
  get events(): readonly StatusEvent[] {
    return this.#events;
  }

  add(event: StatusEvent): void {
    this.#events.push(event);
    if (this.#events.length > RECENT_EVENTS) this.#events.splice(0, this.#events.length - RECENT_EVENTS);
  }

  /** Adds an event seen now, on this observer's clock (the one clock every event of the page is timed on). */
  record(kind: StatusEventKind, text: string, source: StatusEvent['source']): void {
    this.add({ at: new Date(this.#now()).toISOString(), kind, text, source });
  }

  /** Ms since `workerId`'s heartbeat counter last moved, as seen here; null before it has moved once. */
  heartbeatAge(workerId: string, heartbeat: number): number | null {
    const at = this.#now();
    const previous = this.#beats.get(workerId);
    if (!previous) {
      this.#beats.set(workerId, { heartbeat, at: Number.NaN });
      return null;
    }
    if (previous.heartbeat !== heartbeat) {
      this.#beats.set(workerId, { heartbeat, at });
      return 0;
    }
    return Number.isNaN(previous.at) ? null : at - previous.at;
  }

  /** Records/s over the last RATE_WINDOW_MS; null until two reads apart, or for a worker that does not publish a count. */
  recordsPerSecond(workerId: string, recordsProcessed: number | undefined): number | null {
    if (recordsProcessed === undefined) return null;
    const at = this.#now();
    const samples = this.#records.get(workerId) ?? [];
    this.#records.set(workerId, samples);
    // A restarted worker counts from 0 again: start its window over.
    if (samples.length > 0 && samples.at(-1)!.records > recordsProcessed) samples.length = 0;
    samples.push({ records: recordsProcessed, at });
    while (samples.length > 2 && at - samples[1]!.at >= RATE_WINDOW_MS) samples.shift();
    const first = samples[0]!;
    const seconds = (at - first.at) / 1_000;
    return seconds > 0 ? Math.round(((recordsProcessed - first.records) / seconds) * 10) / 10 : null;
  }

  /** Compares `report` with the previous read and records what changed. */
  observe(report: ObservedReport): void {
    const previous = this.#previous;
    this.#previous = report;
    if (!previous) return;
    const add = (kind: StatusEventKind, text: string) => this.record(kind, text, 'lease table');
    const before = new Map(previous.shards.map((s) => [s.leaseKey, s]));
    for (const shard of report.shards) {
      const was = before.get(shard.leaseKey);
      const id = shardName(shard);
      if (shard.state === 'finished' && was && was.state !== 'finished') add('shard-finished', `${id} finished`);
      if (shard.state === 'handing-off' && was?.state !== 'handing-off')
        add('hand-off', `${id} handing off from ${shard.owner ?? '?'}`);
      if (shard.owner === null || shard.owner === was?.owner) continue;
      if (was?.owner) add('lease-moved', `${id} moved ${was.owner} → ${shard.owner}`);
      else add('lease-taken', `${id} taken by ${shard.owner}`);
    }
    // The leader deletes a finished parent's lease once its children started: between two reads
    // a parent can go from processing to gone, its SHARD_END never seen here.
    const now = new Set(report.shards.map((s) => s.leaseKey));
    const parents = new Set(report.shards.flatMap((s) => (s.parentShardIds ?? []).map((id) => relatedLeaseKey(s, id))));
    for (const was of previous.shards)
      if (!now.has(was.leaseKey) && was.state !== 'finished' && parents.has(was.leaseKey))
        add('shard-finished', `${shardName(was)} finished (its lease removed once its children started)`);
    const had = new Set(previous.workers.map((w) => w.workerId));
    const has = new Set(report.workers.map((w) => w.workerId));
    for (const id of has) if (!had.has(id)) add('worker-joined', `${id} joined`);
    for (const id of had) if (!has.has(id)) add('worker-left', `${id} left (its heartbeat item is gone)`);
  }
}

/** A shard as the events name it: its stream too, since shard ids repeat across streams. */
export function shardName(shard: { streamArn: string; shardId: string }): string {
  const id = shard.shardId.length > 16 ? `…${shard.shardId.slice(-12)}` : shard.shardId;
  return `${streamNameOf(shard.streamArn)} ${id}`;
}
