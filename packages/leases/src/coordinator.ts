import { randomUUID } from 'node:crypto';
import {
  LeaseLostError,
  SafeEmitter,
  ShardlineError,
  StateMachine,
  compareCheckpoints,
  isSequenceNumber,
  silentLogger,
  systemClock,
  type Logger,
  type TransitionTable,
} from '@shardline/core';
import { BackgroundTasks } from './concurrency.js';
import { assertProcessorStateFits } from './errors.js';
import type { LeaseCoordinatorEvents } from './events.js';
import { HandOffs } from './hand-off.js';
import { HeldLeases, leaseFields } from './held-leases.js';
import type { Lease, LeaseItem } from './items.js';
import { Leadership } from './leadership.js';
import { LeaseStore, type OwnerRef } from './lease-store.js';
import { LeaseTaker } from './lease-taker.js';
import { Membership } from './membership.js';
import { resolveLeaseOptions, type LeaseCoordinatorOptions, type ResolvedLeaseOptions } from './options.js';
import type { CoordinatorParts } from './parts.js';
import { ShardEnd } from './shard-end.js';
import { StreamFollower } from './stream-follower.js';
import { StreamSet } from './stream-set.js';
import { TableReader } from './table-reader.js';
import { WorkerHeartbeat } from './worker-heartbeat.js';

/**
 * The coordinator's own life:
 * - new: constructed. Left for starting (`start()`), or stopped (`stop()` / `abandon()`).
 * - starting: the table is ensured and the first heartbeat written. Left for running, or for
 *   stopped when that fails or on `abandon()`.
 * - running: polls, takes leases, may lead. Left for draining (`stop()`) or stopped (`abandon()`).
 * - draining: heartbeats on (flagged draining) but takes nothing new; the leader item is given up,
 *   held leases are handed off or dropped. Left for stopped.
 * - stopped: terminal; every loop has ended or is ending.
 */
export type CoordinatorState = 'new' | 'starting' | 'running' | 'draining' | 'stopped';

const TRANSITIONS: TransitionTable<CoordinatorState> = {
  new: ['starting', 'stopped'],
  starting: ['running', 'stopped'],
  running: ['draining', 'stopped'],
  draining: ['stopped'],
  stopped: [],
};

/**
 * Shares a stream's shards among workers through a DynamoDB lease table. Each worker writes one
 * heartbeat item per interval and reads the table once per interval; one elected leader runs
 * shard sync and assignment. This class only wires its parts together and owns the lifecycle
 * (see the module table in the package README, and the README for the protocol).
 */
