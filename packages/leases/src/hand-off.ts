import { planDrainTargets } from './drain-targets.js';
import { Notices } from './notices.js';
import { leaseFields, type HeldLease } from './held-leases.js';
import type { TableSnapshot } from './items.js';
import type { CoordinatorParts } from './parts.js';

export interface HandOffsDeps extends Pick<
  CoordinatorParts,
  | 'held'
  | 'store'
  | 'membership'
  | 'streams'
  | 'options'
  | 'clock'
  | 'log'
  | 'events'
  | 'background'
  | 'me'
  | 'lifetime'
  | 'status'
> {
  isSuperseded: () => boolean;
  /**
   * A full read at stop time (the table reader's `readNow`, bounded; the last read if it fails):
   * the last periodic read may name a worker that left since, miss one that joined, or show
   * loads that moved since.
   */
  readNow: () => Promise<TableSnapshot | undefined>;
}

/**
 * Leases leaving this worker alive: a hand-off asked for by the leader (or by our own stop) is
 * announced through `lease:handoff` and completed by `release()` or, after handOffTimeoutMs,
 * forced; `transferOut` is the one write that moves a lease away. Also the stop-time drain.
 */
export class HandOffs {
  readonly #d: HandOffsDeps;

  constructor(deps: HandOffsDeps) {
    this.#d = deps;
  }

