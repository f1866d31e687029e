/**
 * How long an open shard's reader waits after an empty GetRecords (pure: no timers, no I/O).
 *
 * Each empty read in a row doubles the ceiling, from `fastMs` up to `maxMs`; a batch with
 * records resets it, so a busy shard is polled at the fast interval and an idle one settles at
 * the cap. KCL's DynamoDB Streams adapter does the same from 1 s; a fixed 200 ms interval made an
 * idle shard cost 5 billed GetRecords a second for ever (issue #9).
 *
 * The wait is drawn in (ceiling × (1 − IDLE_JITTER), ceiling], so readers that went idle together
 * (a worker's start, a deploy) drift apart instead of polling in lockstep; then its wake-up time
 * is moved onto the `IDLE_ALIGN_MS` grid (see there). Never above the ceiling, so the first
 * record after a long idle waits at most `maxMs` plus one call.
 */
export const IDLE_JITTER = 0.2;

/**
 * A backed-off wait ends on a multiple of this many ms of the clock: rounded up to the next
 * grid point, or down to the one before when rounding up would pass the ceiling. One worker's
 * idle shards then wake in ~10 slots a second instead of each at its own instant: 1,000 idle
 * shards' timers, requests and responses are handled in a few event-loop turns per slot rather
 * than ~550 turns a second (issue #9; figures in docs/architecture.md). The jitter still spreads
 * readers over the slots. The cost is small: a wait moves by less than one grid step from its
 * jittered draw and never past its ceiling, so the first record after an idle spell still waits
 * at most the cap, and an idle shard's request rate barely changes. The first wait after records
 * (the fast interval) is not moved: a steady writer's latency is that of a fixed interval.
 */
export const IDLE_ALIGN_MS = 100;

export class IdleBackoff {
  #emptyInARow = 0;

  constructor(
    readonly fastMs: number,
    readonly maxMs: number,
    private readonly random: () => number,
  ) {}

  /**
   * The wait before the next poll after an empty read at `now` (the reader's clock); moves the
   * ceiling up one step.
   */
  afterEmpty(now: number): number {
    const ceiling = this.ceiling();
    this.#emptyInARow++;
    // The first empty read after records waits exactly the fast interval: a steady writer's
    // latency is the same as with a fixed interval.
    if (this.#emptyInARow === 1 || ceiling <= this.fastMs) return ceiling;
    const jittered = Math.max(this.fastMs, Math.round(ceiling * (1 - IDLE_JITTER * this.random())));
    return alignedWait(now, jittered, this.fastMs, ceiling);
  }

  /** A batch had records: poll at the fast interval again. */
  afterRecords(): void {
    this.#emptyInARow = 0;
  }

  /** The ceiling of the next wait. */
  ceiling(): number {
    // 2^31 is past any cap: no overflow however long a shard stays idle.
    const factor = 2 ** Math.min(this.#emptyInARow, 31);
    return Math.min(this.maxMs, this.fastMs * factor);
  }
}

/**
 * `wait` moved so that `now + wait` is on the grid, within [minMs, maxMs]: up when that fits,
 * else down; unmoved when no grid point fits (intervals shorter than the grid step).
 */
function alignedWait(now: number, wait: number, minMs: number, maxMs: number): number {
  const up = Math.ceil((now + wait) / IDLE_ALIGN_MS) * IDLE_ALIGN_MS - now;
  if (up <= maxMs) return up;
  const down = up - IDLE_ALIGN_MS;
  return down >= minMs ? down : wait;
}
