import { afterEach } from 'vitest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ManualClock, type ShardInfo } from '@shardline/core';
import { LeaseCoordinator } from '../src/coordinator.js';
import type { LeaseItem } from '../src/items.js';
import { readLeaseTable } from '../src/lease-table.js';
import { type LeaseCoordinatorOptions, type ShardLister } from '../src/options.js';
import { type LeaseLostReason } from '../src/events.js';
import type { TestDynamoDB } from '@shardline/testkit';
import { pino, type Logger } from 'pino';

export const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-01T00:00:00.000';
export const LEASE_MS = 10_000;
export const HEARTBEAT_MS = 2_000;
export const MARGIN_MS = 1_000;

/** A lease row of STREAM_ARN for a test to write with a LeaseStore: unowned at TRIM_HORIZON, counter 0, unless `extra` says otherwise. */
export function leaseRow(leaseKey: string, extra: Partial<LeaseItem> = {}): LeaseItem {
  return {
    itemType: 'lease',
    streamArn: STREAM_ARN,
    parentShardIds: [],
    checkpoint: 'TRIM_HORIZON',
    leaseKey,
    shardId: leaseKey,
    leaseCounter: 0,
    ownerSwitchesSinceCheckpoint: 0,
    ...extra,
  };
}

/** Open root shards `shardId-000…` in DescribeStream's shape. */
export function rootShards(count: number, prefix = 'shardId-'): ShardInfo[] {
  return Array.from({ length: count }, (_, i) => ({
    shardId: `${prefix}${String(i).padStart(5, '0')}`,
    startingSequenceNumber: String(1000 + i),
  }));
}

/** A shard lister backed by plain data the test edits (reshards, trims). */
export class PlainLister implements ShardLister {
  shards: ShardInfo[];
  calls = 0;
  constructor(shards: ShardInfo[]) {
    this.shards = shards;
  }
  listShards(): Promise<ShardInfo[]> {
    this.calls++;
    return Promise.resolve(this.shards.map((s) => ({ ...s })));
  }
  listChildShards(parentId: string): Promise<ShardInfo[]> {
    return Promise.resolve(this.shards.filter((s) => s.parentShardId === parentId).map((s) => ({ ...s })));
  }
  /** Closes `shardId` and adds `children` new open shards under it. */
  split(shardId: string, children: number): string[] {
    const parent = this.shards.find((s) => s.shardId === shardId);
    if (!parent) throw new Error(`no shard ${shardId}`);
    parent.endingSequenceNumber = '999999';
    const ids = Array.from({ length: children }, (_, i) => `${shardId}-c${i}`);
    for (const id of ids) this.shards.push({ shardId: id, parentShardId: shardId, startingSequenceNumber: '1000000' });
    return ids;
  }
}

/** Faults injected into one coordinator's DynamoDB client (it is a separate client per coordinator). */
export interface Faults {
  /** Every call fails as a network partition would. */
  partitioned: boolean;
  /** Every call is throttled. */
  throttled: boolean;
  /** Awaited after a call's response arrived and before the caller sees it (delays a read past other writes). */
  afterResponse?: ((commandName: string, input: Record<string, unknown>) => Promise<void> | undefined) | undefined;
  /** Edits a call's response before the caller sees it (e.g. a Scan page read before a write landed). */
  editOutput?: ((commandName: string, output: Record<string, unknown>) => void) | undefined;
  /** Calls for which this returns true fail before they are sent, as a partition of just those calls would. */
  reject?: ((commandName: string, input: Record<string, unknown>) => boolean) | undefined;
  /** Calls for which this returns true fail unsent with ConditionalCheckFailedException (not retried), as if the row had changed. */
  conflict?: ((commandName: string, input: Record<string, unknown>) => boolean) | undefined;
}

/** True for a write to worker `workerId`'s heartbeat item (for `Faults.reject`). */
export function isHeartbeatWrite(workerId: string): (commandName: string, input: Record<string, unknown>) => boolean {
  return (name, input) => {
    const item = (input.Item ?? input.Key) as { leaseKey?: { S?: string } } | undefined;
    return WRITES.has(name) && item?.leaseKey?.S === `_worker#${workerId}`;
  };
}

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);

