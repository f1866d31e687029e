import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { toLease, type AuditItem, type InvalidItem, type Lease } from './items.js';
import { LeaseStore } from './lease-store.js';

export interface LeaseTableLease extends Lease {
  /** ISO time of the last write, on the writer's clock. */
  updatedAt?: string | undefined;
}

export interface LeaseTableWorker {
  workerId: string;
  sessionId: string;
  /** Heartbeat counter: compare two reads to see whether the worker is alive. */
  heartbeat: number;
  leaseCount: number;
  draining: boolean;
  /** Records processed since the worker started, when it publishes the count (records/s is its move). */
  recordsProcessed?: number | undefined;
  startedAt?: string | undefined;
  /** ISO time of the last heartbeat, on the worker's own clock. */
  updatedAt?: string | undefined;
}

export interface LeaseTableView {
  leases: LeaseTableLease[];
  workers: LeaseTableWorker[];
  leader?: { workerId: string; leaseCounter: number; electedAt?: string | undefined } | undefined;
  /** Operator actions (`shardline reset`, `shardline import-kcl`), oldest first. */
  audits: AuditItem[];
  /** Rows that fail the schema (hand-edited or foreign): the coordinators skip them. */
  invalid: InvalidItem[];
}

/**
 * Reads a lease table for humans (`shardline status`): leases by stream and shard id (each with
 * its `leaseKey`: the shard id, or stream-qualified, see lease-key.ts), workers, leader and
 * invalid rows. One read cannot tell a live worker from a dead one (no cross-machine clocks):
 * read twice and compare `heartbeat`.
 */
export async function readLeaseTable(dynamodb: DynamoDBClient, tableName: string): Promise<LeaseTableView> {
  const snapshot = await new LeaseStore(dynamodb, tableName).scan();
  return {
    leases: snapshot.leases
      .map((item) => ({ ...toLease(item), updatedAt: item.updatedAt }))
      .sort((a, b) => a.streamArn.localeCompare(b.streamArn) || a.shardId.localeCompare(b.shardId)),
    workers: snapshot.workers
      .map((w) => ({
        workerId: w.workerId,
        sessionId: w.sessionId,
        heartbeat: w.heartbeat,
        leaseCount: w.leaseCount,
        draining: w.draining === true,
        recordsProcessed: w.recordsProcessed,
        startedAt: w.startedAt,
        updatedAt: w.updatedAt,
      }))
      .sort((a, b) => a.workerId.localeCompare(b.workerId)),
    leader: snapshot.leader
      ? {
          workerId: snapshot.leader.leaseOwner,
          leaseCounter: snapshot.leader.leaseCounter,
          electedAt: snapshot.leader.electedAt,
        }
      : undefined,
    audits: snapshot.audits,
    invalid: snapshot.invalid,
  };
}
