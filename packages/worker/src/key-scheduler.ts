import PQueue from 'p-queue';
import { recordKey, type StreamRecord } from './processor.js';
import type { BatchOutcome } from './failure-policy.js';

/**
 * Per-key concurrency inside one shard (opt-in): records of different item keys are handed to
 * the processor concurrently, records of one key stay in sequence order (one sub-batch per key,
 * in order). `ProgressTracker` knows which records are finished, so a checkpoint never passes
 * the oldest unfinished record.
 */
export function groupByKey<T>(records: StreamRecord<T>[]): StreamRecord<T>[][] {
  const groups = new Map<string, StreamRecord<T>[]>();
  for (const record of records) {
    const key = recordKey(record);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(record);
  }
  return [...groups.values()];
}

/** Tracks finished records of the batch in work, in sequence order. */
export class ProgressTracker {
  #order: string[] = [];
  #done = new Set<string>();
  #safe: string | undefined;

  /** Starts a batch: `sequenceNumbers` in order. */
  begin(sequenceNumbers: string[]): void {
    this.#order = [...sequenceNumbers];
    this.#done.clear();
  }

  finish(sequenceNumber: string): void {
    this.#done.add(sequenceNumber);
    while (this.#order.length > 0 && this.#done.has(this.#order[0]!)) {
      this.#safe = this.#order.shift();
    }
  }

  /** The last record before which everything is finished; undefined before the first. */
  safePoint(): string | undefined {
    return this.#safe;
  }
}

/**
 * Runs the key groups of one batch through `run` with at most `concurrency` in flight.
 * Returns 'processed' when every group was, otherwise the first (in sequence order) stop, with
 * `processedThrough` at the tracker's safe point.
 */
export async function runKeyGroups<T>(
  records: StreamRecord<T>[],
  concurrency: number,
  tracker: ProgressTracker,
  run: (group: StreamRecord<T>[]) => Promise<BatchOutcome>,
  onProgress: () => void = () => undefined,
): Promise<BatchOutcome> {
  tracker.begin(records.map((r) => r.sequenceNumber));
  const queue = new PQueue({ concurrency });
  let sent = 0;
  let stopped: Extract<BatchOutcome, { status: 'stopped' }> | undefined;
  const tasks = groupByKey(records).map((group) =>
    queue.add(async () => {
      if (stopped) return;
      const outcome = await run(group);
      if (outcome.status === 'processed') {
        sent += outcome.sentToDestination;
        for (const record of group) tracker.finish(record.sequenceNumber);
        onProgress();
        return;
      }
      const through = outcome.processedThrough;
      if (through !== undefined) {
        for (const record of group) {
          tracker.finish(record.sequenceNumber);
          if (record.sequenceNumber === through) break;
        }
      }
      stopped ??= outcome;
    }),
  );
  // allSettled: an abort in one group must not leave others running unobserved.
  const results = await Promise.allSettled(tasks);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
  if (stopped) return { status: 'stopped', error: stopped.error, processedThrough: tracker.safePoint() };
  return { status: 'processed', sentToDestination: sent };
}
