import {
  DescribeTableCommand,
  ScanCommand,
  type AttributeValue,
  type DynamoDBClient,
  type ScanCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { ConfigError, ShardlineError, systemClock, type Clock } from '@shardline/core';
import { auditItem } from './audit.js';
import { translateLeaseError } from './errors.js';
import type { LeaseItem } from './items.js';
import { parseKclRow, planKclImport, type KclImportPlan, type KclRow } from './kcl-lease.js';
import { LeaseStore } from './lease-store.js';
import { listShards, type StreamsClient } from '@shardline/streams';

/**
 * The I/O half of `shardline import-kcl`: read a KCL lease table (never written: a rollback is
 * starting the Java fleet again), make sure its fleet is stopped, and write the shardline
 * leases `planKclImport` decided, parents first.
 */

/** KCL's defaults this module leans on (`LeaseManagementConfig`). */
export const KCL_DEFAULTS = {
  /** `failoverTimeMillis`: a KCL worker renews each lease (bumping `leaseCounter`) every third of it. */
  failoverTimeMillis: 10_000,
} as const;

/** The KCL fleet still runs: a lease counter moved, or a graceful hand-off is under way. */
export class KclFleetAliveError extends ShardlineError {
  readonly evidence: readonly string[];
  constructor(kclTableName: string, evidence: readonly string[]) {
    super(
      `the KCL fleet on ${kclTableName} is still running (${evidence.slice(0, 3).join('; ')}${evidence.length > 3 ? `; ${evidence.length - 3} more` : ''}): stop every KCL worker, then import again`,
      { retryable: false },
    );
    this.evidence = evidence;
  }
}

export interface KclImportOptions {
  dynamodb: DynamoDBClient;
  kclTableName: string;
  leaseTableName: string;
  /** The stream of plain shard-id leases, or the stream to take from a multi-stream table. */
  streamArn?: string | undefined;
  /**
   * How long to watch the KCL leases' counters: a live KCL worker bumps each lease it holds
   * several times in it. @defaultValue KCL_DEFAULTS.failoverTimeMillis
   */
  failoverMs?: number | undefined;
  /**
   * The stream's shards are listed to check the KCL leases against them (a KCL table of another
   * stream, or of a stream recreated since, would import leases no shard has). The CLI always
   * gives it. @defaultValue no check
   */
  streams?: StreamsClient | undefined;
  /** False: plan and check only (a dry run). */
  apply: boolean;
  /** Who runs it, for the audit item. */
  actor: string;
  clock?: Clock | undefined;
}

export interface KclImportResult {
  plan: KclImportPlan;
  /** Evidence that the KCL fleet is alive (empty when it is stopped). */
  alive: string[];
  /** Problems with the shardline lease table (it already holds other leases). */
  conflicts: string[];
  applied: boolean;
  written: number;
  /** Leases already there exactly as planned (an import run again after an interruption). */
  alreadyPresent: number;
}

/**
 * Reads, watches, plans; with `apply`, writes. A dry run reports what an import would refuse
 * (in `alive`, `plan.problems`, `conflicts`); an applied one throws instead.
 */
export async function importKclLeases(options: KclImportOptions): Promise<KclImportResult> {
  const clock = options.clock ?? systemClock;
  const failoverMs = options.failoverMs ?? KCL_DEFAULTS.failoverTimeMillis;
  if (!Number.isSafeInteger(failoverMs) || failoverMs < 0)
    throw new ConfigError(`failoverMs must be a non-negative integer, got ${String(failoverMs)}`);
  if (options.kclTableName === options.leaseTableName)
    throw new ConfigError('the KCL table and the shardline lease table must differ: the KCL table is never written');
  await checkKclTable(options.dynamodb, options.kclTableName);

  const first = await readKclTable(options.dynamodb, options.kclTableName);
  await clock.sleep(failoverMs);
  const second = await readKclTable(options.dynamodb, options.kclTableName);
  const alive = kclFleetEvidence(first, second);
  const plan = planKclImport({ rows: second, streamArn: options.streamArn, now: new Date(clock.now()).toISOString() });

  if (options.streams && plan.streamArn)
    plan.problems.push(...(await missingShards(options.streams, plan.streamArn, plan, clock)));
  const store = new LeaseStore(options.dynamodb, options.leaseTableName, clock);
  const existing = await existingLeases(store);
  const { conflicts, present } = compareWithTable(plan.items, existing);
  const result: KclImportResult = { plan, alive, conflicts, applied: false, written: 0, alreadyPresent: present.size };
  if (!options.apply) return result;

  if (alive.length > 0) throw new KclFleetAliveError(options.kclTableName, alive);
  if (plan.problems.length > 0)
    throw new ConfigError(`cannot import ${options.kclTableName}: ${plan.problems.join('; ')}`);
  if (conflicts.length > 0)
    throw new ConfigError(`cannot import into ${options.leaseTableName}: ${conflicts.join('; ')}`);
  if (plan.items.length === 0) throw new ConfigError(`${options.kclTableName} holds no KCL lease to import`);

  await store.ensureTable();
  for (const item of plan.items) {
    if (present.has(item.shardId)) continue;
    // Conditional on absence: a worker's shard sync that got there first is a conflict, said so.
    if (!(await store.createLease(item, { oneShot: true })))
      throw new ConfigError(
        `lease ${item.shardId} appeared in ${options.leaseTableName} during the import; run it again`,
      );
    result.written++;
  }
  await store.putAudit(
    auditItem({
      action: 'import-kcl',
      actor: options.actor,
      at: new Date(clock.now()).toISOString(),
      target: `kcl ${options.kclTableName}`,
      ...(plan.streamArn ? { streamArn: plan.streamArn } : {}),
      changes: plan.rows.map((row) => ({ shardId: row.shardId, from: `kcl ${row.kclCheckpoint}`, to: row.checkpoint })),
    }),
  );
  await store.bumpEpoch();
  result.applied = true;
  return result;
}

/**
 * KCL leases of unfinished shards the stream does not list: a plan problem (refused, shown in
 * the dry run). A finished (SHARD_END) lease of a shard trimmed since has nothing left to read.
 */
async function missingShards(
  streams: StreamsClient,
  streamArn: string,
  plan: KclImportPlan,
  clock: Clock,
): Promise<string[]> {
  const ids = new Set((await listShards(streams, streamArn, { clock })).map((s) => s.shardId));
  const missing = plan.rows.filter((row) => row.checkpoint !== 'SHARD_END' && !ids.has(row.shardId));
  if (missing.length === 0) return [];
  const named = missing.slice(0, 5).map((row) => row.shardId);
  return [
    `${missing.length} KCL lease(s) name shards that ${streamArn} does not have (${named.join(', ')}${missing.length > 5 ? ', …' : ''}): is the KCL table of another stream?`,
  ];
}

/** Every row of the KCL table, decoded (strongly consistent scan; read only). */
export async function readKclTable(dynamodb: DynamoDBClient, tableName: string): Promise<KclRow[]> {
  const rows: KclRow[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    let out: ScanCommandOutput;
    try {
      out = await dynamodb.send(
        new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start }),
      );
    } catch (err) {
      throw translateLeaseError(err, { operation: 'Scan', tableName });
    }
    for (const item of out.Items ?? []) rows.push(parseKclRow(item));
    start = out.LastEvaluatedKey;
  } while (start);
  return rows;
}

