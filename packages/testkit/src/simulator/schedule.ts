import { AbortedError, type Clock } from '@shardline/core';
import type { Random } from './random.js';
import type { StreamStore } from './store.js';

/** Automatic traffic and topology changes; all optional, nothing happens by default. */
export interface ScheduleOptions {
  /** Generated writes per second of clock time. @defaultValue 0 (no traffic) */
  writesPerSecond?: number;
  /** Distinct keys the traffic writes (`key-0` … `key-{n-1}`). @defaultValue 100 */
  keys?: number;
  /** Fraction of generated writes that delete the item instead of putting it. @defaultValue 0.1 */
  removeRatio?: number;
  /** Every open shard is rolled over once it is this old (DynamoDB rolls shards over by age). @defaultValue never */
  rolloverEveryMs?: number;
  /** This often, the open shard owning the widest key range splits in two. @defaultValue never */
  splitEveryMs?: number;
  /** Scheduled splits pause while this many shards are open. @defaultValue 64 */
  maxOpenShards?: number;
  /** How often the schedule wakes up. @defaultValue 100 */
  tickMs?: number;
}

export interface ScheduleHandle {
  /** Records written by the traffic so far (deletes of absent items write none and are not counted). */
  readonly written: number;
  /** Stops the schedule; resolves once its loop has exited. Idempotent. */
  stop(): Promise<void>;
}

interface ResolvedSchedule {
  writesPerSecond: number;
  keys: number;
  removeRatio: number;
  rolloverEveryMs: number;
  splitEveryMs: number;
  maxOpenShards: number;
  tickMs: number;
}

const DEFAULTS = {
  writesPerSecond: 0,
  keys: 100,
  removeRatio: 0.1,
  rolloverEveryMs: Infinity,
  splitEveryMs: Infinity,
  maxOpenShards: 64,
  tickMs: 100,
} satisfies ResolvedSchedule;

export function resolveScheduleOptions(options: ScheduleOptions): ResolvedSchedule {
  const out: ResolvedSchedule = { ...DEFAULTS };
  for (const [name, value] of Object.entries(options) as Array<[keyof ResolvedSchedule, unknown]>) {
    if (value === undefined) continue;
    if (!(name in DEFAULTS)) throw new RangeError(`unknown schedule option ${name}`);
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0)
      throw new RangeError(`schedule option ${name} must be a number >= 0, got ${JSON.stringify(value)}`);
    out[name] = value;
  }
  if (out.removeRatio > 1) throw new RangeError(`removeRatio must be from 0 to 1, got ${out.removeRatio}`);
  if (!Number.isInteger(out.keys) || out.keys < 1)
    throw new RangeError(`keys must be a positive integer, got ${out.keys}`);
  if (out.tickMs <= 0) throw new RangeError('tickMs must be > 0');
  if (out.rolloverEveryMs === 0 || out.splitEveryMs === 0)
    throw new RangeError('rolloverEveryMs and splitEveryMs must be > 0');
  return out;
}

/**
 * Runs traffic, rollovers and splits on the simulator's clock, so a ManualClock drives them in
 * virtual time. After a jump of the clock, traffic catches up by at most one second's worth:
 * a test that advances an hour does not want 360,000 writes in one tick.
 */
export function startSchedule(
  currentStore: () => StreamStore,
  clock: Clock,
  random: Random,
  options: ScheduleOptions,
): ScheduleHandle {
  const config = resolveScheduleOptions(options);
  const controller = new AbortController();
  let written = 0;
  let issued = 0;
  let baseline = clock.now();
  let nextSplitAt = baseline + config.splitEveryMs;

  const tick = (): void => {
    const now = clock.now();
    // The current stream's store: a recreated stream takes the traffic from then on.
    const store = currentStore();
    if (config.writesPerSecond > 0) {
      let due = Math.floor(((now - baseline) * config.writesPerSecond) / 1000) - issued;
      const burst = Math.max(1, Math.ceil(config.writesPerSecond));
      if (due > burst) {
        baseline += ((due - burst) * 1000) / config.writesPerSecond;
        due = burst;
      }
      for (let i = 0; i < due; i++, issued++) {
        const key = `key-${random.int(0, config.keys - 1)}`;
        const entry =
          random.next() < config.removeRatio ? store.remove(key) : store.put(key, { n: issued, writtenAt: now });
        if (entry) written++;
      }
    }
    if (Number.isFinite(config.rolloverEveryMs)) {
      const due = store.openShards().filter((shard) => now - shard.createdAtMs >= config.rolloverEveryMs);
      for (const shard of due) store.rollover(shard.id);
    }
    if (now >= nextSplitAt) {
      nextSplitAt = Math.max(nextSplitAt + config.splitEveryMs, now);
      const open = store.openShards();
      if (open.length < config.maxOpenShards) {
        let widest = open[0];
        for (const shard of open)
          if (widest && shard.hashHi - shard.hashLo > widest.hashHi - widest.hashLo) widest = shard;
        if (widest && widest.hashHi - widest.hashLo >= 2) store.split(widest.id);
      }
    }
  };

  const loop = (async () => {
    try {
      for (;;) {
        await clock.sleep(config.tickMs, controller.signal);
        tick();
      }
    } catch (err) {
      if (!(err instanceof AbortedError) && !controller.signal.aborted) throw err;
    }
  })();

  return {
    get written() {
      return written;
    },
    async stop() {
      controller.abort();
      await loop;
    },
  };
}
