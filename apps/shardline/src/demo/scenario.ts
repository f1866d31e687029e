import type { DeliveryLedger } from './ledger.js';
import { shardKey } from './ledger.js';
import type { WorkerFleet } from './fleet.js';
import type { ProgressView, ShardRow } from './view.js';

export interface ScenarioParts {
  fleet: WorkerFleet;
  ledger: DeliveryLedger;
  view: ProgressView;
  /** Reads the lease table now (also what the view shows). */
  readShards: () => Promise<ShardRow[]>;
  /** Rolls every open shard over; undefined without DynamoDB Local's controls (no JDK). */
  rollover: (() => Promise<void>) | undefined;
  signal: AbortSignal;
  /** The run's length; the steps are placed at fractions of it. */
  durationMs: number;
  leaseDurationMs: number;
}

/** What the scenario measured, for the summary. */
export interface ScenarioResult {
  rollovers: number;
  handOff?: { worker: string; shards: number; ms: number } | undefined;
  crash?: { worker: string; shards: number; ms: number; to: string[] } | undefined;
}

/**
 * The demo's script, run beside the traffic: rollovers (children read after their parents),
 * a rolling deploy (a new worker joins, the busiest one stops gracefully and hands off), and a
 * crash (`kill -9` of a busy worker, then the time until live workers hold all its shards).
 * Each step starts at its point of the timeline or, on a slow machine, once the step before has
 * finished: every wait is for an event (with a deadline), never for a fixed time.
 */
export async function runScenario(p: ScenarioParts): Promise<ScenarioResult> {
  const result: ScenarioResult = { rollovers: 0 };
  const started = Date.now();
  const at = async (fraction: number) => {
    while (!p.signal.aborted && Date.now() - started < fraction * p.durationMs) await pause(100);
    return !p.signal.aborted;
  };
  const rollover = async (fraction: number) => {
    if (!p.rollover || !(await at(fraction))) return;
    result.rollovers++;
    p.view.note(
      `Shard rollover ${result.rollovers}: every open shard closes and a child takes new writes; a child is read only after its parent is finished.`,
    );
    await p.rollover();
  };
  // Deadlines for the waits: generous, a loaded 2-core machine is slow, but not endless.
  const takeoverDeadlineMs = p.leaseDurationMs * 4 + 30_000;

  await rollover(0.1);

  if (await at(0.3)) {
    const replacement = await p.fleet.start();
    const holder = await busiestWorker(p, [replacement]);
    if (holder) {
      p.view.note(
        `Rolling deploy: ${replacement} joined; stopping ${holder.worker} gracefully (it hands its ${holder.shards.length} shard(s) off).`,
      );
      const stopAt = Date.now();
      await p.fleet.stop(holder.worker);
      const taken = await takenOver(p, holder.shards, holder.worker, stopAt, takeoverDeadlineMs);
      if (taken) {
        const { ms } = taken;
        result.handOff = { worker: holder.worker, shards: holder.shards.length, ms };
        p.view.note(`Hand-off done: ${holder.worker}'s shards are held by live workers ${seconds(ms)} after the stop.`);
      }
    }
  }

  await rollover(0.45);

  if (await at(0.55)) {
    const victim = await busiestWorker(p, []);
    if (victim) {
      p.view.note(
        `Crash: kill -9 ${victim.worker} (holding ${victim.shards.length} shard(s)); no release, no checkpoint.`,
      );
      const killedAt = Date.now();
      await p.fleet.kill(victim.worker);
      const taken = await takenOver(p, victim.shards, victim.worker, killedAt, takeoverDeadlineMs);
      if (taken) {
        const { ms, to } = taken;
        result.crash = { worker: victim.worker, shards: victim.shards.length, ms, to };
        p.view.note(
          `Crash taken over: ${victim.worker}'s shards are held by ${to.join(', ')} ${seconds(ms)} after the kill (its leases had to expire: ${seconds(p.leaseDurationMs)}).`,
        );
      }
    }
  }

  await rollover(0.8);
  await at(1);
  return result;
}

/** The running worker (not in `exclude`) holding the most unfinished shards, once some worker holds one. */
async function busiestWorker(
  p: ScenarioParts,
  exclude: string[],
): Promise<{ worker: string; shards: ShardRow[] } | undefined> {
  let found: { worker: string; shards: ShardRow[] } | undefined;
  await until(p.signal, Date.now() + 60_000, async () => {
    const shards = (await p.readShards()).filter((s) => s.state === 'processing');
    const running = p.fleet.running().filter((w) => !exclude.includes(w));
    const best = running
      .map((worker) => ({ worker, shards: shards.filter((s) => s.owner === worker) }))
      .sort((a, b) => b.shards.length - a.shards.length)[0];
    found = best && best.shards.length > 0 ? best : undefined;
    return found !== undefined;
  });
  return found;
}

/** How long after `since` other workers had acquired each of `shards` (a shard that finished counts as done), and which; undefined at the deadline. */
async function takenOver(
  p: ScenarioParts,
  shards: ShardRow[],
  from: string,
  since: number,
  deadlineMs: number,
): Promise<{ ms: number; to: string[] } | undefined> {
  let taken: { ms: number; to: string[] } | undefined;
  const done = await until(p.signal, since + deadlineMs, async () => {
    // A shard that reached its end meanwhile (it was a rollover's parent) needs no new owner.
    const finished = new Set(
      (await p.readShards()).filter((s) => s.state === 'finished').map((s) => shardKey(s.tableName, s.shardId)),
    );
    const now = Date.now();
    const moves = shards.map((s) => {
      const key = shardKey(s.tableName, s.shardId);
      return (
        p.ledger.acquiredBy(key, since, from) ?? (finished.has(key) ? { worker: '(finished)', at: now } : undefined)
      );
    });
    if (moves.some((m) => m === undefined)) return false;
    const known = moves as Array<{ worker: string; at: number }>;
    taken = { ms: Math.max(since, ...known.map((m) => m.at)) - since, to: [...new Set(known.map((m) => m.worker))] };
    return true;
  });
  if (!done) p.view.note(`(${from}'s shards were not taken over within ${seconds(deadlineMs)}.)`);
  return taken;
}

/**
 * Starts `count` workers, then waits until each holds a shard: assignment balances the shards
 * of all the tables over the workers (±1), so with a shard per worker every worker is busy.
 */
export async function startFleet(
  p: Pick<ScenarioParts, 'fleet' | 'readShards' | 'signal' | 'view'>,
  count: number,
): Promise<void> {
  const names = await Promise.all(Array.from({ length: count }, () => p.fleet.start()));
  const balanced = await until(p.signal, Date.now() + 60_000, async () => {
    const shards = await p.readShards();
    return names.every((name) => shards.some((s) => s.owner === name && s.state === 'processing'));
  });
  if (!balanced && !p.signal.aborted) p.view.note('(Not every worker held a shard within 60 s; going on.)');
}

/** Checks `condition` every 200 ms until it holds (true), the deadline passes or the demo is stopped (false). */
async function until(
  signal: AbortSignal,
  deadline: number,
  condition: () => boolean | Promise<boolean>,
): Promise<boolean> {
  while (!signal.aborted && Date.now() < deadline) {
    if (await condition()) return true;
    await pause(200);
  }
  return false;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function seconds(ms: number): string {
  return `${(ms / 1_000).toFixed(1)} s`;
}
