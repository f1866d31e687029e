/**
 * How long an open shard's reader waits after an empty GetRecords (pure: no timers, no I/O).
 *
 * Each empty read in a row doubles the ceiling, from `fastMs` up to `maxMs`; a batch with
 * records resets it, so a busy shard is polled at the fast interval and an idle one settles at
 * the cap. KCL's DynamoDB Streams adapter does the same from 1 s; a fixed 200 ms interval made an
 * idle shard cost 5 billed GetRecords a second for ever (issue #9).
 *
 * The wait is drawn in (ceiling × (1 − IDLE_JITTER), ceiling]: never above the cap, so the first
 * record after a long idle waits at most `maxMs` plus one call, and readers that went idle
 * together (a worker's start, a deploy) drift apart instead of polling in lockstep.
 */
export const IDLE_JITTER = 0.2;

export class IdleBackoff {
  #emptyInARow = 0;

  constructor(
    readonly fastMs: number,
    readonly maxMs: number,
    private readonly random: () => number,
  ) {}

  /** The wait before the next poll after an empty read; moves the ceiling up one step. */
  afterEmpty(): number {
    const ceiling = this.ceiling();
    this.#emptyInARow++;
    // The first empty read after records waits exactly the fast interval: a steady writer's
    // latency is the same as with a fixed interval.
    if (this.#emptyInARow === 1 || ceiling <= this.fastMs) return ceiling;
    return Math.max(this.fastMs, Math.round(ceiling * (1 - IDLE_JITTER * this.random())));
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
