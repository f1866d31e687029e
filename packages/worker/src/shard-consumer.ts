import { AbortedError, LeaseLostError, toError, type Clock, type Logger, type SafeEmitter } from '@shardline/core';
import { ShardCheckpointer, type CheckpointStore } from './checkpointer.js';
import { startFromCheckpoint, type ReaderFactory, type RecordBatch } from './contracts.js';
import type { ShardEndReason, WorkerEvents } from './events.js';
import { BatchExecutor, type BatchOutcome, type ResolvedFailurePolicy } from './failure-policy.js';
import { ProgressTracker, runKeyGroups } from './key-scheduler.js';
import { noopMetrics, type ConsumerMetrics } from './metrics.js';
import { type ProcessorContext, type ProcessorFactory, type RecordProcessor, type StreamRecord } from './processor.js';
import { ShardState, ShardStateMachine } from './shard-state.js';
import { toStreamRecord } from './stream-record.js';
import { SPAN_NAMES, inSpan, tracedStore } from './tracing.js';
import type { Tracer } from '@opentelemetry/api';

export interface ShardConsumerOptions<T> {
  shardId: string;
  streamArn: string;
  /** The stream's table (from the ARN), for the processor's `ctx.tableName`. */
  tableName: string;
  workerId: string;
  /** The lease's checkpoint when it was acquired. */
  checkpoint: string;
  /** The processor state stored with that checkpoint, if any. */
  processorState?: string | undefined;
  processorFactory: ProcessorFactory<T>;
  readerFactory: ReaderFactory;
  store: CheckpointStore;
  checkpointMode: 'auto' | 'manual';
  /** Auto mode: at most one checkpoint write per this many ms per shard (0: every batch). */
  checkpointIntervalMs?: number;
  /** 1 = one batch at a time, in order; more = per-key concurrency. */
  keyConcurrency: number;
  policy: ResolvedFailurePolicy;
  clock: Clock;
  logger: Logger;
  events: SafeEmitter<WorkerEvents>;
  metrics?: ConsumerMetrics;
  /** Spans around batches and checkpoint writes (tracing.ts). @defaultValue none */
  tracer?: Tracer;
  random?: () => number;
}

export interface ShardConsumerResult {
  reason: ShardEndReason;
  checkpoint: string;
  error?: Error;
}

/**
 * Consumes one leased shard: reads batches in order, runs them through the processor under the
 * failure policy, checkpoints, and writes SHARD_END at the end of a closed shard. Its parents
 * are finished already (the lease layer hands out no other lease). States: see shard-state.ts.
 *
 * Two abort controllers: `fetch` stops reading (graceful stop, hand-off: the batch in flight
 * still completes and is checkpointed), `processing` is `ctx.signal` (lease lost, or a forced
 * stop after the shutdown deadline).
 */
export class ShardConsumer<T = Record<string, unknown>> {
  readonly shardId: string;
  readonly #o: ShardConsumerOptions<T>;
  readonly #state: ShardStateMachine;
  readonly #fetch = new AbortController();
  readonly #processing = new AbortController();
  readonly #checkpointer: ShardCheckpointer;
  readonly #executor: BatchExecutor<T>;
  readonly #tracker = new ProgressTracker();
  readonly #log: Logger;
  readonly #metrics: ConsumerMetrics;
  #stopReason: 'shutdown' | 'handoff' | undefined;
  #leaseLost: string | undefined;
  #processor: RecordProcessor<T> | undefined;
  /** The last record whose processing completed (processed or sent to the destination). */
  #completed: string | undefined;
  #done: Promise<ShardConsumerResult> | undefined;

