import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import {
  AbortedError,
  createLogger,
  LeaseLostError,
  SafeEmitter,
  silentLogger,
  systemClock,
  TransientError,
  type Clock,
  type Logger,
} from '@shardline/core';
import type { CheckpointStore } from '../src/checkpointer.js';
import type {
  Coordinator,
  Lease,
  LeaseCoordinatorEvents,
  ReaderFactory,
  RecordBatch,
  StartPosition,
} from '../src/contracts.js';
import type { FailedRecord, FailureDestination } from '../src/destinations.js';
import type { WorkerEvents } from '../src/events.js';
import { resolveFailurePolicy } from '../src/options.js';
import type { FailurePolicyOptions } from '../src/options.js';
import type { ProcessorFactory, RecordProcessor } from '../src/processor.js';
import { ShardConsumer } from '../src/shard-consumer.js';

export const seq = (i: number): string => String(100_000_000_000_000_000_000n + BigInt(i));

export function rec(i: number, key = `k${i}`, extra: Record<string, unknown> = {}): _Record {
  return {
    eventID: `e${i}`,
    eventName: 'INSERT',
    dynamodb: {
      Keys: { pk: { S: key } },
      NewImage: { pk: { S: key }, n: { N: String(i) }, ...(extra as object) },
      SequenceNumber: seq(i),
      ApproximateCreationDateTime: new Date(1_700_000_000_000),
    },
  };
}

export function batch(
  shardId: string,
  from: number,
  to: number,
  shardEnd = false,
  key?: (i: number) => string,
): RecordBatch {
  const records: _Record[] = [];
  for (let i = from; i <= to; i++) records.push(rec(i, key ? key(i) : `k${i}`));
  return {
    shardId,
    records,
    shardEnd,
    millisBehindLatest: 0,
    lastSequenceNumber: records.at(-1)?.dynamodb?.SequenceNumber,
  };
}

/**
 * A reader that yields the scripted batches, then (unless the last one ended the shard) waits
 * for more pushed with `push`, or for the abort signal, like a real reader on an open shard.
 */
export class ScriptedReader {
  readonly starts: StartPosition[] = [];
  /** The signal each reader was made with: aborted when its consumer stops fetching. */
  readonly signals: AbortSignal[] = [];
  readonly #queue: RecordBatch[];
  #wake: (() => void) | undefined;

  constructor(batches: RecordBatch[] = []) {
    this.#queue = [...batches];
  }

  push(b: RecordBatch): void {
    this.#queue.push(b);
    this.#wake?.();
  }

  factory: ReaderFactory = ({ start, signal }) => {
    this.starts.push(start);
    this.signals.push(signal);
    const queue = this.#queue;
    const park = (resolve: () => void) => {
      this.#wake = resolve;
      signal.addEventListener('abort', () => resolve(), { once: true });
    };
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (signal.aborted) return;
          const next = queue.shift();
          if (next) {
            yield next;
            if (next.shardEnd) return;
            continue;
          }
          await new Promise<void>(park);
        }
      },
    };
  };
}

export class MemoryStore implements CheckpointStore {
  readonly writes: Array<{ shardId: string; checkpoint: string; processorState?: string }> = [];
  lost = false;
  failNext = 0;
  async checkpoint(shardId: string, checkpoint: string, processorState?: string): Promise<void> {
    await Promise.resolve();
    if (this.lost) throw new LeaseLostError(shardId);
    if (this.failNext > 0) {
      this.failNext--;
      throw new TransientError('transient write failure');
    }
    this.writes.push(processorState === undefined ? { shardId, checkpoint } : { shardId, checkpoint, processorState });
  }
  get last(): string | undefined {
    return this.writes.at(-1)?.checkpoint;
  }
}

export class MemoryDestination implements FailureDestination {
  readonly name = 'memory';
  readonly received: FailedRecord[] = [];
  async send(records: FailedRecord[]): Promise<void> {
    await Promise.resolve();
    this.received.push(...records);
  }
}

export interface ConsumerHarness<T> {
  consumer: ShardConsumer<T>;
  events: SafeEmitter<WorkerEvents>;
  store: MemoryStore;
  reader: ScriptedReader;
  states: string[];
  clock: Clock;
}

