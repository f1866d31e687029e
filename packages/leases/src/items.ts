import { isSentinel, isSequenceNumber } from '@shardline/core';
import { z } from 'zod';

/**
 * The four kinds of items in a lease table, all under the one hash key `leaseKey` and told
 * apart by `itemType` (and a `_` key prefix for the non-lease items, so a console listing sorts
 * them apart). Attribute names follow KCL's where they mean the same thing, so an operator
 * who knows KCL can read the table.
 */

export const LEADER_KEY = '_leader';
export const WORKER_KEY_PREFIX = '_worker#';
/** Operator actions (`shardline reset`, `shardline import-kcl`), one item each; workers ignore them. */
export const AUDIT_KEY_PREFIX = '_audit#';

export function workerKey(workerId: string): string {
  return `${WORKER_KEY_PREFIX}${workerId}`;
}

const checkpoint = z.string().refine((value) => isSequenceNumber(value) || isSentinel(value), {
  message: 'checkpoint must be a sequence number, TRIM_HORIZON, LATEST or SHARD_END',
});
const counter = z.number().int().nonnegative();
const nonEmpty = z.string().min(1);

export const leaseItemSchema = z.object({
  leaseKey: nonEmpty,
  itemType: z.literal('lease'),
  shardId: nonEmpty,
  streamArn: nonEmpty,
  leaseOwner: nonEmpty.optional(),
  /** The owner's process incarnation: tells a restarted worker's old leases from new ones. */
  ownerSession: nonEmpty.optional(),
  /** Fencing token: bumped on every change of owner. */
  leaseCounter: counter,
  checkpoint,
  parentShardIds: z.array(nonEmpty).default([]),
  childShardIds: z.array(nonEmpty).optional(),
  ownerSwitchesSinceCheckpoint: counter.default(0),
  /** Set by the leader to move the lease from a live owner; the owner releases to it. */
  pendingOwner: nonEmpty.optional(),
  /** The pending owner's session, so the releasing worker needs no view of it. */
  pendingOwnerSession: nonEmpty.optional(),
  handOffRequestedAt: z.string().optional(),
  /**
   * The processor's state as of `checkpoint` (e.g. Lambda's open tumbling window), written by
   * the same update as the checkpoint and removed by any checkpoint written without it, so the
   * stored state always belongs to the stored checkpoint.
   */
  processorState: z.string().optional(),
  updatedAt: z.string().optional(),
});
export type LeaseItem = z.infer<typeof leaseItemSchema>;

export const workerItemSchema = z.object({
  leaseKey: nonEmpty,
  itemType: z.literal('worker'),
  workerId: nonEmpty,
  sessionId: nonEmpty,
  /** Bumped by each heartbeat; observers compare values, never timestamps across machines. */
  heartbeat: counter,
  leaseCount: counter.default(0),
  /** Set while the worker shuts down: alive (its leases stay put) but takes no new ones. */
  draining: z.boolean().optional(),
  /** Records the worker has processed since it started (observers derive records/s from its moves). */
  recordsProcessed: counter.optional(),
  startedAt: z.string().optional(),
  updatedAt: z.string().optional(),
});
export type WorkerItem = z.infer<typeof workerItemSchema>;

export const leaderItemSchema = z.object({
  leaseKey: z.literal(LEADER_KEY),
  itemType: z.literal('leader'),
  leaseOwner: nonEmpty,
  ownerSession: nonEmpty,
  leaseCounter: counter,
  /**
   * Bumped by whoever changes leases other workers must notice (the leader's assignments,
   * hand-off requests and deletions; a hand-off's release): workers that are not the leader
   * read the whole table only when it moved.
   */
  epoch: counter.default(0),
  /**
   * The part of `epoch` that came from bumps naming the workers concerned: each such bump also
   * adds one to those workers' `notice#<workerId>` attributes. A worker reads the whole table
   * when its own notice moved or `epoch - targetedEpoch` did (a bump for everyone, or from a
   * version without notices), so a change costs a full read of the workers it concerns, not of
   * every worker.
   */
  targetedEpoch: counter.default(0),
  electedAt: z.string().optional(),
  updatedAt: z.string().optional(),
});
export type LeaderItem = z.infer<typeof leaderItemSchema> & {
  /** `notice#<workerId>` attributes of the item, by worker id. */
  notices?: Record<string, number> | undefined;
  /**
   * `inbox#<workerId>` string sets: the lease keys a notice is about (leases put on the worker,
   * hand-offs asked of it). The worker reads just those rows and removes them from its set.
   */
  inboxes?: Record<string, string[]> | undefined;
};

/** Attribute-name prefixes of the per-worker notice counters and inboxes on the leader item. */
export const NOTICE_PREFIX = 'notice#';
export const INBOX_PREFIX = 'inbox#';

