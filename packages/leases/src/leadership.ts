import type { ShardInfo } from '@shardline/core';
import { planAssignment, unfinishedKeys } from './assignment.js';
import { LEASE_WRITES_IN_FLIGHT, forEachLimit } from './concurrency.js';
import { LeaseBatchError, LeaseConflictError } from './errors.js';
import { leaseFields, namesProcess } from './held-leases.js';
import { keyStyleFor, qualifiedLeaseKey } from './lease-key.js';
import { LEADER_KEY, type LeaderItem, type LeaseItem, type TableSnapshot } from './items.js';
import type { CoordinatorParts } from './parts.js';
import { Notices } from './notices.js';
import { ShardDiscovery } from './shard-discovery.js';
import { generations, planShardSync, type ShardSyncPlan } from './shard-sync.js';
import type { StreamFollower } from './stream-follower.js';
import { replacesAStream, tableOfStream, waitingStreams } from './stream-order.js';

export interface LeadershipDeps extends Pick<
  CoordinatorParts,
  'store' | 'streams' | 'membership' | 'status' | 'options' | 'clock' | 'log' | 'events' | 'background' | 'me'
> {
  follower: StreamFollower;
  startedAt(): number;
  /** When a previous incarnation of this worker id must have fenced itself (its leader item is vacant then). */
  previousIncarnationFencedAt(): number;
  requestFullRead(at: number): void;
  /** A lease this leader just took for itself: held at once, without waiting for the next read. */
  takenForMe(row: LeaseItem): void;
  /** A hand-off this leader just asked of itself. */
  handOffFromMe(row: LeaseItem, to: string): void;
}

export interface ShardSyncResult {
  created: number;
  deleted: number;
  shards: number;
  /** A full describe (audit) rather than an increment. */
  audit: boolean;
}

export interface AssignmentResult {
  taken: number;
  handOffs: number;
  conflicts: number;
}

/**
 * The leader item and the leader's work. Election at each full read (a vacant or dead leader's
 * item is taken with a conditional write; an invalid one is replaced once it has stayed
 * unchanged for the dead-after time), then, beside the poll and one run at a time, shard sync
 * and assignment on their own cadence: each a pure plan (`planShardSync`, `planAssignment`)
 * followed by conditional writes, and an epoch bump so the other workers read the table.
 */
export class Leadership {
  readonly #d: LeadershipDeps;
  #leader: LeaderItem | undefined;
  /** A leader item failing its schema, as first seen (raw values) and when, on our clock. */
  #invalidLeader: { signature: string; since: number } | undefined;
  #work: Promise<void> | undefined;
  #lastSyncAt = Number.NEGATIVE_INFINITY;
  #lastAssignmentAt = Number.NEGATIVE_INFINITY;
  #assignmentRequested = false;
  /** Hand-off requests seen by this leader, by shard + counter + target: when first seen. */
  readonly #pendingSince = new Map<string, number>();
  /** Lease keys, in both styles, of the shards of this leader's last listing of every stream. */
  #listedShards: Set<string> | undefined;
  /** Each stream's shard list, kept by increments between audits; one per stream, made on first sync. */
  readonly #discoveries = new Map<string, ShardDiscovery>();
  /** Notices not written yet (a bump failed). */
  #unnoticed = new Notices();