export interface Member {
  coordinator: LeaseCoordinator;
  faults: Faults;
  client: DynamoDBClient;
  lost: Array<{ shardId: string; reason: LeaseLostReason; at: number }>;
  /** Requests sent by this member's client, by command name. */
  calls: Map<string, number>;
  acquiredAt: Map<string, number>;
}

/**
 * Several coordinators in one process on one ManualClock, each with its own DynamoDB client
 * (so faults hit one of them only), and an ownership ledger built from their events that fails
 * the moment two of them hold one shard.
 */
/** Fleets not yet closed, for `closeFleetsAfterEach`. */
const openFleets = new Set<Fleet>();

/** Registers an afterEach that closes every fleet the test made, printing its logs when the test failed. */
export function closeFleetsAfterEach(): void {
  afterEach(async (context) => {
    for (const fleet of [...openFleets]) {
      if (context.task.result?.state === 'fail') console.log(fleet.logs.join('\n'));
      await fleet.close();
    }
  });
}

export class Fleet {
  readonly clock = new ManualClock(Date.UTC(2026, 0, 1));
  readonly members = new Map<string, Member>();
  readonly leaseTableName: string;
  /** leaseKey (the shard id for a single-stream fleet) → worker holding it, per events. */
  readonly holders = new Map<string, string>();
  readonly overlaps: string[] = [];
  writes = 0;
  /** Info-level log lines of every coordinator, with virtual time: printed when a test fails. */
  readonly logs: string[] = [];
  readonly logger: Logger;
  #releaseOnHandOff = true;

  constructor(
    readonly db: TestDynamoDB,
    readonly lister: PlainLister,
    readonly defaults: Partial<LeaseCoordinatorOptions> = {},
    /** An existing lease table to join (e.g. one an earlier fleet wrote). */
    leaseTableName: string = db.uniqueName('leases'),
  ) {
    this.leaseTableName = leaseTableName;
    openFleets.add(this);
    const t0 = this.clock.now();
    this.logger = pino(
      { level: 'info' },
      {
        write: (line: string) => {
          const {
            level: _l,
            time: _t,
            pid: _p,
            hostname: _h,
            component: _c,
            msg,
            workerId,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          if (rest.err) rest.err = (rest.err as { message?: string }).message;
          this.logs.push(`${this.clock.now() - t0} ${String(workerId)} ${String(msg)} ${JSON.stringify(rest)}`);
        },
      },
    );
  }

  /** Whether test "workers" answer lease:handoff by releasing at once. */
  set releaseOnHandOff(value: boolean) {
    this.#releaseOnHandOff = value;
  }

  add(workerId: string, options: Partial<LeaseCoordinatorOptions> = {}): Member {
    const faults: Faults = { partitioned: false, throttled: false };
    const client = new DynamoDBClient({
      endpoint: this.db.endpoint,
      region: this.db.region,
      credentials: this.db.credentials,
      maxAttempts: 1,
    });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const name = context.commandName ?? '?';
        if (faults.partitioned || faults.reject?.(name, args.input as Record<string, unknown>))
          throw Object.assign(new Error('connect ETIMEDOUT (partitioned by the test)'), {
            name: 'TimeoutError',
            code: 'ETIMEDOUT',
          });
        if (faults.conflict?.(name, args.input as Record<string, unknown>))
          throw Object.assign(new Error('The conditional request failed (forced by the test)'), {
            name: 'ConditionalCheckFailedException',
            $metadata: { httpStatusCode: 400 },
          });
        if (faults.throttled) {
          throw Object.assign(new Error('Throughput exceeds the current capacity of your table'), {
            name: 'ProvisionedThroughputExceededException',
            $metadata: { httpStatusCode: 400 },
          });
        }
        if (WRITES.has(name)) this.writes++;
        member.calls.set(name, (member.calls.get(name) ?? 0) + 1);
        const out = await next(args);
        await faults.afterResponse?.(name, args.input as Record<string, unknown>);
        faults.editOutput?.(name, out.output as unknown as Record<string, unknown>);
        return out;
      },
      { step: 'initialize', name: 'testFaults' },
    );
    const multiStream = options.streams !== undefined || this.defaults.streams !== undefined;
    const coordinator = new LeaseCoordinator({
      dynamodb: client,
      ...(multiStream ? {} : { streamArn: STREAM_ARN, shardLister: this.lister }),
      leaseTableName: this.leaseTableName,
      workerId,
      clock: this.clock,
      leaseDurationMs: LEASE_MS,
      heartbeatIntervalMs: HEARTBEAT_MS,
      takeoverMarginMs: MARGIN_MS,
      handOffTimeoutMs: 8_000,
      logger: this.logger,
      ...this.defaults,
      ...options,
    });
    const member: Member = { coordinator, faults, client, lost: [], acquiredAt: new Map(), calls: new Map() };
    coordinator.events.on('lease:acquired', ({ lease }) => {
      const other = this.holders.get(lease.leaseKey);
      if (other !== undefined && other !== workerId)
        this.overlaps.push(`${lease.leaseKey}: ${workerId} acquired while ${other} held it`);
      this.holders.set(lease.leaseKey, workerId);
      member.acquiredAt.set(lease.leaseKey, this.clock.now());
    });
    const gone = ({ leaseKey }: { leaseKey: string }) => {
      if (this.holders.get(leaseKey) === workerId) this.holders.delete(leaseKey);
    };
    coordinator.events.on('lease:lost', (event) => {
      member.lost.push({ ...event, at: this.clock.now() });
      gone(event);
    });
    coordinator.events.on('lease:released', gone);
    coordinator.events.on('lease:handoff', ({ leaseKey }) => {
      if (!this.#releaseOnHandOff) return;
      // The test worker stops the shard here, before release() starts moving the lease.
      gone({ leaseKey });
      void coordinator.release(leaseKey);
    });
    this.members.set(workerId, member);
    return member;
  }

