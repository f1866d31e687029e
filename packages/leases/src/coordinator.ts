import { randomUUID } from 'node:crypto';
import {
  LeaseLostError,
  SafeEmitter,
  ShardlineError,
  isSequenceNumber,
  compareCheckpoints,
  retry,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
} from '@shardline/core';
import { parentsFinished } from './assignment.js';
import { LeaseConflictError } from './errors.js';
import type { LeaseCoordinatorEvents, LeaseLostReason } from './events.js';
import {
  LEADER_KEY,
  toLease,
  workerKey,
  type LeaderItem,
  type Lease,
  type LeaseItem,
  type TableSnapshot,
} from './items.js';
import { forceStuckHandOffs, runAssignment, runShardSync, type LeaderContext } from './leader.js';
import { LeaseStore } from './lease-store.js';
import { Heartbeater } from './heartbeater.js';
import { Membership, type MembershipChange } from './membership.js';
import {
  resolveLeaseOptions,
  type LeaseCoordinatorOptions,
  type ResolvedLeaseOptions,
  type ShardLister,
} from './options.js';
import { newLeaseItem } from './shard-sync.js';

interface Held {
  row: LeaseItem;
  /** Acquisition order: a table read started before it says nothing about this lease. */
  seq: number;
  handOff?: { to: string | undefined; timer: AbortController } | undefined;
}

/**
 * Shares a stream's shards among workers through a DynamoDB lease table. Each worker writes one
 * heartbeat item per interval (not one write per lease, as KCL does) and reads the table once
 * per interval; one elected leader runs shard sync and assignment. See the package README for
 * the protocol and the races it closes.
 */
export class LeaseCoordinator {
  readonly events: SafeEmitter<LeaseCoordinatorEvents>;
  readonly options: ResolvedLeaseOptions;
  readonly #store: LeaseStore;
  readonly #lister: ShardLister;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #sessionId = randomUUID();
  readonly #membership: Membership;
  readonly #held = new Map<string, Held>();
  /** Counter of each lease dropped while its row may still name this worker: re-taken only with a bump. */
  readonly #dropped = new Map<string, number>();
  /** Leases whose release write is in flight: never re-taken meanwhile. */
  readonly #releasing = new Set<string>();
  readonly #reportedInvalid = new Set<string>();
  readonly #background = new Set<Promise<void>>();

  #state: 'new' | 'starting' | 'running' | 'draining' | 'stopped' = 'new';
  #stopPromise: Promise<void> | undefined;
  #starting: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #watchLoop: Promise<void> | undefined;
  #watchBusy = false;
  #nextPollAt = 0;
  /** Read often until then: a worker just died and its leases are about to be reassigned. */
  #fastPollUntil = 0;
  #lastFullReadAt = Number.NEGATIVE_INFINITY;
  /** A full read is due then, whatever the epoch says (a previous incarnation's rows to adopt). */
  #fullReadDueAt: number | undefined;
  /** The leader item as of the last full read: a light read compares against it. */
  #leaderSeen: LeaderItem | undefined;
  /** Hand-off requests seen by this leader, by shard + counter + target: when first seen. */
  readonly #pendingSince = new Map<string, number>();
  #leaderWork: Promise<void> | undefined;
  readonly #lifetime = new AbortController();
  #poke = new AbortController();
  #pokeRequested = false;
  #busy = false;
  #acquireSeq = 0;

  readonly #heartbeater: Heartbeater;
  /** Another process took over this worker id's heartbeat item: fenced for the rest of this process. */
  #superseded = false;
  #heartbeatWritten = false;
  #startedAt = 0;

  #leader: LeaderItem | undefined;
  /** A leader item failing its schema, as first seen (raw values) and when, on our clock. */
  #invalidLeader: { signature: string; since: number } | undefined;
  #lastAssignmentAt = Number.NEGATIVE_INFINITY;
  #lastSyncAt = Number.NEGATIVE_INFINITY;
  #assignmentRequested = false;
  #extraWakeAt: number | undefined;
  #snapshot: TableSnapshot | undefined;
  /** Shard ids of the leader's last listing of the stream. */
  #listedShards: Set<string> | undefined;