  /** Asks the consumer of `leaseKey` to finish its batch and call `release()`; moves it anyway after the timeout. */
  begin(leaseKey: string, to: string | undefined): void {
    const { held: ledger, log, events, clock, options } = this.#d;
    const held = ledger.get(leaseKey);
    if (!held || held.handOff) return;
    const timer = new AbortController();
    held.handOff = { to, timer };
    const { row } = held;
    log.info({ ...leaseFields(row), leaseOwner: this.#d.me.workerId, to }, 'hand-off requested');
    if (events.listenerCount('lease:handoff') === 0) {
      // Nobody consumes this shard: there is no batch to finish.
      void this.release(leaseKey);
      return;
    }
    events.emit('lease:handoff', { shardId: row.shardId, leaseKey, streamArn: row.streamArn, to });
    // The timer is not a background task (idle must not wait for it); what it triggers is.
    clock
      .sleep(options.handOffTimeoutMs, AbortSignal.any([timer.signal, this.#d.lifetime]))
      .then(() => {
        if (ledger.get(leaseKey) !== held) return;
        ledger.drop(leaseKey, 'handoff-timeout');
        this.#d.background.add(this.#transferOut(held, held.row.pendingOwner ?? to));
      })
      .catch(() => undefined);
  }

  /** See LeaseCoordinator.release. */
  async release(leaseKey: string): Promise<void> {
    const held = this.#d.held.letGo(leaseKey);
    if (!held) return;
    // The table's pendingOwner wins over the one announced: the leader may have re-targeted a
    // hand-off whose first target died.
    const task = this.#transferOut(held, held.row.pendingOwner ?? held.handOff?.to);
    this.#d.background.add(task);
    await task;
  }

  /**
   * Empties this worker at stop: with `handOff`, every held lease is offered to the workers the
   * leader's rule picks from a fresh read (`planDrainTargets`) and this waits (bounded) until
   * they are released; without, each is dropped and moved to nobody at once.
   */
  async drain(handOff: boolean): Promise<void> {
    const { held: ledger, clock, options, events, lifetime } = this.#d;
    if (handOff && ledger.size > 0) {
      const targets = await this.#targets();
      // Leases lost or released while the read ran are not offered.
      for (const leaseKey of ledger.leaseKeys()) this.begin(leaseKey, targets.get(leaseKey));
      const deadline = clock.now() + options.handOffTimeoutMs + options.heartbeatIntervalMs;
      while (ledger.size > 0 && clock.now() < deadline && !this.#d.status.isFenced()) {
        // One signal per round, aborted once the round is decided: the two waits that lost the
        // race must not keep their abort listeners on the coordinator's lifetime (one round per
        // released lease added two and tripped MaxListenersExceededWarning past 10 leases).
        const round = new AbortController();
        const signal = AbortSignal.any([lifetime, round.signal]);
        try {
          await Promise.race([
            events.waitFor('lease:released', () => true, signal).catch(() => undefined),
            events.waitFor('lease:lost', () => true, signal).catch(() => undefined),
            clock.sleep(Math.max(1, deadline - clock.now()), signal).catch(() => undefined),
          ]);
        } finally {
          round.abort();
        }
      }
    } else {
      for (const leaseKey of ledger.leaseKeys()) {
        const held = ledger.get(leaseKey);
        if (!held) continue;
        ledger.drop(leaseKey, 'stopped');
        await this.#transferOut(held, undefined);
      }
    }
  }

  /**
   * Leases assigned to this worker just before the leader saw it draining were never picked up:
   * give them back, or they would wait a lease duration once the heartbeat item is gone.
   */
  async giveBackUnheld(): Promise<void> {
    const { store, held: ledger, log } = this.#d;
    // Superseded: rows naming this worker id are the newer process's now.
    if (this.#d.isSuperseded()) return;
    try {
      const snapshot = await store.scan();
      for (const row of snapshot.leases) {
        if (!ledger.isMine(row) || ledger.has(row.leaseKey) || row.checkpoint === 'SHARD_END') continue;
        await store
          .transfer(row, undefined, { oneShot: true })
          .catch((err: unknown) => log.debug({ shardId: row.shardId, err }, 'giving back an unheld lease failed'));
      }
    } catch (err) {
      log.warn({ err }, 'could not check for leases assigned while stopping');
    }
  }

  /** Moves a lease no longer held locally to `to` (when alive) or to nobody. */
  async #transferOut(held: HeldLease, to: string | undefined): Promise<void> {
    const { membership, store, log, events, me } = this.#d;
    const { row } = held;
    // Never hand a lease to a worker we believe dead: it would sit there a lease duration.
    if (to !== undefined && membership.known().includes(to) && !membership.isAlive(to)) to = undefined;
    const session =
      to === undefined || to === me.workerId
        ? undefined
        : row.pendingOwner === to && row.pendingOwnerSession !== undefined
          ? row.pendingOwnerSession
          : membership.sessionOf(to);
    const target = to !== undefined && session !== undefined ? { workerId: to, sessionId: session } : undefined;
    const fields = { ...leaseFields(row), leaseOwner: me.workerId, to: target?.workerId ?? null };
    const released = this.#d.held.releasing(row);
    try {
      await store.transfer(row, target, { lostOnConflict: true, oneShot: true });
      log.info(fields, 'lease released');
      events.emit('lease:released', {
        shardId: row.shardId,
        leaseKey: row.leaseKey,
        streamArn: row.streamArn,
        to: target?.workerId,
      });
      if (target)
        await store
          .bumpEpoch(new Notices().add(target.workerId, row.leaseKey))
          .catch((err: unknown) =>
            log.debug({ err }, 'epoch bump failed; the target finds the lease at its next full read'),
          );
    } catch (err) {
      log.warn({ ...fields, err }, 'releasing lease failed; the leader reassigns it');
    } finally {
      released();
    }
  }

  /** The hand-off target of each held lease, by the leader's rule over a fresh read. */
  async #targets(): Promise<Map<string, string>> {
    const { held: ledger, membership, streams, options, clock, me } = this.#d;
    const snapshot = await this.#d.readNow();
    const now = clock.now();
    // A hand-off under way (the leader's rebalance) keeps its target; planned as the table shows it.
    const mine = ledger
      .entries()
      .filter(([, held]) => !held.handOff)
      .map(([, held]) => held.row);
    return planDrainTargets({
      me: me.workerId,
      mine,
      others: (snapshot?.leases ?? []).filter((lease) => streams.has(lease.streamArn)),
      alive: membership.alive(),
      draining: new Set(membership.draining()),
      isGone: (workerId) => membership.isGone(workerId, now),
      maxLeasesPerWorker: options.maxLeasesPerWorker,
    });
  }
}
