import { LeaseConflictError } from './errors.js';
import { Heartbeater } from './heartbeater.js';
import { workerKey } from './items.js';
import type { CoordinatorParts } from './parts.js';

export interface WorkerHeartbeatOptions extends Pick<CoordinatorParts, 'store' | 'me' | 'options' | 'clock' | 'log'> {
  /** What the heartbeat item tells the others, read at each beat. */
  itemStatus: () => { leaseCount: number; draining: boolean; recordsProcessed?: number | undefined };
  /** The fence fell (no heartbeat for a lease duration, or superseded): stop every shard now. */
  onFence: (lastOkAt: number) => void;
  /** A heartbeat got through again after the fence fell: take back what is still ours now. */
  onRecover: () => void;
}

/**
 * This worker's heartbeat item and its verdict on itself: fenced when no heartbeat got through
 * for a lease duration (the Heartbeater's rule), or for good once another process took over the
 * worker id's item. Also knows when this incarnation started, and so when a previous one must
 * have fenced itself.
 */
export class WorkerHeartbeat {
  readonly #o: WorkerHeartbeatOptions;
  readonly #heartbeater: Heartbeater;
  /** Another process took over this worker id's heartbeat item: fenced for the rest of this process. */
  #superseded = false;
  #written = false;
  #startedAt = 0;

  constructor(options: WorkerHeartbeatOptions) {
    this.#o = options;
    this.#heartbeater = new Heartbeater({
      clock: options.clock,
      leaseDurationMs: options.options.leaseDurationMs,
      intervalMs: options.options.heartbeatIntervalMs,
      log: options.log,
      write: (beat, signal) => this.#write(beat, signal),
      onFence: (lastOkAt) => options.onFence(lastOkAt),
      onRecover: () => {
        // Superseded stays fenced whatever gets through (see #write): nothing to take back.
        if (this.#superseded) return;
        options.log.warn({}, 'heartbeat got through again; re-taking the leases still ours');
        options.onRecover();
      },
    });
  }

  get fenced(): boolean {
    return this.#superseded || this.#heartbeater.fenced;
  }

  get superseded(): boolean {
    return this.#superseded;
  }

  get busy(): boolean {
    return this.#heartbeater.busy;
  }

  get startedAt(): number {
    return this.#startedAt;
  }

  /** When a previous incarnation of this worker id must have fenced itself: its rows are ours to adopt then. */
  get previousIncarnationFencedAt(): number {
    return this.#startedAt + this.#o.options.leaseDurationMs + this.#o.options.takeoverMarginMs;
  }

  /** See Coordinator.lastHeartbeatAt. */
  get lastOkAt(): number | undefined {
    return this.#heartbeater.lastOkAtIfAny;
  }

  /** The fence check before acting on leases (see Heartbeater.checkFence). */
  checkFence(): boolean {
    return this.#heartbeater.checkFence() || this.#superseded;
  }

  /** Writes the first heartbeat (its failure is the caller's), then beats in the background. */
  async start(): Promise<void> {
    this.#startedAt = this.#o.clock.now();
    await this.#heartbeater.start();
  }

  beatNow(): void {
    this.#heartbeater.beatNow();
  }

  stop(): Promise<void> {
    return this.#heartbeater.stop();
  }

  /** Deletes the heartbeat item at a graceful stop (the others see a clean leave, not a death). */
  async remove(): Promise<void> {
    await this.#o.store.deleteWorker(this.#o.me.workerId, this.#o.me.sessionId);
  }

  async #write(beat: number, signal: AbortSignal): Promise<void> {
    const { store, me, clock, log } = this.#o;
    // Never again once superseded: the other process's item must not be overwritten, and a
    // heartbeat getting through (after it deleted its item) must not un-fence us.
    if (this.#superseded)
      throw new LeaseConflictError(
        workerKey(me.workerId),
        'heartbeat (superseded by another process with this worker id)',
      );
    const status = this.#o.itemStatus();
    try {
      await store.heartbeat(
        {
          leaseKey: workerKey(me.workerId),
          itemType: 'worker',
          workerId: me.workerId,
          sessionId: me.sessionId,
          heartbeat: beat,
          leaseCount: status.leaseCount,
          draining: status.draining ? true : undefined,
          recordsProcessed: status.recordsProcessed,
          startedAt: new Date(this.#startedAt).toISOString(),
          updatedAt: new Date(clock.now()).toISOString(),
        },
        this.#written ? me.sessionId : undefined,
        signal,
      );
      this.#written = true;
    } catch (err) {
      const sameIdElsewhere = err instanceof LeaseConflictError;
      log[sameIdElsewhere ? 'error' : 'warn'](
        { err },
        sameIdElsewhere
          ? `another process took over the heartbeat of worker ${me.workerId}: worker ids must be unique; stopping every shard for good`
          : 'heartbeat failed',
      );
      // A restart while this process still runs: the new one adopts our leases once it thinks
      // we fenced, which it may judge from its own start, not our last heartbeat. Fence now.
      if (sameIdElsewhere && !this.#superseded) {
        this.#superseded = true;
        this.#o.onFence(this.#heartbeater.lastOkAt);
      }
      throw err;
    }
  }
}
