import type { LeaderItem, TableSnapshot } from './items.js';
import type { LeaseStore } from './lease-store.js';
import type { MembershipChange } from './membership.js';
import type { CoordinatorParts } from './parts.js';

/** No poll or watch runs more often than this, however short the heartbeat interval: DynamoDB round trips take a few ms. */
const MIN_POLL_MS = 50;
/** While a worker is silent, or just left, a non-leader polls this many times per heartbeat interval. */
const FAST_POLLS_PER_INTERVAL = 8;
/** A live worker whose heartbeat has not changed for this many intervals is a suspect: fast polls begin. */
const SUSPECT_AFTER_INTERVALS = 1.5;
/** Fast polls go on this many intervals after a worker left: the leader is reassigning its leases. */
const FAST_POLL_INTERVALS_AFTER_LEAVE = 2;
/** The leader reads the heartbeat items this many times per interval (see #runWatch). */
const WATCHES_PER_INTERVAL = 4;
/** A read may take this long before it is abandoned (and tried again next poll), however short the interval. */
const MIN_READ_TIMEOUT_MS = 2_000;
/** A full read may take two intervals: it pages through the whole table. */
const FULL_READ_TIMEOUT_INTERVALS = 2;
/**
 * …and the minimum read timeout again per this many leases the last read found (about one 1 MB
 * Scan page): a table of 10,000 leases is 4 pages, which a loaded endpoint may not serve in 2 s.
 */
const LEASES_PER_SCAN_PAGE = 2_500;
/**
 * A non-leader wakes this long after a silent worker's expiry (or a quarter interval, if less),
 * so that the leader, which wakes at the expiry itself, has written the reassignment by then.
 */
const AFTER_EXPIRY_WAKE_MS = 250;
const AFTER_EXPIRY_WAKE_INTERVALS = 1 / 4;

export interface TableReaderDeps extends Pick<
  CoordinatorParts,
  'store' | 'membership' | 'held' | 'status' | 'options' | 'clock' | 'log' | 'events' | 'lifetime'
> {
  /** Someone joined or left. */
  onMembershipChange(): void;
  /** The leader's shard sync or assignment is writing: its own polls need not scan meanwhile. */
  leaderBusy(): boolean;
  /** Act on these rows alone (this worker's inbox on the leader item): read each, take it up or hand it off. */
  onInbox(leaseKeys: readonly string[]): Promise<void>;
  /** A full read: bring the held leases and leadership in line with it. */
  onFullRead(snapshot: TableSnapshot, seqAtRead: number, now: number): Promise<void>;
}

/**
 * When and how much of the lease table this worker reads. One poll per heartbeat interval:
 * a full read (Scan) for the leader, and for the others only when something they must act on
 * may have changed, otherwise a light read of the leader and heartbeat items. Polls come
 * sooner while a worker is silent or just left, exactly when a silent worker is judged dead, and
 * when poked; the leader also watches the heartbeat items between polls.
 */
export class TableReader {
  readonly #d: TableReaderDeps;
  readonly #reportedInvalid = new Set<string>();
  #loop: Promise<void> | undefined;
  #watchLoop: Promise<void> | undefined;
  #busy = false;
  #watchBusy = false;
  #poke = new AbortController();
  #pokeRequested = false;
  #nextPollAt = 0;
  /** Read often until then: a worker just died and its leases are about to be reassigned. */
  #fastPollUntil = 0;
  #extraWakeAt: number | undefined;
  #lastFullReadAt = Number.NEGATIVE_INFINITY;
  /** A full read is due then, whatever the epoch says (a previous incarnation's rows to adopt). */
  #fullReadDueAt: number | undefined;
  /** The leader item as of the last full read: a light read compares against it. */
  #leaderSeen: LeaderItem | undefined;
  #lastSnapshot: TableSnapshot | undefined;
  #spread: number | undefined;

  constructor(deps: TableReaderDeps) {
    this.#d = deps;
  }

  /** True while a poll or a watch read is in flight. */
  get busy(): boolean {
    return this.#busy || this.#watchBusy;
  }

