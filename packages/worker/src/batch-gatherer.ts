import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { integerInRange, positiveInteger, rejectUnknownKeys, type Clock, type Logger } from '@shardline/core';
import type { ReaderFactory, RecordBatch } from './contracts.js';

/**
 * Gathering records across GetRecords answers into one processRecords call, as Lambda's event
 * source mapping does with `BatchSize` and `MaximumBatchingWindowInSeconds`
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-batching):
 * a call gets its records when the batch is full (`maxRecords`), when the window has passed
 * (`maxWindowMs`, counted from the end of the previous call: "the next batching window begins
 * as soon as the previous function invocation completes"), when the payload would pass
 * `maxBytes` (Lambda's 6 MB), or at the shard's end (a closed shard has nothing more to wait for).
 *
 * With no window (0, Lambda's default: "sends batches as quickly as possible") it never waits:
 * it reads on only while answers come back full (the shard has more right now), so a batch
 * size above GetRecords' 1,000 fills from a backlog, and a caught-up shard is called at once.
 *
 * It sits between the reader and the shard consumer (a ReaderFactory around a ReaderFactory),
 * so the consumer keeps owning checkpoints: a gathered batch is one batch, checkpointed only
 * after the whole of it succeeds. Records gathered but not yet handed over were never
 * delivered: when the consumer stops fetching (hand-off, shutdown, lease lost) the partial
 * batch is abandoned, its records are after the checkpoint and the next owner reads them.
 * The reader keeps its iterator fresh itself (it is polled throughout).
 */

export interface BatchingOptions {
  /** The most records per call, gathered across reads (1–10,000, Lambda's `BatchSize` range). Required. */
  maxRecords: number;
  /** How long to gather before a call (0–300,000 ms, Lambda's 0–300 s). @defaultValue 0 */
  maxWindowMs?: number;
  /** The most bytes of records per call, as `recordBytes` counts them. @defaultValue 6 MB (Lambda's payload limit) */
  maxBytes?: number;
  /** A record's share of `maxBytes`. @defaultValue the length of its JSON */
  recordBytes?: (record: _Record, streamArn: string) => number;
}

export interface ResolvedBatching {
  maxRecords: number;
  maxWindowMs: number;
  maxBytes: number;
  recordBytes: (record: _Record, streamArn: string) => number;
}

export const BATCHING_DEFAULTS = {
  maxWindowMs: 0,
  maxBytes: 6 * 1024 * 1024,
} as const satisfies Partial<ResolvedBatching>;

/** Lambda's ranges: BatchSize up to 10,000, MaximumBatchingWindowInSeconds up to 300. */
export const MAX_BATCH_RECORDS = 10_000;
export const MAX_BATCHING_WINDOW_MS = 300_000;

export function resolveBatchingOptions(options: BatchingOptions | undefined): ResolvedBatching | undefined {
  if (options === undefined) return undefined;
  rejectUnknownKeys('batching', options, ['maxRecords', 'maxWindowMs', 'maxBytes', 'recordBytes']);
  return {
    maxRecords: integerInRange('batching.maxRecords', options.maxRecords, 1, MAX_BATCH_RECORDS),
    maxWindowMs: integerInRange(
      'batching.maxWindowMs',
      options.maxWindowMs ?? BATCHING_DEFAULTS.maxWindowMs,
      0,
      MAX_BATCHING_WINDOW_MS,
    ),
    maxBytes: positiveInteger('batching.maxBytes', options.maxBytes ?? BATCHING_DEFAULTS.maxBytes),
    recordBytes: options.recordBytes ?? jsonBytes,
  };
}

function jsonBytes(record: _Record): number {
  return Buffer.byteLength(JSON.stringify(record));
}

export interface GatheringInput {
  batching: ResolvedBatching;
  /** The reader's GetRecords limit: an answer this long means the shard had more. */
  readLimit: number;
  clock: Clock;
  logger: Logger;
}

/** `factory`'s readers, gathered (see the header). */
export function gatheringReaderFactory(factory: ReaderFactory, input: GatheringInput): ReaderFactory {
  return (reader) =>
    gatherBatches(factory(reader), {
      ...input,
      shardId: reader.shardId,
      streamArn: reader.streamArn,
      signal: reader.signal,
    });
}

/** Records gathered so far, with their sizes. */
class Gathered {
  records: _Record[] = [];
  #bytes: number[] = [];
  millisBehindLatest = 0;

  constructor(
    readonly limits: ResolvedBatching,
    readonly streamArn: string,
  ) {}

  get count(): number {
    return this.records.length;
  }

  add(batch: RecordBatch): void {
    for (const record of batch.records) {
      this.records.push(record);
      this.#bytes.push(this.limits.recordBytes(record, this.streamArn));
    }
    this.millisBehindLatest = batch.millisBehindLatest;
  }

