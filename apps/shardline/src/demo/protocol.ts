/**
 * What the demo's worker processes and the demo itself say to each other over the fork IPC
 * channel. Each worker process runs one shardline `Worker` per demo application; its processor
 * reports every delivered record before returning, so a record counts as delivered only once
 * the report reached the demo (a `kill -9` after that cannot un-deliver it).
 */

/** One application of the demo: a table and its own lease table (one stream per application). */
export interface DemoApplication {
  applicationName: string;
  tableName: string;
}

/** The demo → worker process start-up settings (argv[2], JSON). */
export interface WorkerProcessConfig {
  /** The name shown everywhere (`worker-3`). */
  name: string;
  endpoint: string;
  region: string;
  /** Per application, the worker id this process uses in it (see `memberId`). */
  applications: Array<DemoApplication & { workerId: string }>;
  /**
   * Index of the application this process starts alone first (until `join`): with one shard
   * per application, the first worker in an application takes its shard, so starting each
   * worker in its own application first gives every worker a shard.
   */
  home?: number | undefined;
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
  /** `home`: only the home application's Worker runs so far. */
  | { type: 'started'; home: boolean }
  | {
      type: 'batch';
      applicationName: string;
      shardId: string;
      /** `<table>/<pk>#<version>`, in delivery order. */
      ids: string[];
      /** Write → processor latency of each record, ms. */
      latencies: number[];
    }
  | { type: 'lease'; applicationName: string; shardId: string; event: 'acquired' | 'lost' | 'released'; at: number };

export type DemoMessage = { type: 'stop' } | { type: 'join' };

/** One delivered record's id in the audit: table-qualified, so two tables' keys never collide. */
export function recordId(tableName: string, pk: string, version: number): string {
  return `${tableName}/${pk}#${version}`;
}
