import type { WorkerMessage } from './protocol.js';

/** One shard's deliveries: who processed it, and where its first and last record fell in the global delivery order. */
export interface ShardRun {
  workers: Set<string>;
  first: number;
  last: number;
  records: number;
  /** Latency of the last record delivered, ms. */
  lastLatencyMs: number;
}

/** `<table>/<shardId>`: shard ids are only unique within a stream (the demo's streams are one per table). */
export function shardKey(tableName: string, shardId: string): string {
  return `${tableName}/${shardId}`;
}

/** The table and shard id of a `shardKey` (table names hold no `/`). */
export function splitShardKey(key: string): [tableName: string, shardId: string] {
  const at = key.indexOf('/');
  return [key.slice(0, at), key.slice(at + 1)];
}

/**
 * Everything the workers reported, in arrival order: the delivery log (for the audit),
 * per-shard runs (for parents-first and the view), first-delivery latencies, and lease
 * acquisitions (for the takeover time).
 */
export class DeliveryLedger {
  /**
   * Every delivery, in arrival order across workers: a key whose shard moved between workers is
   * audited in the order its versions reached a processor, not worker by worker.
   */
  readonly log: string[] = [];
  readonly shardRuns = new Map<string, ShardRun>();
  /** Write → first delivery, ms, one per distinct record. */
  readonly latencies: number[] = [];
  readonly #delivered = new Set<string>();
  readonly #acquired: Array<{ worker: string; shard: string; at: number }> = [];
  #deliveries = 0;

  get processed(): number {
    return this.#delivered.size;
  }

  get duplicates(): number {
    return this.#deliveries - this.#delivered.size;
  }

  record(worker: string, message: WorkerMessage): void {
    if (message.type === 'lease' && message.event === 'acquired')
      this.#acquired.push({ worker, shard: shardKey(message.tableName, message.shardId), at: message.at });
    if (message.type !== 'batch') return;
    const key = shardKey(message.tableName, message.shardId);
    const run = this.shardRuns.get(key) ?? {
      workers: new Set<string>(),
      first: this.#deliveries,
      last: this.#deliveries,
      records: 0,
      lastLatencyMs: 0,
    };
    this.shardRuns.set(key, run);
    run.workers.add(worker);
    run.records += message.ids.length;
    message.ids.forEach((id, i) => {
      this.log.push(id);
      this.#deliveries++;
      if (this.#delivered.has(id)) return;
      this.#delivered.add(id);
      this.latencies.push(message.latencies[i] ?? 0);
    });
    run.last = this.#deliveries;
    run.lastLatencyMs = message.latencies.at(-1) ?? run.lastLatencyMs;
  }

  /** The first acquisition of `shard` at or after `since` by a worker other than `not`; undefined if none yet. */
  acquiredBy(shard: string, since: number, not: string): { worker: string; at: number } | undefined {
    return this.#acquired.find((a) => a.shard === shard && a.at >= since && a.worker !== not);
  }

  /** Latency percentile (0–100) over first deliveries, ms. */
  percentile(p: number): number {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  }
}

/** Every write seen at least once, and each key's versions first seen in increasing order. */
export function auditDemo(
  writes: readonly string[],
  seen: ReadonlyMap<string, readonly string[]>,
): { processed: number; deliveries: number; duplicates: number; lost: string[]; outOfOrder: number } {
  const delivered = new Set<string>();
  let deliveries = 0;
  let outOfOrder = 0;
  const lastVersion = new Map<string, number>();
  for (const log of seen.values()) {
    for (const id of log) {
      deliveries++;
      if (delivered.has(id)) continue;
      delivered.add(id);
      const [pk, version] = id.split('#') as [string, string];
      if ((lastVersion.get(pk) ?? 0) > Number(version)) outOfOrder++;
      lastVersion.set(pk, Number(version));
    }
  }
  const lost = writes.filter((id) => !delivered.has(id));
  return { processed: delivered.size, deliveries, duplicates: deliveries - delivered.size, lost, outOfOrder };
}