  constructor(deps: LeadershipDeps) {
    this.#d = deps;
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

  /** Whether this worker holds the leader item (as of its last read or write; fencing aside). */
  get holdsItem(): boolean {
    return this.#leader !== undefined;
  }

  /** Shard sync or assignment is running (in the background of the polls). */
  get busy(): boolean {
    return this.#work !== undefined;
  }

  /** Run assignment at the next opportunity (a worker joined or left, a parent shard ended). */
  requestAssignment(): void {
    this.#assignmentRequested = true;
  }

  /** Fenced: this worker may not act as leader; its item lapses for another to take. */
  resign(): void {
    if (this.#leader) this.#d.log.warn({}, 'fenced: acting as leader no more');
    this.#leader = undefined;
  }

  /** Gives the leader item up (graceful stop), so another worker is elected at its next poll. */
  async release(): Promise<void> {
    const leader = this.#leader;
    if (!leader) return;
    this.#leader = undefined;
    await this.#d.store
      .releaseLeader(leader)
      .catch((err: unknown) => this.#d.log.warn({ err }, 'releasing the leader item failed'));
  }

  /** Forgets the leader item without a write (abandon). */
  forget(): void {
    this.#leader = undefined;
  }

  /** Election, then the leader's work in the background; after each full read. */
  async onFullRead(snapshot: TableSnapshot, now: number): Promise<void> {
    const { status, log } = this.#d;
    const row = snapshot.leader;
    if (row === undefined && snapshot.invalid.some((r) => r.leaseKey === LEADER_KEY))
      await this.#replaceInvalidLeader(now);
    else this.#invalidLeader = undefined;
    if (row !== undefined && namesProcess(row, this.#d.me)) {
      if (this.#leader?.leaseCounter !== row.leaseCounter) this.#becomeLeader(row);
      this.#leader = row;
    } else {
      if (this.#leader) log.warn({ leader: row?.leaseOwner }, 'leadership moved to another worker');
      this.#leader = undefined;
      if (!status.isRunning() || !(await this.#elect(row, now))) return;
    }
    if (!status.isRunning() || this.#work) return;
    // Shard sync and assignment can take a while on a big stream: they run beside the poll,
    // one run at a time, so the leader's own leases and hand-offs are never kept waiting.
    const work = this.#runWork(snapshot, now).finally(() => {
      if (this.#work === work) this.#work = undefined;
    });
    this.#work = work;
    this.#d.background.add(work);
  }

  /** Takes the leader item when vacant; true when this worker is the leader now. */
  async #elect(row: LeaderItem | undefined, now: number): Promise<boolean> {
    const { me, membership } = this.#d;
    // A leader row of this worker id but another session is a previous incarnation's: it is
    // vacant once that incarnation must have fenced itself.
    const adoptAt = this.#d.previousIncarnationFencedAt();
    const vacant =
      row === undefined || (row.leaseOwner === me.workerId ? now >= adoptAt : membership.isGone(row.leaseOwner, now));
    if (!vacant) {
      if (row.leaseOwner === me.workerId) this.#d.requestFullRead(adoptAt);
      return false;
    }
    try {
      const item = await this.#d.store.acquireLeader(me, row);
      this.#leader = item;
      this.#becomeLeader(item);
      return true;
    } catch (err) {
      if (!(err instanceof LeaseConflictError)) this.#d.log.warn({ err }, 'leader election write failed');
      return false;
    }
  }

  #becomeLeader(item: LeaderItem): void {
    this.#lastSyncAt = Number.NEGATIVE_INFINITY;
    // A new leader's knowledge may be stale: each stream's list starts again from the lease
    // table (what the fleet knows now) and the shards listed after its newest lease. Not a
    // full describe: a restarted fleet of a 10,000-shard stream would spend 10 s of the
    // account's DescribeStream rate on it, while every shard that matters has a lease.
    this.#discoveries.clear();
    this.#assignmentRequested = true;
    this.#d.log.info({ leaseCounter: item.leaseCounter }, 'elected leader');
    this.#d.events.emit('leader:elected', { workerId: this.#d.me.workerId });
  }

  /**
   * Checked before each write: a leader that was paused and fenced meanwhile stops writing
   * plans made before the pause (they would only lose their conditional races, but churn).
   */
  #stillLeader(): boolean {
    const { status } = this.#d;
    return this.#leader !== undefined && !status.isFenced() && status.isRunning() && !status.checkFence();
  }

  async #runWork(snapshot: TableSnapshot, now: number): Promise<void> {
    const { options, status, store, clock, log, events } = this.#d;
    // A worker that just started has not yet seen the heartbeats of those started with it: a
    // first assignment then would give it everything and rebalance right after.
    if (now < this.#d.startedAt() + options.heartbeatIntervalMs) return;
    let current = snapshot;
    // A followed table's new stream is synced at once (its leases wait for the old stream anyway).
    if (await this.#d.follower.check(now)) this.#lastSyncAt = Number.NEGATIVE_INFINITY;
    if (now >= this.#lastSyncAt + options.shardSyncIntervalMs) {
      this.#lastSyncAt = now;
      try {
        const result = await this.#shardSync(current);
        events.emit('shardsync:done', result);
        if (result.created > 0 || result.deleted > 0 || clock.now() - now > options.heartbeatIntervalMs) {
          current = await store.scan();
          this.#assignmentRequested = true;
        }
      } catch (err) {
        log.warn({ err }, 'shard sync failed; retrying next interval');
        this.#lastSyncAt = now - options.shardSyncIntervalMs + options.heartbeatIntervalMs;
      }
    }
    if (!this.#unnoticed.empty && this.#stillLeader()) await this.#bumpEpoch(new Notices());
    if (
      this.#leader !== undefined &&
      !status.isFenced() &&
      (this.#assignmentRequested || now >= this.#lastAssignmentAt + options.assignmentIntervalMs)
    ) {
      this.#assignmentRequested = false;
      this.#lastAssignmentAt = now;
      await this.#forceStuckHandOffs(current, now);
      await this.#dropInboxesOfGone(current, now);
      const result = await this.#assign(current);
      if (result.taken + result.handOffs > 0) log.info(result, 'assignment cycle');
    }
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
  async #shardSync(snapshot: TableSnapshot): Promise<ShardSyncResult> {
    const { streams, options, clock, log } = this.#d;
    const invalidKeys = new Set(snapshot.invalid.map((row) => row.leaseKey));
    const leases = this.#applicationLeases(snapshot);
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

  /** The valid leases of this application's streams (other rows of the table are left alone). */
  #applicationLeases(snapshot: TableSnapshot): LeaseItem[] {
    return snapshot.leases.filter((lease) => this.#d.streams.has(lease.streamArn));
  }

  /** New leases that may start at once get their owner in the create write (balanced as assignment would). */
  #withOwners(
    snapshot: TableSnapshot,
    leases: LeaseItem[],
    toCreate: LeaseItem[],
    listed: Set<string> | undefined,
  ): LeaseItem[] {
    const { options, clock, membership } = this.#d;
    if (toCreate.length > 0) {
      const now = clock.now();
      const fresh = new Set(toCreate.map((item) => item.leaseKey));
      const owners = new Map<string, string>();
      const all = [...leases, ...toCreate];
      for (const action of planAssignment({
        leases: all,
        unfinishedKeys: unfinishedKeys(snapshot, listed),
        waitingStreams: waitingStreams(all),
        alive: membership.alive(),
        draining: new Set(membership.draining()),
        isGone: (workerId) => membership.isGone(workerId, now),
        maxLeasesPerWorker: options.maxLeasesPerWorker,
      })) {
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
      const { written, failure } = await settled(store.createLeases(generation, () => this.#stillLeader()));
      created += written.length;
      // Workers a write concerns: told through the leader item (see #bumpEpoch).
      const concerned = new Notices();
      for (const item of written) {
        if (item.leaseOwner !== undefined) concerned.add(item.leaseOwner, item.leaseKey);
        if (item.leaseOwner === me.workerId) this.#d.takenForMe(item);
      }
      // The owners start now, not after the last generation (thousands of leases take a while).
      await this.#bumpEpoch(concerned);
      // The next generation waits: its parents' leases may be missing.
      if (failure) throw failure;
    }
    return created;
  }

  /** Children just listed, recorded on their parent's lease: its shard end then asks the stream nothing. */
  async #recordChildren(records: ShardSyncPlan['recordChildren']): Promise<void> {
    const { store, log } = this.#d;
    await forEachLimit(records, LEASE_WRITES_IN_FLIGHT, async ({ lease, childShardIds }) => {
      if (!this.#stillLeader()) return;
      // Best effort: the worker ending the shard lists its children when none are recorded.
      await store
        .setChildren(lease, childShardIds)
        .catch((err: unknown) => log.debug({ ...leaseFields(lease), err }, 'recording children failed'));
    });
  }

  async #deleteLeases(toDelete: LeaseItem[]): Promise<number> {
    const { store, log } = this.#d;
    const { written: deleted, failure } = await settled(store.deleteLeases(toDelete, () => this.#stillLeader()));
    // Workers a deletion concerns: told through the leader item (see #bumpEpoch).
    const concerned = new Notices();
    for (const lease of deleted) {
      // A held lease deleted (trimmed): its owner reads the table and drops it. A finished one
      // was given up already: no one to tell (thousands go after a big history is read).
      if (lease.leaseOwner !== undefined && lease.checkpoint !== 'SHARD_END') concerned.add(lease.leaseOwner);
      log.info({ ...leaseFields(lease), checkpoint: lease.checkpoint }, 'deleted finished lease');
    }
    await this.#bumpEpoch(concerned);
    if (failure) throw failure;
    return deleted.length;
  }

  async #assign(snapshot: TableSnapshot): Promise<AssignmentResult> {
    const { clock, options, membership, store, log, me } = this.#d;
    const now = clock.now();
    const leases = this.#applicationLeases(snapshot);
    const actions = planAssignment({
      leases,
      unfinishedKeys: unfinishedKeys(snapshot, this.#listedShards),
      waitingStreams: waitingStreams(leases),
      alive: membership.alive(),
      draining: new Set(membership.draining()),
      isGone: (workerId) => membership.isGone(workerId, now),
      maxLeasesPerWorker: options.maxLeasesPerWorker,
    });
    const result: AssignmentResult = { taken: 0, handOffs: 0, conflicts: 0 };
    const concerned = new Notices();
    await forEachLimit(actions, LEASE_WRITES_IN_FLIGHT, async (action) => {
      const { lease, to } = action;
      const fields = { ...leaseFields(lease), to };
      const sessionId = membership.sessionOf(to);
      if (!sessionId || !this.#stillLeader()) return;
      try {
        if (action.kind === 'take') {
          const row = await store.transfer(lease, { workerId: to, sessionId });
          result.taken++;
          concerned.add(to, lease.leaseKey);
          // The previous owner is gone (judged dead): should it be alive after all, it reads the table.
          if (lease.leaseOwner !== undefined) concerned.add(lease.leaseOwner);
          log.info(
            { ...fields, leaseCounter: row.leaseCounter, previousOwner: lease.leaseOwner ?? null },
            'assigned lease',
          );
          if (to === me.workerId) this.#d.takenForMe(row);
        } else {
          await store.requestHandOff(lease, { workerId: to, sessionId });
          result.handOffs++;
          if (lease.leaseOwner !== undefined) concerned.add(lease.leaseOwner, lease.leaseKey);
          log.info(fields, 'requested hand-off for rebalance');
          if (lease.leaseOwner === me.workerId)
            this.#d.handOffFromMe({ ...lease, pendingOwner: to, pendingOwnerSession: sessionId }, to);
        }
      } catch (err) {
        if (err instanceof LeaseConflictError) {
          result.conflicts++;
          log.debug({ ...fields, err }, 'assignment lost a race; decided again next cycle');
        } else log.warn({ ...fields, err }, 'assignment write failed');
      }
    });
    await this.#bumpEpoch(concerned);
    return result;
  }

  /**
   * Backstop for a hand-off its live owner never completes (its own timer moves the lease after
   * handOffTimeoutMs; this only fires if that did not happen a lease duration later, e.g. a wedged
   * event loop that still heartbeats). Measured on the leader's clock from when it first saw the
   * request.
   */
  async #forceStuckHandOffs(snapshot: TableSnapshot, now: number): Promise<void> {
    const { options, membership, store, log } = this.#d;
    const pendingSince = this.#pendingSince;
    const limit = options.handOffTimeoutMs + options.leaseDurationMs + options.takeoverMarginMs;
    const seen = new Set<string>();
    const concerned = new Notices();
    for (const row of snapshot.leases) {
      if (row.pendingOwner === undefined || row.leaseOwner === undefined) continue;
      const key = `${row.leaseKey}\u0000${row.leaseCounter}\u0000${row.pendingOwner}`;
      seen.add(key);
      const since = pendingSince.get(key);
      if (since === undefined) {
        pendingSince.set(key, now);
        continue;
      }
      if (now < since + limit || !this.#stillLeader()) continue;
      const session = membership.sessionOf(row.pendingOwner);
      const fields = { ...leaseFields(row), to: row.pendingOwner };
      try {
        await store.transfer(row, session ? { workerId: row.pendingOwner, sessionId: session } : undefined);
        log.warn(fields, 'hand-off never completed by its live owner; moved by the leader');
        concerned.add(row.leaseOwner).add(row.pendingOwner, row.leaseKey);
      } catch (err) {
        log.debug({ ...fields, err }, 'forcing a stuck hand-off lost a race');
      }
    }
    for (const key of [...pendingSince.keys()]) if (!seen.has(key)) pendingSince.delete(key);
    await this.#bumpEpoch(concerned);
  }

  /** The inbox and notice of a worker judged gone would stay on the leader item for good: removed. */
  async #dropInboxesOfGone(snapshot: TableSnapshot, now: number): Promise<void> {
    const { membership, store, log } = this.#d;
    const ids = new Set([
      ...Object.keys(snapshot.leader?.inboxes ?? {}),
      ...Object.keys(snapshot.leader?.notices ?? {}),
    ]);
    for (const id of ids) {
      if (!membership.isGone(id, now) || !this.#stillLeader()) continue;
      await store
        .clearInbox(id)
        .catch((err: unknown) => log.debug({ err, workerId: id }, 'removing a gone worker inbox failed'));
    }
  }

  /**
   * A garbage leader item would block every election (the vacancy write needs the item absent)
   * and with it shard sync and assignment, for good. Once it has stayed the same for as long as
   * a silent worker takes to be judged dead, it is deleted, conditional on the values read.
   */
  async #replaceInvalidLeader(now: number): Promise<void> {
    const { status, options, store, log } = this.#d;
    if (!status.isRunning() || status.isFenced()) return;
    const deadAfterMs = options.leaseDurationMs + options.takeoverMarginMs;
    try {
      const raw = await store.getRaw(LEADER_KEY);
      if (!raw) return;
      const signature = JSON.stringify(Object.entries(raw).sort(([a], [b]) => a.localeCompare(b)));
      if (this.#invalidLeader?.signature !== signature) {
        this.#invalidLeader = { signature, since: now };
        log.error(
          { leaseKey: LEADER_KEY, deadAfterMs },
          'the leader item is invalid: no leader can be elected (no shard sync, no assignment); it is replaced if it stays unchanged',
        );
        return;
      }
      if (now < this.#invalidLeader.since + deadAfterMs) return;
      await store.deleteIfUnchanged(LEADER_KEY, raw);
      this.#invalidLeader = undefined;
      log.error(
        { leaseKey: LEADER_KEY, item: signature },
        'deleted the invalid leader item, unchanged for the dead-after time; electing a leader',
      );
    } catch (err) {
      if (err instanceof LeaseConflictError)
        log.info({ leaseKey: LEADER_KEY }, 'the invalid leader item changed before it could be replaced');
      else log.warn({ err, leaseKey: LEADER_KEY }, 'replacing the invalid leader item failed');
    }
  }

  /**
   * Lets the workers these writes concern know (nothing when none): only they read the whole
   * table, not every worker for every change. Failing only delays them to their next full read.
   */
  async #bumpEpoch(concerned: Notices): Promise<void> {
    const pending = this.#unnoticed;
    pending.merge(concerned.without(this.#d.me.workerId));
    if (pending.empty) return;
    this.#unnoticed = new Notices();
    try {
      await this.#d.store.bumpEpoch(pending);
    } catch (err) {
      // Kept and sent with the next bump (at the latest the next cycle): a notice is how a
      // worker learns of a lease put on it, and its own safety-net read is minutes away.
      this.#unnoticed.merge(pending);
      this.#d.log.warn({ err }, 'epoch bump failed; sent again next cycle');
    }
  }
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
