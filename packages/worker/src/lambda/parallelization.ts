import { createHash } from 'node:crypto';

/**
 * `ParallelizationFactor` (2–10): Lambda "processes up to 10 batches in each shard
 * simultaneously" and keeps order per item key ("records with the same partition key are
 * processed in order"; https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html).
 * shardline's reading: the records of one GetRecords answer are split into `factor` lanes by a
 * hash of their item key, each lane invokes the function with its records in order, the lanes
 * run at once, and the shard's checkpoint never passes a record not finished yet (the finished
 * prefix of the answer), whatever order the lanes finish in.
 */

export const MAX_PARALLELIZATION_FACTOR = 10;

export function checkParallelizationFactor(factor: number): number {
  if (!Number.isInteger(factor) || factor < 1 || factor > MAX_PARALLELIZATION_FACTOR)
    throw new RangeError(`parallelizationFactor must be an integer from 1 to 10, got ${factor}`);
  return factor;
}

/**
 * Why lanes and a tumbling window are refused together (the one wording, for the processor and
 * the CLI). Lambda documents the window's state as one per shard, "a maximum of 1 MB per shard"
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-windows.html), and says nothing of
 * how the concurrent batches of one shard would share it: a state per lane would be a guess at
 * semantics Lambda does not promise, and one shared state would run the batches one at a time.
 */
export function lanesWithWindowRefusal(factor: number): string {
  return `ParallelizationFactor ${factor} with TumblingWindowInSeconds is refused: Lambda documents one window state per shard (at most 1 MB) and not how the shard's concurrent batches would share it, so shardline will not guess (a state per lane) nor quietly run the lanes one at a time (one shared state); set ParallelizationFactor to 1 or TumblingWindowInSeconds to 0`;
}

/** The lane of an item key: stable across processes (a hash, not an insertion order). */
export function laneOf(key: string, factor: number): number {
  if (factor === 1) return 0;
  return createHash('md5').update(key).digest().readUInt32BE(0) % factor;
}

/** `items` into `factor` lanes by key, order kept within each lane; empty lanes left out. */
export function splitIntoLanes<T>(items: readonly T[], keyOf: (item: T) => string, factor: number): T[][] {
  const lanes: T[][] = Array.from({ length: factor }, () => []);
  for (const item of items) lanes[laneOf(keyOf(item), factor)]!.push(item);
  return lanes.filter((lane) => lane.length > 0);
}

/**
 * The checkpoint rule: the number of leading records that are all finished (the index of the
 * first unfinished one, or `count`). A checkpoint goes at the record before that index at most.
 */
export function finishedPrefix(count: number, isFinished: (index: number) => boolean): number {
  let i = 0;
  while (i < count && isFinished(i)) i++;
  return i;
}