  /** How many leading records fit one call (at least one: a record alone over maxBytes still goes). */
  #fitting(): number {
    let bytes = 0;
    let n = 0;
    while (n < this.records.length && n < this.limits.maxRecords) {
      bytes += this.#bytes[n]!;
      if (n > 0 && bytes > this.limits.maxBytes) break;
      n++;
    }
    return n;
  }

  /** A full call is ready: the batch size reached, or the next record would pass maxBytes. */
  get hasFullBatch(): boolean {
    const n = this.#fitting();
    return n > 0 && (n < this.records.length || n === this.limits.maxRecords);
  }

  /** The leading call's records, removed. */
  take(shardId: string, shardEnd: boolean): RecordBatch {
    const n = this.#fitting();
    const records = this.records.splice(0, n);
    this.#bytes.splice(0, n);
    return {
      shardId,
      records,
      shardEnd: shardEnd && this.records.length === 0,
      millisBehindLatest: this.millisBehindLatest,
      lastSequenceNumber: records.at(-1)?.dynamodb?.SequenceNumber,
    };
  }
}

const DEADLINE: unique symbol = Symbol('deadline');

async function* gatherBatches(
  source: AsyncIterable<RecordBatch>,
  input: GatheringInput & { shardId: string; streamArn: string; signal: AbortSignal },
): AsyncGenerator<RecordBatch, void, undefined> {
  const { batching, clock, shardId, signal, readLimit } = input;
  const iterator = source[Symbol.asyncIterator]();
  const gathered = new Gathered(batching, input.streamArn);
  // A read still in flight when the window closed: the next round waits for it, not a new one.
  let inFlight: Promise<IteratorResult<RecordBatch>> | undefined;
  const read = () => {
    if (!inFlight) {
      inFlight = iterator.next();
      // Awaited later (or dropped on stop): never an unhandled rejection meanwhile.
      inFlight.catch(() => undefined);
    }
    return inFlight;
  };
  let windowStart = clock.now();
  let waitLogged = false;
  /** Hands `batch` to the consumer; the window restarts once its call has completed. */
  function* handOver(batch: RecordBatch) {
    yield batch;
    windowStart = clock.now();
    waitLogged = false;
  }
  try {
    for (;;) {
      if (gathered.hasFullBatch) {
        yield* handOver(gathered.take(shardId, false));
        continue;
      }
      const waitMs = windowStart + batching.maxWindowMs - clock.now();
      if (gathered.count > 0 && batching.maxWindowMs > 0 && waitMs > 0 && !waitLogged) {
        waitLogged = true;
        input.logger.debug({ shardId, records: gathered.count, waitMs }, 'gathering: waiting for the batching window');
      }
      const result =
        gathered.count > 0 && batching.maxWindowMs > 0
          ? waitMs <= 0
            ? DEADLINE
            : await raceDeadline(read(), waitMs, clock, signal)
          : await read();
      if (result === undefined) return; // stopped while waiting: the partial batch is abandoned
      if (result === DEADLINE) {
        yield* handOver(gathered.take(shardId, false));
        continue;
      }
      inFlight = undefined;
      if (result.done) {
        if (gathered.count > 0)
          input.logger.debug(
            { shardId, records: gathered.count, firstSequenceNumber: gathered.records[0]?.dynamodb?.SequenceNumber },
            'stopped while gathering: the gathered records stay after the checkpoint',
          );
        return;
      }
      const batch = result.value;
      if (batch.records.length === 0 && !batch.shardEnd) {
        // An idle read with nothing gathered goes through (the processor's idle hook, the lag).
        if (gathered.count === 0) yield batch;
        else if (batching.maxWindowMs === 0) yield* handOver(gathered.take(shardId, false));
        continue;
      }
      gathered.add(batch);
      if (batch.shardEnd) {
        // Nothing follows a closed shard's end: hand everything over, the end on the last call.
        do yield* handOver(gathered.take(shardId, true));
        while (gathered.count > 0);
        return;
      }
      const due =
        batching.maxWindowMs === 0
          ? batch.records.length < readLimit // caught up: call now rather than wait for more
          : clock.now() >= windowStart + batching.maxWindowMs;
      if (due) while (gathered.count > 0) yield* handOver(gathered.take(shardId, false));
    }
  } finally {
    await iterator.return?.();
  }
}

/** The read's result, DEADLINE when `ms` passed first, undefined when `signal` aborted. */
async function raceDeadline(
  read: Promise<IteratorResult<RecordBatch>>,
  ms: number,
  clock: Clock,
  signal: AbortSignal,
): Promise<IteratorResult<RecordBatch> | typeof DEADLINE | undefined> {
  const timer = new AbortController();
  const both = AbortSignal.any([signal, timer.signal]);
  const deadline = clock.sleep(ms, both).then(
    (): typeof DEADLINE => DEADLINE,
    (): typeof DEADLINE | undefined => (signal.aborted ? undefined : DEADLINE),
  );
  try {
    return await Promise.race([read, deadline]);
  } finally {
    timer.abort();
  }
}
