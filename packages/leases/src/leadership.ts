import { planLeaderAssignment } from './assignment.js';
import { LEASE_WRITES_IN_FLIGHT, forEachLimit } from './concurrency.js';
import { LeaseConflictError } from './errors.js';
import { leaseFields, namesProcess } from './held-leases.js';
import { LEADER_KEY, type LeaderItem, type LeaseItem, type TableSnapshot } from './items.js';
import { LeaderShardSync, applicationLeases } from './leader-shard-sync.js';
import type { CoordinatorParts } from './parts.js';
import { Notices } from './notices.js';
import type { StreamFollower } from './stream-follower.js';

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

export interface AssignmentResult {
  taken: number;
  handOffs: number;
  conflicts: number;
}

/**
 * The leader item and the leader's work. Election at each full read (a vacant or dead leader's
 * item is taken with a conditional write; an invalid one is replaced once it has stayed
 * unchanged for the dead-after time), then, beside the poll and one run at a time, shard sync
 * (`LeaderShardSync`) and assignment on their own cadence: each a pure plan (`planShardSync`,
 * `planAssignment`) followed by conditional writes, and an epoch bump so the other workers read
 * the table (this class is the one owner of those bumps and of the notices a failed one keeps).
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
  /** Shard sync's listings and writes; when it runs is decided here (`#runWork`). */
  readonly #shardSync: LeaderShardSync;
  /** Notices not written yet (a bump failed). */
  #unnoticed = new Notices();

  constructor(deps: LeadershipDeps) {
    this.#d = deps;
    const { store, streams, membership, options, clock, log, me } = deps;
    this.#shardSync = new LeaderShardSync({
      store,
      streams,
      membership,
      options,
      clock,
      log,
      me,
      takenForMe: (row) => deps.takenForMe(row),
      stillLeader: () => this.#stillLeader(),
      notify: (concerned) => this.#bumpEpoch(concerned),
    });
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
    this.#shardSync.forgetListings();
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
        const result = await this.#shardSync.run(current);
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

  async #assign(snapshot: TableSnapshot): Promise<AssignmentResult> {
    const { clock, options, membership, store, log, me } = this.#d;
    const now = clock.now();
    const actions = planLeaderAssignment({
      snapshot,
      leases: applicationLeases(snapshot, this.#d.streams),
      listed: this.#shardSync.listedShards,
      fleet: membership,
      maxLeasesPerWorker: options.maxLeasesPerWorker,
      now,
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
