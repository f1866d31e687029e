import { SHARD_READER_DEFAULTS } from '@shardline/streams';
import type { BatchingOptions, WorkerOptions } from '@shardline/worker';

/** GetRecords returns at most this many records (the reader's default limit is its maximum). */
const GET_RECORDS_MAX = SHARD_READER_DEFAULTS.limit;

/**
 * `--batch-size` and `--max-batching-window-ms` (schema paths `batching.maxRecords` and
 * `batching.maxWindowMs`) → what the worker reads with. A batch one GetRecords answer can hold
 * (1–1,000) with no window is the reader's limit: one call per answer, nothing gathered, no cost
 * added. A larger batch or a window turns the worker's batch gatherer on, reading 1,000 at a
 * time (or the batch size, when smaller); it checks the ranges (Lambda's). `sizing`: how a
 * Lambda handler's records are measured against its 6 MB payload.
 */
export function readingOptions(
  batching: Partial<BatchingOptions> | undefined,
  sizing?: Pick<BatchingOptions, 'maxBytes' | 'recordBytes'>,
): Pick<WorkerOptions, 'reader' | 'batching'> {
  if (batching === undefined) return {};
  const windowMs = batching.maxWindowMs ?? 0;
  const maxRecords = batching.maxRecords ?? GET_RECORDS_MAX;
  const oneAnswer = Number.isInteger(maxRecords) && maxRecords >= 1 && maxRecords <= GET_RECORDS_MAX;
  if (oneAnswer && windowMs === 0) return batching.maxRecords === undefined ? {} : { reader: { limit: maxRecords } };
  return {
    reader: { limit: oneAnswer ? maxRecords : GET_RECORDS_MAX },
    batching: { ...sizing, maxRecords, maxWindowMs: windowMs },
  };
}