/**
 * What says the KCL fleet still runs, from two reads a failover time apart: KCL keeps no
 * times, a holder proves it is alive by bumping `leaseCounter` (renewal every failover / 3),
 * and a 3.x graceful hand-off sets `checkpointOwner`. Leases created or deleted in between
 * mean a worker's shard sync or cleanup ran.
 */
export function kclFleetEvidence(first: readonly KclRow[], second: readonly KclRow[]): string[] {
  const leasesOf = (rows: readonly KclRow[]) =>
    new Map(rows.flatMap((r) => (r.kind === 'lease' ? [[r.lease.leaseKey, r.lease] as const] : [])));
  const before = leasesOf(first);
  const after = leasesOf(second);
  const evidence: string[] = [];
  for (const [key, lease] of after) {
    const old = before.get(key);
    if (old === undefined) evidence.push(`lease ${key} was created`);
    else if (old.leaseCounter !== lease.leaseCounter)
      evidence.push(
        `${key} leaseCounter moved ${old.leaseCounter} → ${lease.leaseCounter} (owner ${lease.leaseOwner ?? 'none'})`,
      );
    else if (old.checkpoint !== lease.checkpoint) evidence.push(`${key} checkpoint moved`);
    if (lease.checkpointOwner !== undefined) evidence.push(`${key} has checkpointOwner ${lease.checkpointOwner}`);
  }
  for (const key of before.keys()) if (!after.has(key)) evidence.push(`lease ${key} was deleted`);
  return evidence;
}

async function checkKclTable(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  let keys;
  try {
    keys = (await dynamodb.send(new DescribeTableCommand({ TableName: tableName }))).Table?.KeySchema ?? [];
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException')
      throw new ConfigError(`KCL lease table ${tableName} not found (the KCL application name is its default name)`, {
        cause: err,
      });
    throw translateLeaseError(err, { operation: 'DescribeTable', tableName });
  }
  if (keys.length !== 1 || keys[0]?.AttributeName !== 'leaseKey')
    throw new ConfigError(`table ${tableName} is not a KCL lease table (its key is not leaseKey alone)`);
}

async function existingLeases(store: LeaseStore): Promise<LeaseItem[]> {
  try {
    return (await store.scan()).leases;
  } catch (err) {
    // No lease table yet: the common case, created at apply.
    if (err instanceof ConfigError && /does not exist/.test(err.message)) return [];
    throw err;
  }
}

/** Leases already in the shardline table: the same as planned (a rerun) or a refusal. */
function compareWithTable(
  planned: readonly LeaseItem[],
  existing: readonly LeaseItem[],
): { conflicts: string[]; present: Set<string> } {
  const byShard = new Map(planned.map((item) => [item.shardId, item]));
  const conflicts: string[] = [];
  const present = new Set<string>();
  for (const lease of existing) {
    const plan = byShard.get(lease.shardId);
    if (plan && plan.checkpoint === lease.checkpoint && plan.streamArn === lease.streamArn && !lease.leaseOwner)
      present.add(lease.shardId);
    else
      conflicts.push(
        `lease ${lease.shardId} exists (checkpoint ${lease.checkpoint}${lease.leaseOwner ? `, owner ${lease.leaseOwner}` : ''})`,
      );
  }
  if (conflicts.length > 0)
    conflicts.unshift(
      `the lease table already holds ${conflicts.length} lease(s) that differ from this import: import into a new --app, or delete the table first`,
    );
  return { conflicts: conflicts.slice(0, 6), present };
}