  get(workerId: string): Member {
    const member = this.members.get(workerId);
    if (!member) throw new Error(`no member ${workerId}`);
    return member;
  }

  coordinators(): LeaseCoordinator[] {
    return [...this.members.values()].map((m) => m.coordinator);
  }

  /** Starts the given members concurrently (the clock stands still meanwhile). */
  async start(...workerIds: string[]): Promise<void> {
    await Promise.all(workerIds.map((id) => this.get(id).coordinator.start()));
    await this.settle();
  }

  /** Waits (real time, bounded) until every coordinator is parked on the clock. */
  async settle(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.coordinators().every((c) => c.idle)) {
        // Twice in a row: an idle loop may have just been woken by a microtask.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.coordinators().every((c) => c.idle)) return;
      }
      if (Date.now() > deadline) throw new Error('coordinators did not settle within 10 s of real time');
    }
  }

  /** Advances virtual time by `ms` in small steps, letting every coordinator finish its I/O at each. */
  async advance(ms: number, stepMs = 100): Promise<void> {
    for (let left = ms; left > 0; left -= stepMs) {
      await this.clock.advance(Math.min(stepMs, left));
      await this.settle();
    }
  }

  /** Advances virtual time until `condition` holds; returns the virtual ms it took. */
  async until(condition: () => boolean | Promise<boolean>, maxMs: number, stepMs = 100): Promise<number> {
    const start = this.clock.now();
    await this.settle();
    while (!(await condition())) {
      if (this.clock.now() - start >= maxMs) throw new Error(`condition not met within ${maxMs} virtual ms`);
      await this.clock.advance(stepMs);
      await this.settle();
    }
    return this.clock.now() - start;
  }

  /** Lease count per live coordinator, per events. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, m] of this.members) out.set(id, m.coordinator.heldLeases().length);
    return out;
  }

  async table() {
    return readLeaseTable(this.db.dynamodb, this.leaseTableName);
  }

  async close(): Promise<void> {
    openFleets.delete(this);
    // Stopping needs the clock to move (hand-off waits), so stop without hand-off here.
    await Promise.all(this.coordinators().map((c) => c.abandon()));
    for (const m of this.members.values()) m.client.destroy();
  }
}

export function spread(counts: Iterable<number>): number {
  const list = [...counts];
  return Math.max(...list) - Math.min(...list);
}