export function makeConsumer<T = Record<string, unknown>>(options: {
  processor: RecordProcessor<T> | ProcessorFactory<T>;
  batches?: RecordBatch[];
  checkpoint?: string;
  processorState?: string;
  checkpointMode?: 'auto' | 'manual';
  keyConcurrency?: number;
  policy?: FailurePolicyOptions;
  clock?: Clock;
  shardId?: string;
  readerFactory?: ReaderFactory;
  logger?: Logger;
}): ConsumerHarness<T> {
  const events = new SafeEmitter<WorkerEvents>();
  const store = new MemoryStore();
  const reader = new ScriptedReader(options.batches);
  const states: string[] = [];
  events.on('shard:stateChange', ({ to }) => states.push(to));
  const clock = options.clock ?? systemClock;
  const processor = options.processor;
  const consumer = new ShardConsumer<T>({
    shardId: options.shardId ?? 'shard-1',
    streamArn: 'arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x',
    tableName: 't',
    workerId: 'w1',
    checkpoint: options.checkpoint ?? 'TRIM_HORIZON',
    processorState: options.processorState,
    processorFactory: typeof processor === 'function' ? processor : () => processor,
    readerFactory: options.readerFactory ?? reader.factory,
    store,
    checkpointMode: options.checkpointMode ?? 'auto',
    keyConcurrency: options.keyConcurrency ?? 1,
    policy: resolveFailurePolicy({ retryBaseMs: 1, retryCapMs: 2, ...options.policy }),
    clock,
    logger: options.logger ?? silentLogger(),
    events,
  });
  return { consumer, events, store, reader, states, clock };
}

/** A logger whose lines (parsed) land in `lines`: for tests that assert what an operator reads. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, lines };
}

export const FAKE_STREAM_ARN = 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/x';

/** How the coordinator's events name a single-stream lease. */
export function leaseRef(shardId: string): { shardId: string; leaseKey: string; streamArn: string } {
  return { shardId, leaseKey: shardId, streamArn: FAKE_STREAM_ARN };
}

/** A lease as the real coordinator hands it out. */
export function lease(shardId: string, checkpoint = 'TRIM_HORIZON'): Lease {
  return {
    leaseKey: shardId,
    shardId,
    streamArn: FAKE_STREAM_ARN,
    owner: 'w1',
    counter: 1,
    checkpoint,
    parentShardIds: [],
    ownerSwitchesSinceCheckpoint: 0,
  };
}

/** A coordinator fake: the test emits lease events and inspects calls. */
export class FakeCoordinator implements Coordinator {
  readonly events = new SafeEmitter<LeaseCoordinatorEvents>();
  readonly calls: string[] = [];
  readonly held = new Map<string, Lease>();
  readonly checkpoints: Array<{ shardId: string; checkpoint: string }> = [];
  /** What `isFenced()` and `lastHeartbeatAt()` answer; a test sets them. */
  fenced = false;
  lastHeartbeat: number | undefined;
  start(): Promise<void> {
    this.calls.push('start');
    return Promise.resolve();
  }
  /** Like the real one: with handOff, asks for each lease back and waits until released. */
  async stop(options?: { handOff?: boolean }): Promise<void> {
    this.calls.push(`stop(handOff=${String(options?.handOff)})`);
    if (options?.handOff) {
      for (const shardId of this.held.keys()) this.events.emit('lease:handoff', leaseRef(shardId));
      await until(() => this.held.size === 0, 5_000, 'hand-offs released');
    }
    this.held.clear();
  }
  heldLeases(): Lease[] {
    return [...this.held.values()];
  }
  isFenced(): boolean {
    return this.fenced;
  }
  lastHeartbeatAt(): number | undefined {
    return this.lastHeartbeat;
  }
  async checkpoint(shardId: string, checkpoint: string): Promise<void> {
    await Promise.resolve();
    if (!this.held.has(shardId)) throw new LeaseLostError(shardId);
    this.calls.push(`checkpoint(${shardId},${checkpoint})`);
    this.checkpoints.push({ shardId, checkpoint });
    const lease = this.held.get(shardId);
    if (lease) lease.checkpoint = checkpoint;
  }
  release(shardId: string): Promise<void> {
    this.calls.push(`release(${shardId})`);
    this.held.delete(shardId);
    return Promise.resolve();
  }
  acquire(shardId: string, checkpoint = 'TRIM_HORIZON'): void {
    this.acquireLease(lease(shardId, checkpoint));
  }
  /** Any lease, e.g. of another stream, held by its key. */
  acquireLease(held: Lease): void {
    this.held.set(held.leaseKey, held);
    this.events.emit('lease:acquired', { lease: { ...held } });
  }
}

/** Resolves when `predicate` holds, polling each macrotask; rejects after `ms`. */
export async function until(predicate: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export { AbortedError };
