import type { ShardInfo } from '@shardline/core';
import { planLeaderAssignment } from './assignment.js';
import { LEASE_WRITES_IN_FLIGHT, forEachLimit } from './concurrency.js';
import { LeaseBatchError } from './errors.js';
import { leaseFields } from './held-leases.js';
import type { LeaseItem, TableSnapshot } from './items.js';
import { keyStyleFor, qualifiedLeaseKey } from './lease-key.js';
import { Notices } from './notices.js';
import type { CoordinatorParts } from './parts.js';
import { ShardDiscovery } from './shard-discovery.js';
import { generations, planShardSync, type ShardSyncPlan } from './shard-sync.js';
import { replacesAStream, tableOfStream } from './stream-order.js';
import type { StreamSet } from './stream-set.js';

export interface LeaderShardSyncDeps extends Pick<
  CoordinatorParts,
  'store' | 'streams' | 'membership' | 'options' | 'clock' | 'log' | 'me'
> {
  /** Checked before each write: a leader fenced meanwhile stops writing what it planned before. */
  stillLeader(): boolean;
  /** Tells the workers these writes concern (the leader's epoch bump). */
  notify(concerned: Notices): Promise<void>;
  /** A lease this leader just created for itself: held at once, without waiting for the next read. */
  takenForMe(row: LeaseItem): void;
}

export interface ShardSyncResult {
  created: number;
  deleted: number;
  shards: number;
  /** A full describe (audit) rather than an increment. */
  audit: boolean;
}

/**
 * The leader's shard sync, one run at a time (Leadership decides when): each stream listed
 * (`ShardDiscovery`, increments between audits), a pure plan (`planShardSync`), then its
 * writes: new leases generation by generation with their owners already set, finished and
 * replaced streams' leases deleted, children recorded on their parents.
 */
export class LeaderShardSync {
  readonly #d: LeaderShardSyncDeps;
  /** Lease keys, in both styles, of the shards of this leader's last listing of every stream. */
  #listedShards: Set<string> | undefined;
  /** Each stream's shard list, kept by increments between audits; one per stream, made on first sync. */
  readonly #discoveries = new Map<string, ShardDiscovery>();

  constructor(deps: LeaderShardSyncDeps) {
    this.#d = deps;
  }

  /** The last run's listing when it was a complete audit (else undefined): see `unfinishedKeys`. */
  get listedShards(): ReadonlySet<string> | undefined {
    return this.#listedShards;
  }

  /**
   * A new leader's knowledge may be stale: each stream's list starts again from the lease
   * table (what the fleet knows now) and the shards listed after its newest lease. Not a
   * full describe: a restarted fleet of a 10,000-shard stream would spend 10 s of the
   * account's DescribeStream rate on it, while every shard that matters has a lease.
   */
  forgetListings(): void {
    this.#discoveries.clear();
  }

