import type { LeaseTableLease } from '@shardline/leases';
import { tableNameFromStreamArn } from '@shardline/worker';
import type { FleetWorker } from './fleet.js';
import { auditDemo, shardKey, splitShardKey, type DeliveryLedger } from './ledger.js';
import { seconds, type ScenarioResult } from './scenario.js';

export interface SummaryInput {
  writes: readonly string[];
  tableNames: readonly string[];
  ledger: DeliveryLedger;
  workers: readonly FleetWorker[];
  /** The application's leases at the end (every table's stream, one lease table). */
  leases: readonly LeaseTableLease[];
  /** Each shard's parent by `shardKey(table, shardId)`, from the streams' own listing. */
  parentOf: ReadonlyMap<string, string | undefined>;
  scenario: ScenarioResult;
  leaseDurationMs: number;
}

/** The audit's verdict and the summary text (each figure with one line saying what it is). */
export function summarize(input: SummaryInput): { passed: boolean; text: string } {
  const { ledger, scenario } = input;
  const report = auditDemo(input.writes, new Map([['all', ledger.log]]));
  const runs = ledger.shardRuns;
  const tableOf = (lease: LeaseTableLease) => tableNameFromStreamArn(lease.streamArn) ?? lease.streamArn;
  // Every shard the stream lists or a lease names (a parent is of its child's stream, so of its
  // child's table): a child's first record after its parent's last.
  const parentsOf = (tableName: string, shardId: string): string[] => {
    const listed = input.parentOf.get(shardKey(tableName, shardId));
    const leased = input.leases.find((l) => tableOf(l) === tableName && l.shardId === shardId)?.parentShardIds ?? [];
    return [...new Set([...(listed ? [listed] : []), ...leased])];
  };
  const known = new Set([...input.parentOf.keys(), ...input.leases.map((l) => shardKey(tableOf(l), l.shardId))]);
  const parentsFirst = [...known].every((key) => {
    const [tableName, shardId] = splitShardKey(key);
    return parentsOf(tableName, shardId).every((parent) => {
      const child = runs.get(key);
      const before = runs.get(shardKey(tableName, parent));
      return !child || !before || before.last <= child.first;
    });
  });
  const shardLines = input.tableNames.flatMap((tableName) => {
    // Finished parents whose children are done may already be gone from the lease table: list
    // every shard a processor saw too, in the order their records were first delivered.
    const leaseOf = new Map(input.leases.filter((l) => tableOf(l) === tableName).map((l) => [l.shardId, l]));
    const prefix = `${tableName}/`;
    const seen = [...runs.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    const order = (id: string) => runs.get(shardKey(tableName, id))?.first ?? Infinity;
    return [...new Set([...seen, ...leaseOf.keys()])]
      .sort((a, b) => order(a) - order(b))
      .map((shardId) => {
        const lease = leaseOf.get(shardId);
        const run = runs.get(shardKey(tableName, shardId));
        const parents = parentsOf(tableName, shardId);
        const parent = parents.length > 0 ? ` (child of …${parents.map((id) => id.slice(-8)).join(', …')})` : '';
        const state =
          lease === undefined ? 'finished, lease removed' : lease.checkpoint === 'SHARD_END' ? 'finished' : 'open';
        return `    ${tableName} …${shardId.slice(-8)}${parent}: ${run?.records ?? 0} records by ${run ? [...run.workers].join(' then ') : 'nobody yet'}, ${state}`;
      });
  });
  const shardCount = shardLines.length;
  const passed = report.lost.length === 0 && report.outOfOrder === 0 && parentsFirst;
  const row = (label: string, value: string, why: string) => `  ${label.padEnd(13)} ${value.padEnd(22)} ${why}`;
  const { handOff, crash } = scenario;
  const text = [
    '',
    'Summary',
    row(
      'written',
      String(input.writes.length),
      `writes to ${input.tableNames.length} tables (one application), each a key's next version`,
    ),
    row('processed', String(report.processed), 'distinct writes a processor got'),
    row(
      'duplicates',
      String(report.duplicates),
      "repeat deliveries: a crashed worker's batches past its last checkpoint, read again by the next owner",
    ),
    row('lost', String(report.lost.length), 'written but never delivered: must be 0') +
      (report.lost.length > 0 ? `  e.g. ${report.lost.slice(0, 5).join(', ')}` : ''),
    row(
      'out of order',
      String(report.outOfOrder),
      'keys whose versions reached a processor out of sequence: must be 0',
    ),
    row(
      'latency',
      `p50 ${ledger.percentile(50)} ms, p99 ${ledger.percentile(99)} ms`,
      'item write → processor call, from a timestamp in each item (p99 includes the wait for the takeover)',
    ),
    row(
      'hand-off',
      handOff ? seconds(handOff.ms) : 'not done',
      handOff
        ? `graceful stop of ${handOff.worker} until live workers held its ${handOff.shards} shard(s): released, no expiry wait`
        : 'the rolling deploy did not happen (stopped early?)',
    ),
    row(
      'takeover',
      crash ? seconds(crash.ms) : 'not done',
      crash
        ? `kill -9 of ${crash.worker} until ${crash.to.join(', ')} held its ${crash.shards} shard(s): lease expiry (${seconds(input.leaseDurationMs)}) + assignment`
        : 'the crash did not happen (stopped early?)',
    ),
    row(
      'per worker',
      input.workers.map((w) => `${w.name.replace('worker-', 'w')}: ${w.deliveries}`).join(', '),
      'deliveries each worker process got (worker-N)',
    ),
    `  shards        ${shardCount} in the lineage${scenario.rollovers > 0 ? `, after ${scenario.rollovers} rollover(s)` : ''}; parents finished before their children started: ${parentsFirst ? 'yes' : 'NO'}`,
    ...shardLines,
    passed ? 'Audit passed: every write was processed, each key in order, parents before children.' : 'AUDIT FAILED',
    '',
  ].join('\n');
  return { passed, text };
}
