import { columns } from '../text-columns.js';
import type { FleetWorker } from './fleet.js';

/** One row of the live view: a shard as the lease table and the workers' reports show it. */
export interface ShardRow {
  tableName: string;
  shardId: string;
  owner: string | null;
  state: string;
  records: number;
  /** Write → processor latency of the last record delivered from this shard, ms; null before any. */
  lastLatencyMs: number | null;
}

export interface ViewSnapshot {
  elapsedMs: number;
  written: number;
  processed: number;
  duplicates: number;
  shards: readonly ShardRow[];
  workers: ReadonlyArray<FleetWorker & { shards: number }>;
}

export interface ViewOutput {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
}

/** Finished shards shown in the live block, per table (older ones only in the summary). */
const FINISHED_SHOWN = 1;

/**
 * The demo's progress: on a terminal one block redrawn in place (shards with owner, state and
 * lag; the counters; the workers), with scenario notes printed above it; elsewhere (a pipe, CI)
 * one plain line per update, so a log reads top to bottom.
 */
export class ProgressView {
  readonly #out: ViewOutput;
  readonly tty: boolean;
  #drawn = 0;

  constructor(out: ViewOutput) {
    this.#out = out;
    this.tty = out.isTTY === true;
  }

  /** A line that stays (a rollover, a crash): above the live block. */
  note(line: string): void {
    this.#clear();
    this.#out.write(`${line}\n`);
  }

  render(snapshot: ViewSnapshot): void {
    if (!this.tty) {
      this.#out.write(`${plainLine(snapshot)}\n`);
      return;
    }
    this.#clear();
    const lines = block(snapshot);
    this.#out.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
  }

  /** Leaves the last block on screen and stops redrawing over it. */
  close(): void {
    this.#drawn = 0;
  }

  #clear(): void {
    // Cursor up to the block's first line, then erase to the end of the screen.
    if (this.#drawn > 0) this.#out.write(`\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
  }
}

export function plainLine(s: ViewSnapshot): string {
  const leases = s.workers.map((w) => `${w.name}${w.fate === 'running' ? '' : `(${w.fate})`}=${w.shards}`).join(' ');
  return `written ${s.written}  processed ${s.processed}  duplicates ${s.duplicates}  leases ${leases}`;
}

export function block(s: ViewSnapshot): string[] {
  const rows = visibleRows(s.shards);
  const table = [
    ['table', 'shard', 'owner', 'state', 'records', 'lag'],
    ...rows.map((r) => [
      r.tableName,
      `…${r.shardId.slice(-8)}`,
      r.owner ?? '-',
      r.state,
      String(r.records),
      r.lastLatencyMs === null ? '-' : `${r.lastLatencyMs} ms`,
    ]),
  ];
  const workers = s.workers
    .map((w) => `${w.name} ${w.fate === 'running' ? `${w.shards} shard(s)` : w.fate}, ${w.deliveries} rec`)
    .join(' · ');
  return [
    `── ${(s.elapsedMs / 1_000).toFixed(1)} s ── written ${s.written} · processed ${s.processed} · duplicates ${s.duplicates}`,
    ...columns(table).map((line) => `  ${line}`),
    `  workers: ${workers}`,
  ];
}

/** Every unfinished shard, and the latest finished one(s) of each table: the block stays short as rollovers pile up. */
function visibleRows(shards: readonly ShardRow[]): ShardRow[] {
  const finishedSeen = new Map<string, number>();
  const keep = new Set<ShardRow>();
  for (const row of [...shards].reverse()) {
    if (row.state !== 'finished') {
      keep.add(row);
      continue;
    }
    const n = finishedSeen.get(row.tableName) ?? 0;
    if (n < FINISHED_SHOWN) keep.add(row);
    finishedSeen.set(row.tableName, n + 1);
  }
  return shards.filter((row) => keep.has(row));
}