  constructor(options: LeaseCoordinatorOptions) {
    this.options = resolveLeaseOptions(options);
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.logger ?? silentLogger()).child({
      component: 'lease-coordinator',
      workerId: this.options.workerId,
    });
    this.events = new SafeEmitter(() => this.#log);
    this.#store = new LeaseStore(options.dynamodb, this.options.leaseTableName, this.#clock);
    this.#lister = options.shardLister;
    this.#membership = new Membership(this.options.leaseDurationMs + this.options.takeoverMarginMs);
    this.#heartbeater = new Heartbeater({
      clock: this.#clock,
      leaseDurationMs: this.options.leaseDurationMs,
      intervalMs: this.options.heartbeatIntervalMs,
      log: this.#log,
      write: (beat, signal) => this.#writeHeartbeat(beat, signal),
      onFence: (lastOkAt) => this.#fence(lastOkAt),
      onRecover: () => this.#log.warn({}, 'heartbeat got through again; leases still ours will be re-taken'),
    });
  }

  get workerId(): string {
    return this.options.workerId;
  }

  /** Leases this worker holds now (hand-offs in progress included). */
  heldLeases(): Lease[] {
    return [...this.#held.values()].map((held) => toLease(held.row));
  }

  /**
   * When (on the injected clock) the last heartbeat that got through was sent; undefined before
   * the first. Health checks compare it with the lease duration: older means this worker is
   * fencing itself and others may already be taking its leases.
   */
  lastHeartbeatAt(): number | undefined {
    return this.#heartbeater.lastOkAtIfAny;
  }

  /**
   * True while this worker has fenced itself (no heartbeat got through for a lease duration, or
   * another process took over its worker id): it holds nothing and takes nothing until it recovers.
   */
  isFenced(): boolean {
    return this.#fenced;
  }

  isLeader(): boolean {
    return this.#leader !== undefined && !this.#fenced;
  }

  /** True while no poll or background write is in flight (tests drive a fake clock with it). */
  get idle(): boolean {
    return (
      !this.#busy &&
      !this.#heartbeater.busy &&
      !this.#watchBusy &&
      this.#background.size === 0 &&
      this.#state !== 'starting'
    );
  }

  /** Creates or checks the lease table, writes the first heartbeat, then polls in the background. */
  start(): Promise<void> {
    if (this.#state !== 'new')
      return Promise.reject(
        new ShardlineError(`lease coordinator ${this.workerId} was already started or stopped; create a new one`),
      );
    this.#state = 'starting';
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    try {
      await this.#store.ensureTable({ signal: this.#lifetime.signal });
      this.#startedAt = this.#clock.now();
      await this.#heartbeater.start();
      this.#state = 'running';
      await this.#tick();
    } catch (err) {
      this.#state = 'stopped';
      await this.#heartbeater.stop();
      this.#lifetime.abort();
      throw err;
    }
    this.#loop = this.#run();
    this.#watchLoop = this.#runWatch();
  }

  /**
   * Stops this worker (idempotent). With `handOff` (the default) every held lease is offered to
   * the other live workers through `lease:handoff` and moved to them when released (or when
   * handOffTimeoutMs passes) before this resolves; without it, leases are dropped
   * (`lease:lost` reason 'stopped') and left unowned for the leader to assign at once.
   */
  stop(options: { handOff?: boolean } = {}): Promise<void> {
    this.#stopPromise ??= this.#stop(options.handOff ?? true);
    return this.#stopPromise;
  }

  /**
   * Stops every loop at once and writes nothing, as if the process had died: for tests,
   * benchmarks and failure drills. Other workers take the leases after the lease duration.
   */
  async abandon(): Promise<void> {
    this.#state = 'stopped';
    this.#stopPromise ??= Promise.resolve();
    this.#lifetime.abort();
    this.#poke.abort();
    await Promise.all([this.#heartbeater.stop(), this.#loop, this.#watchLoop]);
    this.#held.clear();
    this.#leader = undefined;
  }

  /**
   * Records a checkpoint (a sequence number, or 'SHARD_END' once the last record of a closed
   * shard was processed), conditional on this worker's ownership and lease counter.
   * @throws LeaseLostError when the lease is no longer this worker's (`lease:lost` is emitted too).
   */
  async checkpoint(shardId: string, checkpoint: string): Promise<void> {
    if (!isSequenceNumber(checkpoint) && checkpoint !== 'SHARD_END') {
      throw new TypeError(`checkpoint must be a sequence number or 'SHARD_END', got ${JSON.stringify(checkpoint)}`);
    }
    const held = this.#held.get(shardId);
    if (!held || this.#checkFence()) throw new LeaseLostError(shardId);
    const current = held.row.checkpoint;
    if (current !== 'LATEST' && compareCheckpoints(checkpoint, current) < 0) {
      throw new ShardlineError(
        `checkpoint of ${shardId} would move backwards (${current} → ${checkpoint}); checkpoints are monotonic`,
      );
    }
    const fields = {
      shardId,
      leaseOwner: this.workerId,
      leaseCounter: held.row.leaseCounter,
      sequenceNumber: checkpoint,
    };
    let row: LeaseItem;
    try {
      row = await retry(
        'checkpoint',
        () => this.#store.checkpoint(shardId, this.workerId, held.row.leaseCounter, checkpoint, held.row.ownerSession),
        {
          maxAttempts: 4,
          baseMs: 50,
          capMs: 1_000,
          clock: this.#clock,
          onRetry: ({ err, attempt }) => this.#log.warn({ ...fields, err, attempt }, 'checkpoint failed; retrying'),
        },
      );
    } catch (err) {
      if (err instanceof LeaseLostError && this.#held.get(shardId) === held) this.#drop(shardId, 'checkpoint-conflict');
      throw err;
    }
    if (this.#held.get(shardId) !== held) throw new LeaseLostError(shardId);
    const counterBefore = held.row.leaseCounter;
    held.row = row;
    if (checkpoint === 'SHARD_END') {
      // A table read started before this write still shows the lease as ours at the old
      // counter: re-taken, the finished shard would be read again after its children.
      this.#dropped.set(shardId, counterBefore);
      this.#held.delete(shardId);
      held.handOff?.timer.abort();
      this.#log.info(fields, 'shard finished; lease given up');
      this.events.emit('lease:released', { shardId });
      this.#inBackground(this.#onShardEnd(row));
    }
  }

  /**
   * Gives a lease up after a `lease:handoff` (to the worker named there) or of the worker's own
   * accord (to nobody; the leader assigns it). Idempotent: a lease no longer held is ignored.
   */
  async release(shardId: string): Promise<void> {
    const held = this.#held.get(shardId);
    if (!held) return;
    held.handOff?.timer.abort();
    this.#held.delete(shardId);
    // The table's pendingOwner wins over the one announced: the leader may have re-targeted a
    // hand-off whose first target died.
    const task = this.#transferOut(held, held.row.pendingOwner ?? held.handOff?.to);
    this.#inBackground(task);
    await task;
  }

  // ---------------------------------------------------------------- loop

  async #run(): Promise<void> {
    const signal = this.#lifetime.signal;
    while (!signal.aborted) {
      const now = this.#clock.now();
      let wakeAt = this.#nextPollAt;
      // While some worker is silent, read more often: the leader may reassign its leases any
      // moment, and picking them up a poll interval late would be lag for nothing.
      const h = this.options.heartbeatIntervalMs;
      if (!this.isLeader() && (now < this.#fastPollUntil || this.#membership.hasSuspect(now, h + h / 2)))
        wakeAt = Math.min(wakeAt, now + Math.max(50, Math.floor(h / 8)));
      if (this.#extraWakeAt !== undefined && this.#extraWakeAt > now) wakeAt = Math.min(wakeAt, this.#extraWakeAt);
      if (!this.#pokeRequested) {
        this.#poke = new AbortController();
        await this.#clock
          .sleep(Math.max(0, wakeAt - now), AbortSignal.any([signal, this.#poke.signal]))
          .catch(() => undefined);
      }
      this.#pokeRequested = false;
      if (signal.aborted) break;
      await this.#tick();
    }
  }

  #wake(): void {
    this.#pokeRequested = true;
    this.#poke.abort();
  }

  /**
   * The leader reads just the heartbeat items several times per interval (one cheap BatchGet),
   * so it sees each heartbeat land within a quarter interval, not a whole one: a dead worker is
   * then judged dead that much sooner, with the same lease duration and margin.
   */
  async #runWatch(): Promise<void> {
    const signal = this.#lifetime.signal;
    const every = Math.max(50, Math.floor(this.options.heartbeatIntervalMs / 4));
    while (!signal.aborted) {
      await this.#clock.sleep(every, signal).catch(() => undefined);
      if (signal.aborted) break;
      if (!this.isLeader() || this.#state !== 'running') continue;
      const others = this.#membership.known().filter((id) => id !== this.workerId);
      if (others.length === 0) continue;
      this.#watchBusy = true;
      try {
        const workers = await this.#store.getWorkers(
          others,
          AbortSignal.timeout(Math.max(2_000, this.options.heartbeatIntervalMs)),
        );
        this.#membership.observeSome(workers, this.#clock.now());
      } catch (err) {
        this.#log.debug({ err }, 'heartbeat watch read failed');
      } finally {
        this.#watchBusy = false;
      }
    }
  }

  async #tick(): Promise<void> {
    this.#busy = true;
    const startedAt = this.#clock.now();
    this.#nextPollAt = startedAt + this.options.heartbeatIntervalMs;
    try {
      this.#checkFence();
      if (this.#canReadLight(startedAt) && !(await this.#readLight())) return;
      const seqAtRead = this.#acquireSeq;
      let snapshot: TableSnapshot;
      try {
        snapshot = await this.#store.scan(AbortSignal.timeout(Math.max(2_000, this.options.heartbeatIntervalMs * 2)));
      } catch (err) {
        this.#log.warn({ err }, 'lease table read failed');
        return;
      }
      this.#checkFence();
      this.#lastFullReadAt = startedAt;
      this.#fullReadDueAt = undefined;
      this.#leaderSeen = snapshot.leader;
      await this.#reconcile(snapshot, seqAtRead);
    } catch (err) {
      this.#log.error({ err }, 'lease coordinator poll failed; trying again next interval');
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Workers other than the leader read the whole table only when something they must act on
   * may have changed: the leader item's `epoch` (bumped with every assignment, hand-off request,
   * release to a worker and deletion), a new or vacant leader, or the safety-net interval.
   * Otherwise a poll is one BatchGet of the leader and heartbeat items: read cost grows with the
   * number of workers, not shards (KCL workers scan the whole lease table).
   */
  #canReadLight(now: number): boolean {
    return (
      this.#state === 'running' &&
      !this.isLeader() &&
      this.#leaderSeen !== undefined &&
      !this.#fenced &&
      now < this.#lastFullReadAt + this.options.shardSyncIntervalMs &&
      (this.#fullReadDueAt === undefined || now < this.#fullReadDueAt)
    );
  }

  /** One light read; true when a full read must follow now. */
  async #readLight(): Promise<boolean> {
    let answer: Awaited<ReturnType<LeaseStore['getLeaderAndWorkers']>>;
    try {
      answer = await this.#store.getLeaderAndWorkers(
        this.#membership.known(),
        AbortSignal.timeout(Math.max(2_000, this.options.heartbeatIntervalMs * 2)),
      );
    } catch (err) {
      this.#log.warn({ err }, 'lease table read failed');
      return false;
    }
    const now = this.#clock.now();
    this.#observe(this.#membership.observe(answer.workers, now, { partial: true }), now);
    const seen = this.#leaderSeen;
    const leader = answer.leader;
    const moved =
      seen === undefined ||
      leader === undefined ||
      leader.leaseOwner !== seen.leaseOwner ||
      leader.ownerSession !== seen.ownerSession ||
      leader.leaseCounter !== seen.leaseCounter ||
      leader.epoch !== seen.epoch;
    this.#scheduleExpiryWake();
    return moved || this.#membership.isGone(leader.leaseOwner, now);
  }

  get #fenced(): boolean {
    return this.#superseded || this.#heartbeater.fenced;
  }

  /** The fence check before acting on leases (see Heartbeater.checkFence). */
  #checkFence(): boolean {
    return this.#heartbeater.checkFence() || this.#superseded;
  }

  async #writeHeartbeat(beat: number, signal: AbortSignal): Promise<void> {
    // Never again once superseded: the other process's item must not be overwritten, and a
    // heartbeat getting through (after it deleted its item) must not un-fence us.
    if (this.#superseded)
      throw new LeaseConflictError(
        workerKey(this.workerId),
        'heartbeat (superseded by another process with this worker id)',
      );
    const now = new Date(this.#clock.now()).toISOString();
    try {
      await this.#store.heartbeat(
        {
          leaseKey: workerKey(this.workerId),
          itemType: 'worker',
          workerId: this.workerId,
          sessionId: this.#sessionId,
          heartbeat: beat,
          leaseCount: this.#held.size,
          draining: this.#state === 'draining' ? true : undefined,
          startedAt: new Date(this.#startedAt).toISOString(),
          updatedAt: now,
        },
        this.#heartbeatWritten ? this.#sessionId : undefined,
        signal,
      );
      this.#heartbeatWritten = true;
    } catch (err) {
      const sameIdElsewhere = err instanceof LeaseConflictError;
      this.#log[sameIdElsewhere ? 'error' : 'warn'](
        { err },
        sameIdElsewhere
          ? `another process took over the heartbeat of worker ${this.workerId}: worker ids must be unique; stopping every shard for good`
          : 'heartbeat failed',
      );
      // A restart while this process still runs: the new one adopts our leases once it thinks
      // we fenced, which it may judge from its own start, not our last heartbeat. Fence now.
      if (sameIdElsewhere && !this.#superseded) {
        this.#superseded = true;
        this.#fence(this.#heartbeater.lastOkAt);
      }
      throw err;
    }
  }

  /** The heartbeater's verdict: no heartbeat for a lease duration. Others may take our leases now. */
  #fence(lastOkAt: number): void {
    this.#log.error(
      { leases: this.#held.size, lastHeartbeatOkAt: new Date(lastOkAt).toISOString() },
      'no heartbeat for a lease duration: stopping every shard',
    );
    for (const shardId of [...this.#held.keys()]) this.#drop(shardId, 'fenced');
    // Once heartbeats get through again, the leases still ours are re-taken at the first full read.
    this.#fullReadDueAt = Number.NEGATIVE_INFINITY;
    if (this.#leader) this.#log.warn({}, 'fenced: acting as leader no more');
    this.#leader = undefined;
  }

  #drop(shardId: string, reason: LeaseLostReason): void {
    const held = this.#held.get(shardId);
    if (!held) return;
    this.#held.delete(shardId);
    held.handOff?.timer.abort();
    this.#dropped.set(shardId, held.row.leaseCounter);
    this.#log.warn(
      { shardId, leaseOwner: held.row.leaseOwner, leaseCounter: held.row.leaseCounter, reason },
      'lease lost',
    );
    this.events.emit('lease:lost', { shardId, reason });
  }

  #acquire(row: LeaseItem): void {
    // Callers awaited a write: the fence may have fallen meanwhile, and only a row naming this
    // very process (not a previous or later incarnation of the worker id) is ours.
    if (this.#checkFence() || row.leaseOwner !== this.workerId || row.ownerSession !== this.#sessionId) {
      this.#dropped.set(row.shardId, row.leaseCounter);
      this.#log.warn(
        { shardId: row.shardId, leaseOwner: row.leaseOwner, leaseCounter: row.leaseCounter, fenced: this.#fenced },
        'lease not taken up: fenced, or the row names another process',
      );
      return;
    }
    this.#dropped.delete(row.shardId);
    this.#held.set(row.shardId, { row, seq: ++this.#acquireSeq });
    this.#log.info(
      { shardId: row.shardId, leaseOwner: row.leaseOwner, leaseCounter: row.leaseCounter, checkpoint: row.checkpoint },
      'lease acquired',
    );
    this.events.emit('lease:acquired', { lease: toLease(row) });
    if (row.pendingOwner !== undefined && this.#state !== 'draining') this.#beginHandOff(row.shardId, row.pendingOwner);
  }

  // ---------------------------------------------------------------- reconcile

  async #reconcile(snapshot: TableSnapshot, seqAtRead: number): Promise<void> {
    const now = this.#clock.now();
    this.#snapshot = snapshot;
    this.#observe(this.#membership.observe(snapshot.workers, now), now);
    this.#reportInvalid(snapshot);
    if (this.#fenced || this.#state === 'stopped') return;

    const rows = new Map(
      snapshot.leases.filter((l) => l.streamArn === this.options.streamArn).map((l) => [l.shardId, l]),
    );
    for (const [shardId, held] of [...this.#held]) {
      if (held.seq > seqAtRead) continue;
      const row = rows.get(shardId);
      if (!row) this.#drop(shardId, 'deleted');
      else if (
        row.leaseOwner !== this.workerId ||
        row.ownerSession !== this.#sessionId ||
        row.leaseCounter !== held.row.leaseCounter
      )
        this.#drop(shardId, 'taken');
      else {
        held.row = row;
        if (row.pendingOwner !== undefined && !held.handOff && this.#state === 'running')
          this.#beginHandOff(shardId, row.pendingOwner);
      }
    }
    if (this.#state === 'running') await this.#takeRowsNamingMe([...rows.values()], now);
    await this.#leaderDuties(snapshot, now);

    this.#scheduleExpiryWake();
  }

  #observe(change: MembershipChange, now: number): void {
    for (const workerId of change.joined) this.events.emit('worker:joined', { workerId });
    for (const workerId of change.left) this.events.emit('worker:left', { workerId });
    if (change.left.length > 0 || change.joined.length > 0) this.#assignmentRequested = true;
    if (change.left.length > 0) this.#fastPollUntil = now + 2 * this.options.heartbeatIntervalMs;
  }

  /**
   * Wake exactly when a silent worker is judged dead: the leader to reassign, the others a
   * moment later to pick up what was assigned to them.
   */
  #scheduleExpiryWake(): void {
    const expiry = this.#membership.nextExpiry();
    this.#extraWakeAt =
      expiry === undefined
        ? undefined
        : expiry + 1 + (this.isLeader() ? 0 : Math.min(250, this.options.heartbeatIntervalMs / 4));
  }

  async #takeRowsNamingMe(rows: LeaseItem[], now: number): Promise<void> {
    for (const row of rows) {
      if (
        row.leaseOwner !== this.workerId ||
        this.#held.has(row.shardId) ||
        this.#releasing.has(row.shardId) ||
        row.checkpoint === 'SHARD_END'
      )
        continue;
      const fields = { shardId: row.shardId, leaseOwner: row.leaseOwner, leaseCounter: row.leaseCounter };
      if (row.ownerSession === this.#sessionId && this.#dropped.get(row.shardId) !== row.leaseCounter) {
        this.#acquire(row);
        continue;
      }
      // A row of a previous incarnation of this worker id (a restart) is taken only once that
      // incarnation must have fenced itself; a row we dropped ourselves is re-taken with a bump,
      // so a leader moving it at the same time cannot both succeed.
      const adoptAt = this.#startedAt + this.options.leaseDurationMs + this.options.takeoverMarginMs;
      if (row.ownerSession !== this.#sessionId && now < adoptAt) {
        this.#fullReadDueAt = Math.min(this.#fullReadDueAt ?? adoptAt, adoptAt);
        continue;
      }
      try {
        this.#acquire(await this.#store.transfer(row, { workerId: this.workerId, sessionId: this.#sessionId }));
      } catch (err) {
        if (err instanceof LeaseConflictError) this.#log.debug({ ...fields, err }, 'lease moved while re-taking it');
        else this.#log.warn({ ...fields, err }, 're-taking lease failed');
      }
    }
  }

  #reportInvalid(snapshot: TableSnapshot): void {
    for (const row of snapshot.invalid) {
      const key = `${row.leaseKey}\u0000${row.problem}`;
      if (this.#reportedInvalid.has(key)) continue;
      this.#reportedInvalid.add(key);
      this.#log.error(
        { leaseKey: row.leaseKey, problem: row.problem },
        'lease table row is invalid and is skipped; fix or delete it',
      );
    }
  }

  // ---------------------------------------------------------------- leader

  async #leaderDuties(snapshot: TableSnapshot, now: number): Promise<void> {
    const row = snapshot.leader;
    if (row === undefined && snapshot.invalid.some((r) => r.leaseKey === LEADER_KEY))
      await this.#replaceInvalidLeader(now);
    else this.#invalidLeader = undefined;
    const mine = row !== undefined && row.leaseOwner === this.workerId && row.ownerSession === this.#sessionId;
    if (mine) {
      if (this.#leader?.leaseCounter !== row.leaseCounter) this.#becomeLeader(row);
      this.#leader = row;
    } else {
      if (this.#leader) this.#log.warn({ leader: row?.leaseOwner }, 'leadership moved to another worker');
      this.#leader = undefined;
      if (this.#state !== 'running') return;
      // A leader row of this worker id but another session is a previous incarnation's: it is
      // vacant once that incarnation must have fenced itself.
      const adoptAt = this.#startedAt + this.options.leaseDurationMs + this.options.takeoverMarginMs;
      const vacant =
        row === undefined ||
        (row.leaseOwner === this.workerId ? now >= adoptAt : this.#membership.isGone(row.leaseOwner, now));
      if (!vacant) {
        if (row.leaseOwner === this.workerId) this.#fullReadDueAt = Math.min(this.#fullReadDueAt ?? adoptAt, adoptAt);
        return;
      }
      try {
        const item = await this.#store.acquireLeader({ workerId: this.workerId, sessionId: this.#sessionId }, row);
        this.#leader = item;
        this.#becomeLeader(item);
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) this.#log.warn({ err }, 'leader election write failed');
        return;
      }
    }
    if (this.#state !== 'running' || this.#leaderWork) return;
    // Shard sync and assignment can take a while on a big stream: they run beside the poll,
    // one run at a time, so the leader's own leases and hand-offs are never kept waiting.
    const work = this.#runLeaderWork(snapshot, now).finally(() => {
      if (this.#leaderWork === work) this.#leaderWork = undefined;
    });
    this.#leaderWork = work;
    this.#inBackground(work);
  }

  async #runLeaderWork(snapshot: TableSnapshot, now: number): Promise<void> {
    // A worker that just started has not yet seen the heartbeats of those started with it: a
    // first assignment then would give it everything and rebalance right after.
    if (now < this.#startedAt + this.options.heartbeatIntervalMs) return;
    const ctx: LeaderContext = {
      store: this.#store,
      lister: {
        listShards: async () => {
          const shards = await this.#lister.listShards();
          this.#listedShards = new Set(shards.map((s) => s.shardId));
          return shards;
        },
        listChildShards: (parentId) => this.#lister.listChildShards(parentId),
      },
      listedShards: () => this.#listedShards,
      options: this.options,
      clock: this.#clock,
      log: this.#log,
      stillLeader: () => this.isLeader() && this.#state === 'running' && !this.#checkFence(),
    };
    const hooks = {
      acquiredByMe: (lease: LeaseItem) => {
        if (
          this.#state === 'running' &&
          !this.#fenced &&
          !this.#held.has(lease.shardId) &&
          lease.ownerSession === this.#sessionId
        )
          this.#acquire(lease);
      },
      handOffFromMe: (lease: LeaseItem, to: string) => {
        const held = this.#held.get(lease.shardId);
        if (held) {
          held.row = lease;
          this.#beginHandOff(lease.shardId, to);
        }
      },
    };
    let current = snapshot;
    if (now >= this.#lastSyncAt + this.options.shardSyncIntervalMs) {
      this.#lastSyncAt = now;
      try {
        const result = await runShardSync(ctx, current, { membership: this.#membership, hooks });
        this.events.emit('shardsync:done', result);
        if (result.created > 0 || result.deleted > 0 || this.#clock.now() - now > this.options.heartbeatIntervalMs) {
          current = await this.#store.scan();
          this.#assignmentRequested = true;
        }
      } catch (err) {
        this.#log.warn({ err }, 'shard sync failed; retrying next interval');
        this.#lastSyncAt = now - this.options.shardSyncIntervalMs + this.options.heartbeatIntervalMs;
      }
    }
    if (
      this.isLeader() &&
      (this.#assignmentRequested || now >= this.#lastAssignmentAt + this.options.assignmentIntervalMs)
    ) {
      this.#assignmentRequested = false;
      this.#lastAssignmentAt = now;
      await forceStuckHandOffs(ctx, current, this.#membership, this.#pendingSince, now);
      const result = await runAssignment(ctx, current, this.#membership, hooks);
      if (result.taken + result.handOffs > 0) this.#log.info(result, 'assignment cycle');
    }
  }

  /**
   * A garbage leader item would block every election (the vacancy write needs the item absent)
   * and with it shard sync and assignment, for good. Once it has stayed the same for as long as
   * a silent worker takes to be judged dead, it is deleted, conditional on the values read.
   */
  async #replaceInvalidLeader(now: number): Promise<void> {
    if (this.#state !== 'running' || this.#fenced) return;
    const deadAfterMs = this.options.leaseDurationMs + this.options.takeoverMarginMs;
    try {
      const raw = await this.#store.getRaw(LEADER_KEY);
      if (!raw) return;
      const signature = JSON.stringify(Object.entries(raw).sort(([a], [b]) => a.localeCompare(b)));
      if (this.#invalidLeader?.signature !== signature) {
        this.#invalidLeader = { signature, since: now };
        this.#log.error(
          { leaseKey: LEADER_KEY, deadAfterMs },
          'the leader item is invalid: no leader can be elected (no shard sync, no assignment); it is replaced if it stays unchanged',
        );
        return;
      }
      if (now < this.#invalidLeader.since + deadAfterMs) return;
      await this.#store.deleteIfUnchanged(LEADER_KEY, raw);
      this.#invalidLeader = undefined;
      this.#log.error(
        { leaseKey: LEADER_KEY, item: signature },
        'deleted the invalid leader item, unchanged for the dead-after time; electing a leader',
      );
    } catch (err) {
      if (err instanceof LeaseConflictError)
        this.#log.info({ leaseKey: LEADER_KEY }, 'the invalid leader item changed before it could be replaced');
      else this.#log.warn({ err, leaseKey: LEADER_KEY }, 'replacing the invalid leader item failed');
    }
  }

  #becomeLeader(item: LeaderItem): void {
    this.#lastSyncAt = Number.NEGATIVE_INFINITY;
    this.#assignmentRequested = true;
    this.#log.info({ leaseCounter: item.leaseCounter }, 'elected leader');
    this.events.emit('leader:elected', { workerId: this.workerId });
  }

  // ---------------------------------------------------------------- hand-off

  #beginHandOff(shardId: string, to: string | undefined): void {
    const held = this.#held.get(shardId);
    if (!held || held.handOff) return;
    const timer = new AbortController();
    held.handOff = { to, timer };
    this.#log.info(
      { shardId, leaseOwner: this.workerId, leaseCounter: held.row.leaseCounter, to },
      'hand-off requested',
    );
    if (this.events.listenerCount('lease:handoff') === 0) {
      // Nobody consumes this shard: there is no batch to finish.
      void this.release(shardId);
      return;
    }
    this.events.emit('lease:handoff', { shardId, to });
    // The timer is not a background task (idle must not wait for it); what it triggers is.
    this.#clock
      .sleep(this.options.handOffTimeoutMs, AbortSignal.any([timer.signal, this.#lifetime.signal]))
      .then(() => {
        if (this.#held.get(shardId) !== held) return;
        this.#drop(shardId, 'handoff-timeout');
        this.#inBackground(this.#transferOut(held, held.row.pendingOwner ?? to));
      })
      .catch(() => undefined);
  }

  /** Moves a lease no longer held locally to `to` (when alive) or to nobody. */
  async #transferOut(held: Held, to: string | undefined): Promise<void> {
    const { row } = held;
    // Never hand a lease to a worker we believe dead: it would sit there a lease duration.
    if (to !== undefined && this.#membership.known().includes(to) && !this.#membership.isAlive(to)) to = undefined;
    const session =
      to === undefined || to === this.workerId
        ? undefined
        : row.pendingOwner === to && row.pendingOwnerSession !== undefined
          ? row.pendingOwnerSession
          : this.#membership.sessionOf(to);
    const target = to !== undefined && session !== undefined ? { workerId: to, sessionId: session } : undefined;
    const fields = {
      shardId: row.shardId,
      leaseOwner: this.workerId,
      leaseCounter: row.leaseCounter,
      to: target?.workerId ?? null,
    };
    this.#dropped.set(row.shardId, row.leaseCounter);
    this.#releasing.add(row.shardId);
    try {
      await this.#store.transfer(row, target, { lostOnConflict: true });
      this.#log.info(fields, 'lease released');
      this.events.emit('lease:released', { shardId: row.shardId, to: target?.workerId });
      if (target)
        await this.#store
          .bumpEpoch()
          .catch((err: unknown) =>
            this.#log.debug({ err }, 'epoch bump failed; the target finds the lease at its next full read'),
          );
    } catch (err) {
      this.#log.warn({ ...fields, err }, 'releasing lease failed; the leader reassigns it');
    } finally {
      this.#releasing.delete(row.shardId);
    }
  }

  // ---------------------------------------------------------------- shard end

  /** Children of a finished shard start now, not at the next shard sync (KCL waits for it). */
  async #onShardEnd(parent: LeaseItem): Promise<void> {
    const fields = { shardId: parent.shardId, leaseOwner: this.workerId };
    try {
      const children = (await this.#lister.listChildShards(parent.shardId)).sort((a, b) =>
        a.shardId.localeCompare(b.shardId),
      );
      if (children.length === 0) return;
      await this.#store
        .setChildren(
          parent,
          children.map((c) => c.shardId),
        )
        .catch((err: unknown) => this.#log.debug({ ...fields, err }, 'recording children failed'));
      const now = new Date(this.#clock.now()).toISOString();
      for (const child of children)
        await this.#store.createLease(newLeaseItem(this.options.streamArn, child, 'TRIM_HORIZON', now));
      if (this.#state !== 'running' || this.#fenced) return;
      // Claim one child (the shard this worker just finished is replaced one for one; a split's
      // other child goes through the leader, which is poked when that is us).
      if (this.#held.size < this.options.maxLeasesPerWorker) {
        for (const child of children) {
          const row = await this.#store.getLease(child.shardId);
          if (!row || row.leaseOwner !== undefined || row.checkpoint === 'SHARD_END') continue;
          const parents = await Promise.all(
            row.parentShardIds.map(async (id) => ({ id, lease: await this.#store.getLease(id) })),
          );
          const byShard = new Map(parents.flatMap(({ lease }) => (lease ? [[lease.shardId, lease] as const] : [])));
          // A parent row that exists but fails its schema is not finished: the leader decides once its shard left the stream.
          const invalid = new Set<string>();
          for (const { id, lease } of parents) if (!lease && (await this.#store.getRaw(id))) invalid.add(id);
          if (!parentsFinished(row, byShard, invalid)) continue;
          try {
            this.#acquire(await this.#store.transfer(row, { workerId: this.workerId, sessionId: this.#sessionId }));
            break;
          } catch (err) {
            if (!(err instanceof LeaseConflictError)) throw err;
          }
        }
      }
      this.#assignmentRequested = true;
      if (this.isLeader()) this.#wake();
    } catch (err) {
      this.#log.warn({ ...fields, err }, 'starting the children of a finished shard failed; shard sync will');
    }
  }

  #inBackground(task: Promise<void>): void {
    const tracked = task
      .catch((err: unknown) => this.#log.error({ err }, 'background lease task failed'))
      .finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  // ---------------------------------------------------------------- stop

  async #stop(handOff: boolean): Promise<void> {
    // A stop during start waits for it: the table and heartbeat item may be half set up.
    await this.#starting?.catch(() => undefined);
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'draining';
    // Keep heartbeating while draining (so nobody takes our leases as a dead worker's), but
    // announce that we take no new ones, and give up the leader item at once.
    this.#heartbeater.beatNow();
    if (this.#leader) {
      const leader = this.#leader;
      this.#leader = undefined;
      await this.#store
        .releaseLeader(leader)
        .catch((err: unknown) => this.#log.warn({ err }, 'releasing the leader item failed'));
    }
    this.#wake();
    const heldNow = [...this.#held.keys()];
    if (handOff && heldNow.length > 0) {
      const targets = this.#handOffTargets(heldNow.length);
      heldNow.forEach((shardId, i) => this.#beginHandOff(shardId, targets[i]));
      const deadline = this.#clock.now() + this.options.handOffTimeoutMs + this.options.heartbeatIntervalMs;
      while (this.#held.size > 0 && this.#clock.now() < deadline && !this.#fenced) {
        await Promise.race([
          this.events.waitFor('lease:released', () => true, this.#lifetime.signal).catch(() => undefined),
          this.events.waitFor('lease:lost', () => true, this.#lifetime.signal).catch(() => undefined),
          this.#clock.sleep(Math.max(1, deadline - this.#clock.now()), this.#lifetime.signal).catch(() => undefined),
        ]);
      }
    } else {
      for (const shardId of heldNow) {
        const held = this.#held.get(shardId);
        if (!held) continue;
        this.#drop(shardId, 'stopped');
        await this.#transferOut(held, undefined);
      }
    }
    await Promise.allSettled([...this.#background]);
    await this.#releaseUnheld();
    this.#state = 'stopped';
    this.#lifetime.abort();
    this.#poke.abort();
    await Promise.all([this.#heartbeater.stop(), this.#loop, this.#watchLoop]);
    await this.#store
      .deleteWorker(this.workerId, this.#sessionId)
      .catch((err: unknown) => this.#log.warn({ err }, 'deleting the heartbeat item failed'));
    this.#log.info({}, 'lease coordinator stopped');
  }

  /**
   * Leases assigned to this worker just before the leader saw it draining were never picked up:
   * give them back, or they would wait a lease duration once the heartbeat item is gone.
   */
  async #releaseUnheld(): Promise<void> {
    // Superseded: rows naming this worker id are the newer process's now.
    if (this.#superseded) return;
    try {
      const snapshot = await this.#store.scan();
      for (const row of snapshot.leases) {
        if (
          row.leaseOwner !== this.workerId ||
          row.ownerSession !== this.#sessionId ||
          this.#held.has(row.shardId) ||
          row.checkpoint === 'SHARD_END'
        )
          continue;
        await this.#store
          .transfer(row, undefined)
          .catch((err: unknown) =>
            this.#log.debug({ shardId: row.shardId, err }, 'giving back an unheld lease failed'),
          );
      }
    } catch (err) {
      this.#log.warn({ err }, 'could not check for leases assigned while stopping');
    }
  }

  /** Live, non-draining workers other than this one, least loaded first, one per lease. */
  #handOffTargets(count: number): Array<string | undefined> {
    const others = this.#membership.assignable().filter((id) => id !== this.workerId);
    if (others.length === 0) return [];
    const load = new Map(others.map((id) => [id, 0]));
    for (const row of this.#snapshot?.leases ?? []) {
      const owner = row.pendingOwner ?? row.leaseOwner;
      if (owner !== undefined && load.has(owner) && row.checkpoint !== 'SHARD_END')
        load.set(owner, load.get(owner)! + 1);
    }
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const next = [...load].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))[0]!;
      if (next[1] >= this.options.maxLeasesPerWorker) break;
      out.push(next[0]);
      load.set(next[0], next[1] + 1);
    }
    return out;
  }
}