  /** The last full read (undefined before the first). */
  get lastSnapshot(): TableSnapshot | undefined {
    return this.#lastSnapshot;
  }

  /** Starts the poll and watch loops; they end when the lifetime signal aborts. */
  start(): void {
    this.#loop = this.#run();
    this.#watchLoop = this.#runWatch();
  }

  async stop(): Promise<void> {
    this.#poke.abort();
    await Promise.all([this.#loop, this.#watchLoop]);
  }

  /** Poll now rather than at the next interval. */
  wake(): void {
    this.#pokeRequested = true;
    this.#poke.abort();
  }

  /**
   * A full read now, outside the poll loop, for a decision that must not rest on the last one
   * (a graceful stop's hand-off targets: a worker that left or joined since, leases moved since).
   * It updates who is alive (a full read: a worker whose heartbeat item is gone is forgotten),
   * nothing else: the poll's own reads stay the ones acted on. Bounded like a poll's full read;
   * when it fails, the last full read is the answer (undefined before the first).
   */
  async readNow(): Promise<TableSnapshot | undefined> {
    try {
      const snapshot = await this.#d.store.scan(this.#fullReadTimeout());
      const now = this.#d.clock.now();
      this.#observe(this.#d.membership.observe(snapshot.workers, now), now);
      return snapshot;
    } catch (err) {
      this.#d.log.warn({ err }, 'lease table read failed; deciding on the last full read');
      return this.#lastSnapshot;
    }
  }

  /** Make the first poll at or after `at` a full read. */
  requestFullRead(at: number): void {
    this.#fullReadDueAt = Math.min(this.#fullReadDueAt ?? at, at);
  }

  async poll(): Promise<void> {
    this.#busy = true;
    const startedAt = this.#d.clock.now();
    this.#nextPollAt = startedAt + this.#d.options.heartbeatIntervalMs;
    try {
      this.#d.status.checkFence();
      if (this.#canReadLight(startedAt) && !(await this.#readLight())) return;
      const seqAtRead = this.#d.held.seq;
      let snapshot: TableSnapshot;
      try {
        snapshot = await this.#d.store.scan(this.#fullReadTimeout());
      } catch (err) {
        this.#d.log.warn({ err }, 'lease table read failed');
        return;
      }
      this.#d.status.checkFence();
      this.#lastFullReadAt = startedAt;
      this.#leaderSeen = snapshot.leader;
      const now = this.#d.clock.now();
      this.#lastSnapshot = snapshot;
      this.#observe(this.#d.membership.observe(snapshot.workers, now), now);
      this.#reportInvalid(snapshot);
      // A read not acted on (fenced, stopped) does not answer a requested full read: the leases
      // still ours after a fence are re-taken by the first full read once the fence lifts.
      if (this.#d.status.isFenced() || this.#d.status.isStopped()) return;
      this.#fullReadDueAt = undefined;
      await this.#d.onFullRead(snapshot, seqAtRead, now);
      // A Scan is no point-in-time read: a row paged before the write the inbox names (a lease
      // put on us while the scan ran) is stale in it. Each named row is read again, after the
      // leader item was; else it waits for the safety net.
      await this.#followInbox(snapshot.leader?.inboxes?.[this.#d.options.workerId] ?? []);
      this.#scheduleExpiryWake();
    } catch (err) {
      this.#d.log.error({ err }, 'lease coordinator poll failed; trying again next interval');
    } finally {
      this.#busy = false;
    }
  }

  async #run(): Promise<void> {
    const signal = this.#d.lifetime;
    while (!signal.aborted) {
      const now = this.#d.clock.now();
      let wakeAt = this.#nextPollAt;
      // While some worker is silent, read more often: the leader may reassign its leases any
      // moment, and picking them up a poll interval late would be lag for nothing.
      const h = this.#d.options.heartbeatIntervalMs;
      if (
        !this.#d.status.isLeader() &&
        (now < this.#fastPollUntil || this.#d.membership.hasSuspect(now, h * SUSPECT_AFTER_INTERVALS))
      )
        wakeAt = Math.min(wakeAt, now + Math.max(MIN_POLL_MS, Math.floor(h / FAST_POLLS_PER_INTERVAL)));
      if (this.#extraWakeAt !== undefined && this.#extraWakeAt > now) wakeAt = Math.min(wakeAt, this.#extraWakeAt);
      if (!this.#pokeRequested) {
        this.#poke = new AbortController();
        await this.#d.clock
          .sleep(Math.max(0, wakeAt - now), AbortSignal.any([signal, this.#poke.signal]))
          .catch(() => undefined);
      }
      this.#pokeRequested = false;
      if (signal.aborted) break;
      await this.poll();
    }
  }

  /**
   * The leader reads just the heartbeat items several times per interval (one cheap BatchGet),
   * so it sees each heartbeat land within a quarter interval, not a whole one: a dead worker is
   * then judged dead that much sooner, with the same lease duration and margin.
   */
  async #runWatch(): Promise<void> {
    const signal = this.#d.lifetime;
    const every = Math.max(MIN_POLL_MS, Math.floor(this.#d.options.heartbeatIntervalMs / WATCHES_PER_INTERVAL));
    while (!signal.aborted) {
      await this.#d.clock.sleep(every, signal).catch(() => undefined);
      if (signal.aborted) break;
      if (!this.#d.status.isLeader() || !this.#d.status.isRunning()) continue;
      const others = this.#d.membership.known().filter((id) => id !== this.#d.options.workerId);
      if (others.length === 0) continue;
      this.#watchBusy = true;
      try {
        const workers = await this.#d.store.getWorkers(others, this.#timeout(1));
        this.#d.membership.observeSome(workers, this.#d.clock.now());
      } catch (err) {
        this.#d.log.debug({ err }, 'heartbeat watch read failed');
      } finally {
        this.#watchBusy = false;
      }
    }
  }

  /**
   * Workers other than the leader read the whole table only when something they must act on
   * may have changed: their notice on the leader item (bumped by the assignment, hand-off
   * request, release or deletion that concerns them), a bump for everyone (`epoch` beyond
   * `targetedEpoch`: operator actions, older versions), a new or vacant leader, or the
   * safety-net interval.
   * Otherwise a poll is one BatchGet of the leader and heartbeat items: read cost grows with the
   * number of workers, not shards.
   */
  #canReadLight(now: number): boolean {
    return (
      this.#d.status.isRunning() &&
      // A leader in the middle of its own writes would scan mostly those (a 10,000-lease table
      // takes a second a scan on DynamoDB Local, and slows the writes); it reads light until done.
      (!this.#d.status.isLeader() || this.#d.leaderBusy()) &&
      this.#leaderSeen !== undefined &&
      !this.#d.status.isFenced() &&
      now < this.#lastFullReadAt + this.#safetyNetMs() &&
      (this.#fullReadDueAt === undefined || now < this.#fullReadDueAt)
    );
  }

  /** One light read; true when a full read must follow now. */
  async #readLight(): Promise<boolean> {
    let answer: Awaited<ReturnType<LeaseStore['getLeaderAndWorkers']>>;
    try {
      answer = await this.#d.store.getLeaderAndWorkers(
        this.#d.membership.known(),
        this.#timeout(FULL_READ_TIMEOUT_INTERVALS),
      );
    } catch (err) {
      this.#d.log.warn({ err }, 'lease table read failed');
      return false;
    }
    const now = this.#d.clock.now();
    this.#observe(this.#d.membership.observe(answer.workers, now, { partial: true }), now);
    const seen = this.#leaderSeen;
    const leader = answer.leader;
    const me = this.#d.options.workerId;
    const moved =
      seen === undefined ||
      leader === undefined ||
      leader.leaseOwner !== seen.leaseOwner ||
      leader.ownerSession !== seen.ownerSession ||
      leader.leaseCounter !== seen.leaseCounter ||
      leader.epoch - leader.targetedEpoch !== seen.epoch - seen.targetedEpoch ||
      (leader.notices?.[me] ?? 0) !== (seen.notices?.[me] ?? 0);
    this.#scheduleExpiryWake();
    if (moved || this.#d.membership.isGone(leader.leaseOwner, now)) return true;
    await this.#followInbox(leader.inboxes?.[me] ?? []);
    return false;
  }

  /**
   * Removes the keys from the inbox, then reads the rows they name: in the other order, a change
   * the leader writes between the read and the removal (a hand-off asked right after the lease
   * was put on us: the same key again) would leave with the key, unseen until the safety net.
   * Removed first, such a key is added back and read at the next poll. A row read that fails
   * after the removal makes the next poll a full read, which sees every row.
   */
  async #followInbox(inbox: readonly string[]): Promise<void> {
    if (inbox.length === 0) return;
    await this.#d.store.clearInbox(this.#d.options.workerId, inbox);
    try {
      await this.#d.onInbox(inbox);
    } catch (err) {
      this.requestFullRead(this.#d.clock.now());
      throw err;
    }
  }

  #observe(change: MembershipChange, now: number): void {
    for (const workerId of change.joined) this.#d.events.emit('worker:joined', { workerId });
    for (const workerId of change.left) this.#d.events.emit('worker:left', { workerId });
    if (change.left.length > 0 || change.joined.length > 0) this.#d.onMembershipChange();
    if (change.left.length > 0)
      this.#fastPollUntil = now + FAST_POLL_INTERVALS_AFTER_LEAVE * this.#d.options.heartbeatIntervalMs;
  }

  /**
   * Wake exactly when a silent worker is judged dead: the leader to reassign, the others a
   * moment later to pick up what was assigned to them.
   */
  #scheduleExpiryWake(): void {
    const expiry = this.#d.membership.nextExpiry();
    if (expiry === undefined) {
      this.#extraWakeAt = undefined;
      return;
    }
    const h = this.#d.options.heartbeatIntervalMs;
    const delay = this.#d.status.isLeader() ? 0 : Math.min(AFTER_EXPIRY_WAKE_MS, h * AFTER_EXPIRY_WAKE_INTERVALS);
    // 1 ms past the expiry: a worker is alive while now < expiry.
    this.#extraWakeAt = expiry + 1 + delay;
  }

  #reportInvalid(snapshot: TableSnapshot): void {
    for (const row of snapshot.invalid) {
      const key = `${row.leaseKey}\u0000${row.problem}`;
      if (this.#reportedInvalid.has(key)) continue;
      this.#reportedInvalid.add(key);
      this.#d.log.error(
        { leaseKey: row.leaseKey, problem: row.problem },
        'lease table row is invalid and is skipped; fix or delete it',
      );
    }
  }

  /**
   * The safety-net full read of a non-leader (for a notice that never arrived): every shard
   * audit interval, stretched by 0–25 % per worker id so that a fleet started together does not
   * scan the table in the same second ever after. Notices make it rare on purpose: at 50
   * workers and 10,000 leases, a full read each 30 s was 1,000,000 items read a minute.
   */
  #safetyNetMs(): number {
    this.#spread ??= spreadOf(this.#d.options.workerId);
    return Math.round(this.#d.options.shardAuditIntervalMs * (1 + this.#spread / 4));
  }

  #fullReadTimeout(): AbortSignal {
    const pages = Math.ceil((this.#lastSnapshot?.leases.length ?? 0) / LEASES_PER_SCAN_PAGE);
    const ms = Math.max(MIN_READ_TIMEOUT_MS, this.#d.options.heartbeatIntervalMs * FULL_READ_TIMEOUT_INTERVALS);
    return AbortSignal.timeout(ms + pages * MIN_READ_TIMEOUT_MS);
  }

  #timeout(intervals: number): AbortSignal {
    return AbortSignal.timeout(Math.max(MIN_READ_TIMEOUT_MS, this.#d.options.heartbeatIntervalMs * intervals));
  }
}

/** A number in [0, 1) fixed by `id` (FNV-1a): spreads per-worker schedules without randomness. */
function spreadOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return hash / 2 ** 32;
}
