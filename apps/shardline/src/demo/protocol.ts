/**
 * What the demo's worker processes and the demo itself say to each other over the fork IPC
 * channel. Each worker process runs one shardline `Worker` over all the demo's tables; its processor
 * reports every delivered record before returning, so a record counts as delivered only once
 * the report reached the demo (a `kill -9` after that cannot un-deliver it).
 */

/** The demo → worker process start-up settings (argv[2], JSON). */
export interface WorkerProcessConfig {
  /** The name shown everywhere (`worker-3`), and the worker id in the lease table. */
  name: string;
  endpoint: string;
  region: string;
  /** The one application (lease table `shardline-<applicationName>`) consuming every table. */
  applicationName: string;
  tableNames: string[];
  leaseDurationMs: number;
  shutdownTimeoutMs: number;
  logLevel: string;
}

/** The item the traffic writes: `writtenAt` gives the write → processor latency. */
export interface DemoItem {
  pk: string;
  version: number;
  writtenAt: number;
}

export type WorkerMessage =
  | { type: 'started' }
  | {
      type: 'batch';
      tableName: string;
      shardId: string;
      /** `<table>/<pk>#<version>`, in delivery order. */
      ids: string[];
      /** Write → processor latency of each record, ms. */
      latencies: number[];
    }
  | { type: 'lease'; tableName: string; shardId: string; event: 'acquired' | 'lost' | 'released'; at: number };

export type DemoMessage = { type: 'stop' };

/** One delivered record's id in the audit: table-qualified, so two tables' keys never collide. */
export function recordId(tableName: string, pk: string, version: number): string {
  return `${tableName}/${pk}#${version}`;
}
