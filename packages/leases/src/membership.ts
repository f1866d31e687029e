import type { WorkerItem } from './items.js';

interface Observation {
  sessionId: string;
  draining: boolean;
  heartbeat: number;
  /** Leases the worker held as of this heartbeat (its item's `leaseCount`). */
  leaseCount: number;
  /** Observer's clock when this heartbeat value was first seen. */
  changedAt: number;
}

export interface MembershipChange {
  joined: string[];
  left: string[];
}

/**
 * Who is alive, judged on the observer's own clock only: a worker is dead when its heartbeat
 * counter has not changed for `deadAfterMs` since this observer first saw the current value.
 * No timestamp written by another machine is ever compared with ours (clock skew would fence
 * healthy workers or keep dead ones alive, as KCL's cross-host lease timestamps can).
 *
 * Safe by construction: a worker stops its shards `leaseDurationMs` after the *start* of its
 * last successful heartbeat; the observer saw that heartbeat only after it landed, so with
 * `deadAfterMs = leaseDurationMs + margin` the worker has fenced itself before it is judged dead.
 */
export class Membership {
  readonly #deadAfterMs: number;
  readonly #seen = new Map<string, Observation>();
  /** Owners named by leases without a heartbeat item: dead only after the same wait. */
  readonly #ghosts = new Map<string, number>();
  #alive = new Set<string>();

  constructor(deadAfterMs: number) {
    this.#deadAfterMs = deadAfterMs;
  }

  /**
   * Feeds one read; returns who joined and who left since the previous one. A `partial` read
   * (some heartbeat items only) forgets nobody it left out.
   */
  observe(workers: WorkerItem[], now: number, options: { partial?: boolean } = {}): MembershipChange {
    const present = new Set<string>();
    for (const worker of workers) {
      present.add(worker.workerId);
      const prev = this.#seen.get(worker.workerId);
      if (!prev || prev.heartbeat !== worker.heartbeat || prev.sessionId !== worker.sessionId) {
        this.#seen.set(worker.workerId, {
          sessionId: worker.sessionId,
          draining: worker.draining === true,
          heartbeat: worker.heartbeat,
          leaseCount: worker.leaseCount,
          changedAt: now,
        });
      }
      this.#ghosts.delete(worker.workerId);
    }
    // A deleted heartbeat item means a graceful stop (its leases were handed over first).
    if (!options.partial) for (const id of [...this.#seen.keys()]) if (!present.has(id)) this.#seen.delete(id);
    const alive = new Set<string>();
    for (const [id, obs] of this.#seen) if (now < obs.changedAt + this.#deadAfterMs) alive.add(id);
    const joined = [...alive].filter((id) => !this.#alive.has(id)).sort();
    const left = [...this.#alive].filter((id) => !alive.has(id)).sort();
    this.#alive = alive;
    return { joined, left };
  }

  /**
   * Feeds a partial read (some workers' items only): refines when their heartbeats changed,
   * without judging anyone or forgetting workers left out.
   */
  observeSome(workers: WorkerItem[], now: number): void {
    for (const worker of workers) {
      const prev = this.#seen.get(worker.workerId);
      if (!prev) continue;
      if (prev.heartbeat !== worker.heartbeat || prev.sessionId !== worker.sessionId) {
        this.#seen.set(worker.workerId, {
          sessionId: worker.sessionId,
          draining: worker.draining === true,
          heartbeat: worker.heartbeat,
          leaseCount: worker.leaseCount,
          changedAt: now,
        });
      }
    }
  }

  /**
   * Leases the live workers other than `workerId` held, as their last heartbeats said (a
   * heartbeat old: what a worker ending a shard uses to judge its fair share of the children).
   */
  leasesHeldByOthers(workerId: string): number {
    let total = 0;
    for (const [id, obs] of this.#seen) if (id !== workerId && this.#alive.has(id)) total += obs.leaseCount;
    return total;
  }

  /** Workers seen (alive or not), sorted. */
  known(): string[] {
    return [...this.#seen.keys()].sort();
  }

  /** Whether some live worker has missed a heartbeat (silent for `silentMs`): a death may be near. */
  hasSuspect(now: number, silentMs: number): boolean {
    for (const [id, obs] of this.#seen) if (this.#alive.has(id) && now - obs.changedAt > silentMs) return true;
    return this.#ghosts.size > 0;
  }

  isAlive(workerId: string): boolean {
    return this.#alive.has(workerId);
  }

  /** Live workers, sorted. */
  alive(): string[] {
    return [...this.#alive].sort();
  }

  /** Live workers whose heartbeat says they are stopping (handing their leases off), sorted. */
  draining(): string[] {
    return this.alive().filter((id) => this.#seen.get(id)?.draining === true);
  }

  /** Live workers that take new leases (not draining), sorted: the fair share's denominator. */
  assignable(): string[] {
    return this.alive().filter((id) => this.#seen.get(id)?.draining !== true);
  }

  sessionOf(workerId: string): string | undefined {
    return this.#alive.has(workerId) ? this.#seen.get(workerId)?.sessionId : undefined;
  }

  /**
   * Whether a lease owner may be treated as gone: it is not alive and, if it never had a
   * heartbeat item in our view, we have waited `deadAfterMs` since we first saw it named.
   */
  isGone(workerId: string, now: number): boolean {
    if (this.#alive.has(workerId)) return false;
    if (this.#seen.has(workerId)) return true;
    let first = this.#ghosts.get(workerId);
    if (first === undefined) {
      first = now;
      this.#ghosts.set(workerId, now);
    }
    return now >= first + this.#deadAfterMs;
  }

  /** When the next live worker would be judged dead if it stays silent (to wake exactly then). */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const [id, obs] of this.#seen) {
      if (!this.#alive.has(id)) continue;
      const at = obs.changedAt + this.#deadAfterMs;
      if (next === undefined || at < next) next = at;
    }
    for (const first of this.#ghosts.values()) {
      const at = first + this.#deadAfterMs;
      if (next === undefined || at < next) next = at;
    }
    return next;
  }
}