  /** The stream's discovery; a new one starts from the shards its leases name (`own`), see ShardDiscovery.seed. */
  #discoveryOf(streamArn: string, own: readonly LeaseItem[]): ShardDiscovery {
    let discovery = this.#discoveries.get(streamArn);
    if (!discovery) {
      const { streams, options, clock, log } = this.#d;
      discovery = new ShardDiscovery({
        streamArn,
        lister: streams.lister(streamArn),
        auditIntervalMs: options.shardAuditIntervalMs,
        clock,
        log,
      });
      discovery.seed(
        own.map((lease) => ({
          shardId: lease.shardId,
          ...(lease.parentShardIds[0] === undefined ? {} : { parentShardId: lease.parentShardIds[0] }),
        })),
      );
      this.#discoveries.set(streamArn, discovery);
    }
    return discovery;
  }

  /**
   * Creates the leases of new shards and deletes finished ones, for every stream of the
   * application: the streams are listed one after the other, so the process-wide DescribeStream
   * limiter of `@shardline/streams` keeps the whole sync under the service's rate however many
   * streams there are. New leases that may start at once are written with their owner already
   * set (balanced like an assignment cycle, over the leases of all streams): one write per new
   * shard instead of two, which halves the time a brand-new application of thousands of shards
   * needs to get going.
   */
  async run(snapshot: TableSnapshot): Promise<ShardSyncResult> {
    const { streams, options, clock, log } = this.#d;
    const invalidKeys = new Set(snapshot.invalid.map((row) => row.leaseKey));
    const leases = applicationLeases(snapshot, this.#d.streams);
    const listed = new Set<string>();
    const plans: Array<{ streamArn: string; plan: ShardSyncPlan }> = [];
    const retired: LeaseItem[] = [];
    let shardCount = 0;
    let failures = 0;
    let audit = true;
    let audited = true;
    const arns = streams.arns;
    for (const streamArn of arns) {
      let shards: ShardInfo[];
      let complete: boolean;
      let fresh: ReadonlySet<string>;
      const own = leases.filter((lease) => lease.streamArn === streamArn);
      const discovery = this.#discoveryOf(streamArn, own);
      // A replaced stream is described in full until it retires: an increment does not see its
      // older shards close, and their ends are what lets the new stream start.
      if (this.#replaced(streamArn)) discovery.requestAudit();
      try {
        ({ shards, complete, fresh } = await discovery.sync());
      } catch (err) {
        // One stream that cannot be listed does not hold the others back.
        failures++;
        log.warn({ err, streamArn }, 'listing a stream failed; its shards are synced next interval');
        continue;
      }
      shardCount += shards.length;
      audit &&= complete;
      audited &&= discovery.audited;
      for (const shard of shards) {
        listed.add(shard.shardId);
        listed.add(qualifiedLeaseKey(streamArn, shard.shardId));
      }
      const plan = planShardSync({
        streamArn,
        shards,
        listingComplete: complete,
        freshShardIds: fresh,
        leases: own,
        invalidKeys,
        // A re-enabled table's new stream is read from its start whatever initialPosition says:
        // it holds what was written after the switch, and nothing may be skipped.
        initialPosition: replacesAStream(streamArn, [...streams.arns, ...leases.map((l) => l.streamArn)])
          ? 'TRIM_HORIZON'
          : options.initialPosition,
        keyStyle: keyStyleFor(streamArn, snapshot.leases, streams.arns),
        now: new Date(clock.now()).toISOString(),
      });
      plans.push({ streamArn, plan });
      if (this.#drainedAndReplaced(streamArn, shards, own, plan)) {
        retired.push(...own.filter((lease) => !plan.delete.includes(lease)));
        streams.retire(streamArn);
        this.#discoveries.delete(streamArn);
        log.info({ streamArn, leases: own.length }, 'retired a replaced stream: every shard finished');
      }
    }
    if (failures === arns.length) throw new Error(`none of the ${arns.length} stream(s) could be listed`);
    // Invalid rows of shards not listed count as gone (children no longer wait on them): only
    // on a list an audit made, never on the lease table's own view (a seed).
    this.#listedShards = audited && failures === 0 ? listed : undefined;
    const toCreate = this.#withOwners(
      snapshot,
      leases,
      plans.flatMap(({ plan }) => plan.create),
      this.#listedShards,
    );
    const created = await this.#createLeases(toCreate);
    const deleted = await this.#deleteLeases([...plans.flatMap(({ plan }) => plan.delete), ...retired]);
    await this.#recordChildren(plans.flatMap(({ plan }) => plan.recordChildren));
    for (const { streamArn, plan } of plans) {
      if (plan.newApplication && plan.create.length > 0)
        log.info(
          { streamArn, created: plan.create.length, initialPosition: plan.create[0]?.checkpoint },
          'new stream: created its first leases',
        );
    }
    return { created, deleted, shards: shardCount, audit };
  }

  /**
   * A stream a later stream of its table replaced, with every shard closed, leased and finished:
   * its leases are deleted and it is listed no more (its successor's gate opens with that).
   */
  #drainedAndReplaced(streamArn: string, shards: ShardInfo[], own: LeaseItem[], plan: ShardSyncPlan): boolean {
    return (
      this.#replaced(streamArn) &&
      shards.length > 0 &&
      shards.every((shard) => shard.endingSequenceNumber !== undefined) &&
      plan.create.length === 0 &&
      own.every((lease) => lease.checkpoint === 'SHARD_END')
    );
  }

  /** A stream of a followed table that a later stream of that table replaced. */
  #replaced(streamArn: string): boolean {
    const table = tableOfStream(streamArn);
    if (table === undefined || !this.#d.streams.followedTables.includes(table)) return false;
    return this.#d.streams.streamsOf(table).at(-1) !== streamArn;
  }

  /** New leases that may start at once get their owner in the create write (balanced as assignment would). */
  #withOwners(
    snapshot: TableSnapshot,
    leases: LeaseItem[],
    toCreate: LeaseItem[],
    listed: ReadonlySet<string> | undefined,
  ): LeaseItem[] {
    const { options, clock, membership } = this.#d;
    if (toCreate.length > 0) {
      const now = clock.now();
      const fresh = new Set(toCreate.map((item) => item.leaseKey));
      const owners = new Map<string, string>();
      const plan = planLeaderAssignment({
        snapshot,
        leases: [...leases, ...toCreate],
        listed,
        fleet: membership,
        maxLeasesPerWorker: options.maxLeasesPerWorker,
        now,
      });
      for (const action of plan) {
        if (action.kind === 'take' && fresh.has(action.lease.leaseKey)) owners.set(action.lease.leaseKey, action.to);
      }
      return toCreate.map((item) => {
        const to = owners.get(item.leaseKey);
        const sessionId = to === undefined ? undefined : membership.sessionOf(to);
        return to !== undefined && sessionId !== undefined
          ? { ...item, leaseOwner: to, ownerSession: sessionId, leaseCounter: 1, ownerSwitchesSinceCheckpoint: 1 }
          : item;
      });
    }
    return toCreate;
  }

  /**
   * Parents are written before children, generation by generation: a child lease must never be
   * visible (and so assignable) while its parent's lease is still missing.
   */
  async #createLeases(toCreate: LeaseItem[]): Promise<number> {
    const { store, me } = this.#d;
    let created = 0;
    for (const generation of generations(toCreate)) {
      // In transactions of up to 100 (lease-store.ts): a generation of 1,000 leases is 10 requests.
      const { written, failure } = await settled(store.createLeases(generation, () => this.#d.stillLeader()));
      created += written.length;
      // Workers a write concerns: told through the leader item (`notify`).
      const concerned = new Notices();
      for (const item of written) {
        if (item.leaseOwner !== undefined) concerned.add(item.leaseOwner, item.leaseKey);
        if (item.leaseOwner === me.workerId) this.#d.takenForMe(item);
      }
      // The owners start now, not after the last generation (thousands of leases take a while).
      await this.#d.notify(concerned);
      // The next generation waits: its parents' leases may be missing.
      if (failure) throw failure;
    }
    return created;
  }

  /** Children just listed, recorded on their parent's lease: its shard end then asks the stream nothing. */
  async #recordChildren(records: ShardSyncPlan['recordChildren']): Promise<void> {
    const { store, log } = this.#d;
    await forEachLimit(records, LEASE_WRITES_IN_FLIGHT, async ({ lease, childShardIds }) => {
      if (!this.#d.stillLeader()) return;
      // Best effort: the worker ending the shard lists its children when none are recorded.
      await store
        .setChildren(lease, childShardIds)
        .catch((err: unknown) => log.debug({ ...leaseFields(lease), err }, 'recording children failed'));
    });
  }

  async #deleteLeases(toDelete: LeaseItem[]): Promise<number> {
    const { store, log } = this.#d;
    const { written: deleted, failure } = await settled(store.deleteLeases(toDelete, () => this.#d.stillLeader()));
    // Workers a deletion concerns: told through the leader item (`notify`).
    const concerned = new Notices();
    for (const lease of deleted) {
      // A held lease deleted (trimmed): its owner reads the table and drops it. A finished one
      // was given up already: no one to tell (thousands go after a big history is read).
      if (lease.leaseOwner !== undefined && lease.checkpoint !== 'SHARD_END') concerned.add(lease.leaseOwner);
      log.info({ ...leaseFields(lease), checkpoint: lease.checkpoint }, 'deleted finished lease');
    }
    await this.#d.notify(concerned);
    if (failure) throw failure;
    return deleted.length;
  }
}

/** The valid leases of this application's streams (other rows of the table are left alone). */
export function applicationLeases(snapshot: TableSnapshot, streams: Pick<StreamSet, 'has'>): LeaseItem[] {
  return snapshot.leases.filter((lease) => streams.has(lease.streamArn));
}

/** A batch of lease writes as written so far, and its failure if it stopped (LeaseBatchError). */
async function settled(
  batch: Promise<LeaseItem[]>,
): Promise<{ written: readonly LeaseItem[]; failure?: LeaseBatchError<LeaseItem> }> {
  try {
    return { written: await batch };
  } catch (err) {
    if (err instanceof LeaseBatchError) return { written: err.written as LeaseItem[], failure: err };
    throw err;
  }
}