export class LeaseCoordinator {
  readonly events: SafeEmitter<LeaseCoordinatorEvents>;
  readonly options: ResolvedLeaseOptions;
  readonly #log: Logger;
  readonly #store: LeaseStore;
  readonly #state: StateMachine<CoordinatorState>;
  readonly #lifetime = new AbortController();
  readonly #background: BackgroundTasks;
  readonly #held: HeldLeases;
  readonly #heartbeat: WorkerHeartbeat;
  readonly #reader: TableReader;
  readonly #handOffs: HandOffs;
  readonly #leadership: Leadership;
  readonly #shardEnd: ShardEnd;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: LeaseCoordinatorOptions) {
    const o = (this.options = resolveLeaseOptions(options));
    const log = (this.#log = (options.logger ?? silentLogger()).child({
      component: 'lease-coordinator',
      workerId: o.workerId,
    }));
    this.#state = new StateMachine<CoordinatorState>({
      name: `lease coordinator ${o.workerId}`,
      initial: 'new',
      transitions: TRANSITIONS,
      // Running means others may assign to us: they must be able to see us first.
      invariants: { running: () => (this.#heartbeat.lastOkAt === undefined ? 'no heartbeat yet' : undefined) },
      onChange: (change) => log.debug(change, 'lease coordinator state change'),
    });
    const me: OwnerRef = { workerId: o.workerId, sessionId: randomUUID() };
    const clock = options.clock ?? systemClock;
    const events = (this.events = new SafeEmitter(() => log));
    const parts: CoordinatorParts = {
      me,
      options: o,
      store: (this.#store = new LeaseStore(options.dynamodb, o.leaseTableName, clock)),
      streams: new StreamSet(o.streams, o.streamFollowing),
      membership: new Membership(o.leaseDurationMs + o.takeoverMarginMs),
      held: (this.#held = new HeldLeases(me, log, events)),
      status: {
        isRunning: () => this.#state.is('running'),
        isDraining: () => this.#state.is('draining'),
        isStopped: () => this.#state.is('stopped'),
        isLeader: () => this.isLeader(),
        isFenced: () => this.#heartbeat.fenced,
        checkFence: () => this.#heartbeat.checkFence(),
      },
      clock,
      log,
      events,
      background: (this.#background = new BackgroundTasks((err) => log.error({ err }, 'background lease task failed'))),
      lifetime: this.#lifetime.signal,
    };
    const { held, status } = parts;
    const heartbeat = (this.#heartbeat = new WorkerHeartbeat({
      ...parts,
      itemStatus: () => ({
        leaseCount: held.size,
        draining: status.isDraining(),
        recordsProcessed: options.recordsProcessed?.(),
      }),
      onFence: (lastOkAt) => this.#onFence(lastOkAt),
      onRecover: () => this.#onRecover(),
    }));
    const reader = (this.#reader = new TableReader({
      ...parts,
      onMembershipChange: () => leadership.requestAssignment(),
      leaderBusy: () => leadership.busy,
      onInbox: async (leaseKeys) => {
        // One BatchGet per 100 rows, not a GetItem each: a new application's first assignment
        // puts ~20 leases in every inbox of a 50-worker fleet, one after the other was seconds.
        const rows = await parts.store.getLeases(leaseKeys);
        await taker.followInbox(rows, clock.now());
      },
      onFullRead: async (snapshot, seqAtRead, now) => {
        follower.adoptFrom(snapshot);
        await taker.follow(snapshot, seqAtRead, now);
        await leadership.onFullRead(snapshot, now);
      },
    }));
    const handOffs = (this.#handOffs = new HandOffs({
      ...parts,
      isSuperseded: () => heartbeat.superseded,
      readNow: () => reader.readNow(),
    }));
    const fencedAt = () => heartbeat.previousIncarnationFencedAt;
    const requestFullRead = (at: number) => reader.requestFullRead(at);
    const taker = new LeaseTaker({ ...parts, handOffs, previousIncarnationFencedAt: fencedAt, requestFullRead });
    const follower = new StreamFollower(parts);
    const leadership = (this.#leadership = new Leadership({
      ...parts,
      follower,
      startedAt: () => heartbeat.startedAt,
      previousIncarnationFencedAt: fencedAt,
      requestFullRead,
      takenForMe: (row) => {
        if (status.isRunning() && !status.isFenced() && !held.has(row.leaseKey) && held.isMine(row)) taker.takeUp(row);
      },
      handOffFromMe: (row, to) => {
        const lease = held.get(row.leaseKey);
        if (!lease) return;
        lease.row = row;
        handOffs.begin(row.leaseKey, to);
      },
    }));
    this.#shardEnd = new ShardEnd({
      ...parts,
      takeUp: (row) => taker.takeUp(row),
      lastSnapshot: () => reader.lastSnapshot,
      requestAssignment: () => {
        leadership.requestAssignment();
        if (this.isLeader()) reader.wake();
      },
    });
  }

  get workerId(): string {
    return this.options.workerId;
  }

  /** Leases this worker holds now (hand-offs in progress included). */
  heldLeases(): Lease[] {
    return this.#held.leases();
  }

  /**
   * When (on the injected clock) the last heartbeat that got through was sent; undefined before
   * the first. Health checks compare it with the lease duration: older means this worker is
   * fencing itself and others may already be taking its leases.
   */
  lastHeartbeatAt(): number | undefined {
    return this.#heartbeat.lastOkAt;
  }

  /**
   * True while this worker has fenced itself (no heartbeat got through for a lease duration, or
   * another process took over its worker id): it holds nothing and takes nothing until it recovers.
   */
  isFenced(): boolean {
    return this.#heartbeat.fenced;
  }

  isLeader(): boolean {
    return this.#leadership.holdsItem && !this.#heartbeat.fenced;
  }

  /** True while no poll or background write is in flight (tests drive a fake clock with it). */
  get idle(): boolean {
    return !this.#reader.busy && !this.#heartbeat.busy && this.#background.size === 0 && !this.#state.is('starting');
  }

  /** Creates or checks the lease table, writes the first heartbeat, then polls in the background. */
  start(): Promise<void> {
    if (!this.#state.is('new'))
      return Promise.reject(
        new ShardlineError(`lease coordinator ${this.workerId} was already started or stopped; create a new one`),
      );
    this.#state.set('starting');
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    try {
      await this.#store.ensureTable({ signal: this.#lifetime.signal });
      await this.#heartbeat.start();
      // abandon() while starting: the coordinator is stopped already, nothing is left to run.
      if (this.#state.is('stopped')) return;
      this.#state.set('running');
      await this.#reader.poll();
    } catch (err) {
      if (!this.#state.is('stopped')) this.#state.set('stopped');
      await this.#heartbeat.stop();
      this.#lifetime.abort();
      throw err;
    }
    this.#reader.start();
  }

  /**
   * Stops this worker (idempotent). With `handOff` (the default) every held lease is offered to
   * the other live workers through `lease:handoff` and moved to them when released (or when
   * handOffTimeoutMs passes) before this resolves; without it, leases are dropped
   * (`lease:lost` reason 'stopped') and left unowned for the leader to assign at once.
   */
  stop(options: { handOff?: boolean } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.handOff ?? true);
    return this.#stopping;
  }

  /**
   * Stops every loop at once and writes nothing, as if the process had died: for tests,
   * benchmarks and failure drills. Other workers take the leases after the lease duration.
   */
  async abandon(): Promise<void> {
    if (!this.#state.is('stopped')) this.#state.set('stopped');
    this.#stopping ??= Promise.resolve();
    this.#lifetime.abort();
    await Promise.all([this.#heartbeat.stop(), this.#reader.stop()]);
    this.#held.clear();
    this.#leadership.forget();
  }

  /**
   * Records a checkpoint of the lease `leaseKey` (`Lease.leaseKey`: the shard id, or
   * stream-qualified when several streams share the table) — a sequence number, or 'SHARD_END'
   * once the last record of a closed shard was processed — conditional on this worker's
   * ownership and lease counter. One attempt:
   * the caller (the worker's ShardCheckpointer) owns the retry.
   * `processorState` is stored with the checkpoint in the lease item (and removed by a
   * checkpoint written without it); the next owner gets it with the lease.
   * @throws LeaseLostError when the lease is no longer this worker's (`lease:lost` is emitted too);
   *   ThrottledError / TransientError (retryable) when the write did not get through;
   *   ProcessorStateTooLargeError (not retryable) for a state over MAX_PROCESSOR_STATE_BYTES.
   */
  async checkpoint(leaseKey: string, checkpoint: string, processorState?: string): Promise<void> {
    if (!isSequenceNumber(checkpoint) && checkpoint !== 'SHARD_END') {
      throw new TypeError(`checkpoint must be a sequence number or 'SHARD_END', got ${JSON.stringify(checkpoint)}`);
    }
    const held = this.#held.get(leaseKey);
    const shardId = held?.row.shardId ?? leaseKey;
    if (processorState !== undefined) assertProcessorStateFits(shardId, processorState);
    if (!held || this.#heartbeat.checkFence()) throw new LeaseLostError(shardId);
    const { row: before } = held;
    if (before.checkpoint !== 'LATEST' && compareCheckpoints(checkpoint, before.checkpoint) < 0) {
      throw new ShardlineError(
        `checkpoint of ${shardId} would move backwards (${before.checkpoint} → ${checkpoint}); checkpoints are monotonic`,
      );
    }
    let row: LeaseItem;
    try {
      row = await this.#store.checkpoint(
        leaseKey,
        this.workerId,
        before.leaseCounter,
        checkpoint,
        before.ownerSession,
        processorState,
      );
    } catch (err) {
      if (err instanceof LeaseLostError && this.#held.get(leaseKey) === held)
        this.#held.drop(leaseKey, 'checkpoint-conflict');
      throw err;
    }
    if (this.#held.get(leaseKey) !== held) throw new LeaseLostError(shardId);
    held.row = row;
    if (checkpoint !== 'SHARD_END') return;
    this.#held.finished(leaseKey, before.leaseCounter);
    this.#log.info(
      { ...leaseFields(before), leaseOwner: this.workerId, sequenceNumber: checkpoint },
      'shard finished; lease given up',
    );
    this.events.emit('lease:released', { shardId, leaseKey, streamArn: row.streamArn });
    this.#background.add(this.#shardEnd.startChildren(row));
  }

  /**
   * Gives the lease `leaseKey` up after a `lease:handoff` (to the worker named there) or of the
   * worker's own accord (to nobody; the leader assigns it). Idempotent: a lease no longer held is
   * ignored.
   */
  release(leaseKey: string): Promise<void> {
    return this.#handOffs.release(leaseKey);
  }

  async #stop(handOff: boolean): Promise<void> {
    // A stop during start waits for it: the table and heartbeat item may be half set up.
    await this.#starting?.catch(() => undefined);
    if (this.#state.is('new', 'stopped')) {
      if (!this.#state.is('stopped')) this.#state.set('stopped');
      return;
    }
    this.#state.set('draining');
    // Keep heartbeating while draining (so nobody takes our leases as a dead worker's), but
    // announce that we take no new ones, and give up the leader item at once.
    this.#heartbeat.beatNow();
    await this.#leadership.release();
    this.#reader.wake();
    await this.#handOffs.drain(handOff);
    await this.#background.settle();
    await this.#handOffs.giveBackUnheld();
    this.#state.set('stopped');
    this.#lifetime.abort();
    await Promise.all([this.#heartbeat.stop(), this.#reader.stop()]);
    await this.#heartbeat
      .remove()
      .catch((err: unknown) => this.#log.warn({ err }, 'deleting the heartbeat item failed'));
    this.#log.info({}, 'lease coordinator stopped');
  }

  /** The heartbeat's verdict: no heartbeat for a lease duration. Others may take our leases now. */
  #onFence(lastOkAt: number): void {
    this.#log.error(
      { leases: this.#held.size, lastHeartbeatOkAt: new Date(lastOkAt).toISOString() },
      'no heartbeat for a lease duration: stopping every shard',
    );
    this.#held.dropAll('fenced');
    // Once heartbeats get through again, the leases still ours are re-taken at the first full read.
    this.#reader.requestFullRead(Number.NEGATIVE_INFINITY);
    this.#leadership.resign();
  }

  /**
   * A heartbeat got through again. Read the whole table at once: the leases (and the leader item)
   * still naming us are re-taken now, not at the next poll, and the light reads that would
   * otherwise follow see nothing to do (the leader item has not changed) until the safety net.
   */
  #onRecover(): void {
    if (!this.#state.is('running')) return;
    this.#reader.requestFullRead(this.#heartbeat.lastOkAt ?? Number.NEGATIVE_INFINITY);
    this.#reader.wake();
  }
}