  constructor(options: ShardConsumerOptions<T>) {
    this.#o = options;
    this.shardId = options.shardId;
    this.#log = options.logger;
    this.#metrics = options.metrics ?? noopMetrics;
    this.#state = new ShardStateMachine(options.shardId, (change) => {
      this.#log.debug(change, 'shard state change');
      options.events.emit('shard:stateChange', change);
    });
    this.#checkpointer = new ShardCheckpointer({
      shardId: options.shardId,
      store: tracedStore(options.store, options.tracer),
      initial: options.checkpoint,
      clock: options.clock,
      logger: options.logger,
      intervalMs: options.checkpointIntervalMs ?? 0,
      signal: this.#processing.signal,
      onCheckpoint: (checkpoint) => options.events.emit('checkpoint', { shardId: options.shardId, checkpoint }),
      onBackgroundFailure: (err) => {
        if (err instanceof LeaseLostError) this.leaseLost('checkpoint refused: another worker owns the lease');
        else this.#fetch.abort(err);
      },
      onFailure: (err) => {
        this.#metrics.checkpointFailed();
        options.events.emit('checkpoint:failed', { shardId: options.shardId, error: toError(err) });
      },
    });
    if (options.keyConcurrency > 1) this.#checkpointer.setLimit(() => this.#tracker.safePoint());
    this.#executor = new BatchExecutor<T>({
      shardId: options.shardId,
      streamArn: options.streamArn,
      workerId: options.workerId,
      policy: options.policy,
      clock: options.clock,
      logger: options.logger,
      random: options.random,
      onProcessorError: (info) => options.events.emit('processor:error', { shardId: options.shardId, ...info }),
      onRecordsFailed: ({ records, destination }) => {
        this.#metrics.failedRecordsSent(records.length);
        options.events.emit('records:failed', {
          shardId: options.shardId,
          streamArn: options.streamArn,
          destination,
          records,
        });
      },
      onShardFailed: ({ error, sequenceNumber }) =>
        options.events.emit('shard:failed', {
          shardId: options.shardId,
          streamArn: options.streamArn,
          sequenceNumber,
          error,
        }),
    });
  }

  get state(): ShardState {
    return this.#state.state;
  }

  get lastCheckpoint(): string {
    return this.#checkpointer.lastCheckpoint;
  }

  /** Runs the shard to its end; resolves (never rejects) with why it ended. */
  run(): Promise<ShardConsumerResult> {
    this.#done ??= this.#run();
    return this.#done;
  }

  /**
   * Graceful stop (worker shutdown) or hand-off: no new batch is fetched, the one in flight
   * completes and is checkpointed, `shutdownRequested` runs. Resolves when SHUT_DOWN.
   */
  requestShutdown(reason: 'shutdown' | 'handoff'): Promise<ShardConsumerResult> {
    this.#stopReason ??= reason;
    this.#fetch.abort(new AbortedError(`shard ${this.shardId}: ${reason}`));
    return this.run();
  }

  /** Forced stop: also aborts `ctx.signal` (the shutdown deadline passed). */
  abort(): void {
    this.#stopReason ??= 'shutdown';
    this.#fetch.abort(new AbortedError(`shard ${this.shardId}: forced stop`));
    this.#processing.abort(new AbortedError(`shard ${this.shardId}: forced stop`));
  }

  /** The coordinator says another worker owns the lease now: stop at once, no checkpoint. */
  leaseLost(reason: string): void {
    this.#leaseLost ??= reason;
    const error = new LeaseLostError(this.shardId, `lease ${this.shardId} lost: ${reason}`);
    this.#fetch.abort(error);
    this.#processing.abort(error);
  }

  async #run(): Promise<ShardConsumerResult> {
    const { shardId, streamArn } = this.#o;
    let reason: ShardEndReason = 'shutdown';
    let error: Error | undefined;
    this.#o.events.emit('shard:start', { shardId, checkpoint: this.#o.checkpoint });
    try {
      reason = await this.#lifecycle();
    } catch (thrown) {
      const err = toError(thrown);
      if (this.#leaseLost !== undefined || err instanceof LeaseLostError) {
        reason = 'lease-lost';
        await this.#onLeaseLost(this.#leaseLost ?? err.message);
      } else if (err instanceof AbortedError && this.#stopReason) {
        reason = this.#stopReason;
      } else {
        reason = 'error';
        error = err;
        this.#log.error({ err, shardId }, 'shard consumer failed; the shard will be restarted from its checkpoint');
      }
    }
    // A batch cut short (aborted, failed) is not done: neither shutdownRequested nor a late call
    // of its processor may checkpoint past the last completed record.
    this.#checkpointer.retractDelivered(this.#completed);
    if (this.#state.state !== ShardState.SHUTTING_DOWN) this.#state.set(ShardState.SHUTTING_DOWN);
    if ((reason === 'shutdown' || reason === 'handoff') && this.#processor) {
      await this.#finalCheckpoint();
      try {
        await this.#processor.shutdownRequested?.({
          shardId,
          streamArn,
          logger: this.#log,
          checkpointer: this.#checkpointer,
        });
      } catch (err) {
        this.#log.error({ err, shardId }, 'shutdownRequested threw');
      }
    }
    this.#fetch.abort(new AbortedError(`shard ${shardId} shut down`));
    // On every path (a lost lease too): no write of this lease may land after SHUT_DOWN.
    await this.#checkpointer.settle();
    this.#state.set(ShardState.SHUT_DOWN);
    this.#metrics.shardClosed(shardId, this.#o.streamArn);
    const result: ShardConsumerResult = {
      reason,
      checkpoint: this.#checkpointer.lastCheckpoint,
      ...(error ? { error } : {}),
    };
    this.#o.events.emit('shard:end', { shardId, reason, checkpoint: result.checkpoint, error });
    return result;
  }

  async #lifecycle(): Promise<ShardEndReason> {
    const { shardId, streamArn } = this.#o;
    this.#throwIfStopped();
    this.#state.set(ShardState.INITIALIZING);
    const start = startFromCheckpoint(this.#o.checkpoint);
    if (start === 'SHARD_END') return 'shard-end';
    const processor = await this.#o.processorFactory({ shardId, streamArn, tableName: this.#o.tableName });
    this.#processor = processor;
    await processor.initialize?.({
      shardId,
      streamArn,
      checkpoint: this.#o.checkpoint,
      processorState: this.#o.processorState,
      logger: this.#log,
    });
    this.#throwIfStopped();
    this.#state.set(ShardState.PROCESSING);
    const reader = this.#o.readerFactory({ shardId, streamArn, start, signal: this.#fetch.signal });
    let reachedEnd = false;
    try {
      for await (const batch of reader) {
        // A batch fetched after a stop request is not delivered: its records stay after the checkpoint.
        if (this.#fetch.signal.aborted) break;
        this.#checkpointer.throwIfFailed();
        if (batch.records.length > 0 && !(await this.#backlogAllows())) break;
        this.#metrics.lag(shardId, batch.millisBehindLatest, streamArn);
        if (batch.records.length > 0) {
          const outcome = await this.#processBatch(batch);
          if (outcome.status === 'stopped') return 'failed';
        } else if (!batch.shardEnd && processor.idle) {
          await processor.idle({
            shardId,
            streamArn,
            logger: this.#log,
            signal: this.#processing.signal,
            checkpointer: this.#checkpointer,
          });
        }
        if (batch.shardEnd) {
          reachedEnd = true;
          break;
        }
      }
    } catch (err) {
      // Only the stop itself ends the shard quietly; any other error is logged and surfaced by #run.
      if (
        err instanceof AbortedError &&
        this.#fetch.signal.aborted &&
        this.#leaseLost === undefined &&
        this.#stopReason
      )
        return this.#stopReason;
      throw err;
    }
    this.#checkpointer.throwIfFailed();
    this.#throwIfStopped();
    if (!reachedEnd) {
      if (this.#stopReason) return this.#stopReason;
      throw new Error(`reader of ${shardId} ended without reaching the shard end`);
    }
    await this.#checkpointer.flush();
    this.#state.set(ShardState.SHARD_END);
    await processor.shardEnded?.({ shardId, streamArn, logger: this.#log });
    // Written by the runtime so that the children of this shard can never stall on it.
    await this.#checkpointer.shardEnd();
    return 'shard-end';
  }

  async #processBatch(batch: RecordBatch): Promise<BatchOutcome> {
    const { shardId, streamArn } = this.#o;
    const records = batch.records.map((r) => toStreamRecord<T>(r));
    const first = records[0]!.sequenceNumber;
    const last = records.at(-1)!.sequenceNumber;
    const started = performance.now();
    this.#o.events.emit('batch:start', {
      shardId,
      records: records.length,
      firstSequenceNumber: first,
      lastSequenceNumber: last,
      millisBehindLatest: batch.millisBehindLatest,
    });
    this.#checkpointer.delivered(last);
    const processor = this.#processor!;
    const call = async (subset: StreamRecord<T>[], signal: AbortSignal) => {
      // One context per call: its signal is the attempt's, and its checkpointer stops at the end
      // of `subset` (a bisected half must not checkpoint the records of the other half).
      const ctx: ProcessorContext = {
        shardId,
        streamArn,
        tableName: this.#o.tableName,
        logger: this.#log,
        signal,
        millisBehindLatest: batch.millisBehindLatest,
        checkpointer: this.#checkpointer.bounded(subset.at(-1)!.sequenceNumber),
      };
      await processor.processRecords({ shardId, records: subset, millisBehindLatest: batch.millisBehindLatest }, ctx);
    };
    const execute = () =>
      this.#o.keyConcurrency > 1
        ? runKeyGroups(
            records,
            this.#o.keyConcurrency,
            this.#tracker,
            (group) => this.#executor.execute(group, call, this.#processing.signal),
            () => {
              this.#checkpointer
                .flushPending()
                .catch((err: unknown) => this.#log.warn({ err, shardId }, 'deferred checkpoint failed'));
            },
          )
        : this.#executor.execute(records, call, this.#processing.signal);
    const outcome = await inSpan(
      this.#o.tracer,
      SPAN_NAMES.batch,
      {
        'shardline.shard_id': shardId,
        'shardline.records': records.length,
        'shardline.first_sequence_number': first,
        'shardline.last_sequence_number': last,
        'shardline.millis_behind_latest': batch.millisBehindLatest,
      },
      execute,
      (result) => ({ 'shardline.status': result.status }),
    );
    const durationMs = performance.now() - started;
    this.#metrics.batchProcessed(shardId, outcome.status === 'processed' ? records.length : 0, durationMs / 1000);
    this.#o.events.emit('batch:end', {
      shardId,
      records: records.length,
      lastSequenceNumber: last,
      durationMs,
      status: outcome.status,
      sentToDestination: outcome.status === 'processed' ? outcome.sentToDestination : 0,
    });
    const completed = outcome.status === 'processed' ? last : outcome.processedThrough;
    if (completed !== undefined) this.#completed = completed;
    if (this.#o.checkpointMode === 'auto' && completed !== undefined) {
      // A stopped shard waits for its last checkpoint; otherwise reading goes on while it is written.
      if (outcome.status === 'stopped') {
        await this.#checkpointer.flush();
        await this.#checkpointer.checkpoint(completed);
      } else this.#checkpointer.checkpointSoon(completed, records.length);
    }
    return outcome;
  }

  /**
   * Auto mode reads on while a checkpoint is pending (the lease table briefly unreachable), up to
   * the checkpointer's backlog bound; past it, the next batch waits for the write. False when
   * the consumer was stopped meanwhile (the batch is not delivered).
   */
  async #backlogAllows(): Promise<boolean> {
    if (this.#o.checkpointMode !== 'auto') return true;
    const checkpointer = this.#checkpointer;
    if (!checkpointer.backlogFull) return true;
    this.#log.warn(
      { shardId: this.shardId, backlog: checkpointer.backlog, checkpoint: checkpointer.lastCheckpoint },
      'checkpoint backlog full: reading paused until a checkpoint gets through',
    );
    await checkpointer.whenBacklogAllows(this.#fetch.signal);
    checkpointer.throwIfFailed();
    if (this.#fetch.signal.aborted) return false;
    this.#log.info(
      { shardId: this.shardId, backlog: checkpointer.backlog },
      'checkpoint backlog drained: reading again',
    );
    return true;
  }

  async #finalCheckpoint(): Promise<void> {
    if (this.#o.checkpointMode !== 'auto' || this.#completed === undefined) return;
    // Every completed batch was checkpointed when it resolved; this only catches a write that
    // was refused transiently. Never `lastDelivered`: a batch cut short by a forced stop is not done.
    try {
      await this.#checkpointer.flush().catch(() => undefined);
      await this.#checkpointer.checkpoint(this.#completed);
    } catch (err) {
      this.#log.warn(
        { err, shardId: this.shardId },
        'final checkpoint failed; the next owner re-reads from the last one',
      );
    }
  }

  async #onLeaseLost(reason: string): Promise<void> {
    this.#processing.abort(new LeaseLostError(this.shardId));
    if (this.#state.state !== ShardState.LEASE_LOST) this.#state.set(ShardState.LEASE_LOST);
    this.#log.warn({ shardId: this.shardId, reason }, 'lease lost; shard stopped without checkpointing');
    try {
      await this.#processor?.leaseLost?.({
        shardId: this.shardId,
        streamArn: this.#o.streamArn,
        logger: this.#log,
        reason,
      });
    } catch (err) {
      this.#log.error({ err, shardId: this.shardId }, 'leaseLost threw');
    }
  }

  #throwIfStopped(): void {
    if (this.#leaseLost !== undefined) throw new LeaseLostError(this.shardId);
    if (this.#stopReason) throw new AbortedError(`shard ${this.shardId}: ${this.#stopReason}`);
  }
}