function noticesOf(row: Record<string, unknown>): Pick<LeaderItem, 'notices' | 'inboxes'> {
  const notices: Record<string, number> = {};
  const inboxes: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(row)) {
    if (name.startsWith(NOTICE_PREFIX) && typeof value === 'number') notices[name.slice(NOTICE_PREFIX.length)] = value;
    if (name.startsWith(INBOX_PREFIX) && value instanceof Set)
      inboxes[name.slice(INBOX_PREFIX.length)] = [...(value as Set<unknown>)].filter(
        (v): v is string => typeof v === 'string',
      );
  }
  return { notices, inboxes };
}

/** One shard an operator action moved: where its checkpoint was and where it went. */
export const auditChangeSchema = z.object({
  shardId: nonEmpty,
  /** Absent when the action created the lease. */
  from: z.string().optional(),
  to: z.string(),
});
export type AuditChange = z.infer<typeof auditChangeSchema>;

export const auditItemSchema = z.object({
  leaseKey: z.string().startsWith(AUDIT_KEY_PREFIX),
  itemType: z.literal('audit'),
  action: z.enum(['reset', 'import-kcl']),
  /** Who ran it (user@host, as the CLI reports it). */
  actor: nonEmpty,
  /** ISO time, on the operator's clock. */
  at: z.string(),
  /** Where the action moved the leases: `TRIM_HORIZON`, `LATEST`, `timestamp <ISO>`, `kcl <table>`. */
  target: nonEmpty,
  streamArn: nonEmpty.optional(),
  /** True when live owners were fenced (`reset --force`). */
  forced: z.boolean().optional(),
  /** True when the action failed partway: `changes` lists only what was written before it stopped. */
  partial: z.boolean().optional(),
  changes: z.array(auditChangeSchema),
  /** Changes left out of `changes` to keep the item under DynamoDB's 400 KB. */
  omitted: counter.optional(),
});
export type AuditItem = z.infer<typeof auditItemSchema>;

/** A lease as the worker runtime sees it. */
export interface Lease {
  leaseKey: string;
  shardId: string;
  streamArn: string;
  owner?: string | undefined;
  counter: number;
  /** A sequence number or TRIM_HORIZON | LATEST | SHARD_END. */
  checkpoint: string;
  parentShardIds: string[];
  childShardIds?: string[] | undefined;
  pendingOwner?: string | undefined;
  ownerSwitchesSinceCheckpoint: number;
  /** The processor's state written with `checkpoint`, if any. */
  processorState?: string | undefined;
}

export function toLease(item: LeaseItem): Lease {
  return {
    leaseKey: item.leaseKey,
    shardId: item.shardId,
    streamArn: item.streamArn,
    owner: item.leaseOwner,
    counter: item.leaseCounter,
    checkpoint: item.checkpoint,
    parentShardIds: [...item.parentShardIds],
    childShardIds: item.childShardIds ? [...item.childShardIds] : undefined,
    pendingOwner: item.pendingOwner,
    ownerSwitchesSinceCheckpoint: item.ownerSwitchesSinceCheckpoint,
    processorState: item.processorState,
  };
}

export interface InvalidItem {
  leaseKey: string;
  /** What is wrong, in one line. */
  problem: string;
}

/** Everything in the table, sorted into valid items by kind and rows that fail the schema. */
export interface TableSnapshot {
  leases: LeaseItem[];
  workers: WorkerItem[];
  leader: LeaderItem | undefined;
  /** Operator actions, oldest first. */
  audits: AuditItem[];
  invalid: InvalidItem[];
}

/** Sorts raw (unmarshalled) rows; a row failing its schema lands in `invalid`, never throws. */
export function classifyItems(rows: Array<Record<string, unknown>>): TableSnapshot {
  const snapshot: TableSnapshot = { leases: [], workers: [], leader: undefined, audits: [], invalid: [] };
  for (const row of rows) {
    const leaseKey = typeof row.leaseKey === 'string' ? row.leaseKey : JSON.stringify(row.leaseKey);
    if (row.itemType === 'audit') {
      const audit = auditItemSchema.safeParse(row);
      if (audit.success) snapshot.audits.push(audit.data);
      else snapshot.invalid.push({ leaseKey, problem: describeIssues(audit.error) });
      continue;
    }
    const schema =
      row.itemType === 'worker' ? workerItemSchema : row.itemType === 'leader' ? leaderItemSchema : leaseItemSchema;
    const parsed = schema.safeParse(row);
    if (!parsed.success) {
      snapshot.invalid.push({ leaseKey, problem: describeIssues(parsed.error) });
      continue;
    }
    const item = parsed.data;
    if (item.itemType === 'worker') {
      if (item.leaseKey !== workerKey(item.workerId)) {
        snapshot.invalid.push({ leaseKey, problem: `worker item key does not match workerId ${item.workerId}` });
      } else snapshot.workers.push(item);
    } else if (item.itemType === 'leader') snapshot.leader = { ...item, ...noticesOf(row) };
    else if (item.leaseKey.startsWith('_'))
      snapshot.invalid.push({ leaseKey, problem: 'lease keys may not start with "_"' });
    else snapshot.leases.push(item);
  }
  snapshot.audits.sort((a, b) => a.leaseKey.localeCompare(b.leaseKey));
  return snapshot;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(item)'}: ${issue.message}`)
    .join('; ');
}
