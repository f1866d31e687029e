import type { Tracer } from '@opentelemetry/api';
import { ConfigError, SafeEmitter, toError, type Logger } from '@shardline/core';
import { LEASE_COORDINATOR_EVENTS } from '@shardline/leases';
import { gatheringReaderFactory } from './batch-gatherer.js';
import { createDynamoDBClient, createDynamoDBStreamsClient, logSdkRetries } from './clients.js';
import type { Coordinator, Lease, LeaseCoordinatorEvents, ReaderFactory } from './contracts.js';
import { createDefaultCoordinator, createDefaultReaderFactory, resolveStreamArn } from './defaults.js';
import type { WorkerEvents } from './events.js';
import { HealthServer } from './health-server.js';
import { EmfReporter } from './emf.js';
import { WorkerMetrics } from './metrics.js';
import {
  bindTableDestination,
  resolveWorkerOptions,
  tableNameFromStreamArn,
  type ResolvedWorkerOptions,
  type WorkerOptions,
} from './options.js';
import type { ProcessorFactory } from './processor.js';
import { Runner } from './runner.js';
import { ShardConsumer } from './shard-consumer.js';
import { StreamsHealth } from './streams-health.js';
import { workerTracer } from './tracing.js';

type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * A shardline worker: takes leases on the stream's shards (through `@shardline/leases`), runs
 * one ShardConsumer per held lease, and shuts down in order. One per process is typical; several
 * in one process work (each has its own metrics registry).
 *
 * ```ts
 * const worker = new Worker({ tableName: 'orders', processor: defineProcessor({ async processRecords(batch) {…} }) });
 * await worker.start();
 * process.once('SIGTERM', () => void worker.stop());
 * ```
 */
export class Worker<T = Record<string, unknown>> {
  readonly events: SafeEmitter<WorkerEvents>;
  readonly metrics: WorkerMetrics;
  readonly #o: ResolvedWorkerOptions<T>;
  readonly #log: Logger;
  #state: WorkerState = 'new';
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #created: Array<{ destroy(): void }> = [];
  #coordinator: Coordinator | undefined;
  #runner: Runner<T> | undefined;
  #health: HealthServer | undefined;
  #emf: EmfReporter | undefined;
  readonly #tracer: Tracer | undefined;
  readonly #streamsHealth: StreamsHealth;
  #forwarders: Array<() => void> = [];
  /** The streams consumed, once resolved at start: ARN → its table and processor. */
  #streamsByArn = new Map<string, { tableName: string; processorFactory: ProcessorFactory<T> }>();
  /** Tables given by name: their re-enabled streams are followed (found by the lease layer). */
  readonly #followedTables = new Set<string>();
  #settled = false;
  #startedAt = 0;
  /** Records processed since start, published in the heartbeat item. */
  #recordsProcessed = 0;

  constructor(options: WorkerOptions<T>) {
    this.#o = resolveWorkerOptions(options);
    this.#log = this.#o.logger.child({ component: 'worker', workerId: this.#o.workerId });
    this.events = new SafeEmitter<WorkerEvents>(() => this.#log);
    this.metrics = new WorkerMetrics({ defaultMetrics: this.#o.processMetrics, otel: this.#o.otel });
    this.#tracer = workerTracer(this.#o.tracerProvider);
    this.#streamsHealth = new StreamsHealth(this.#o.clock);
    this.events.on('batch:end', ({ records, status }) => {
      if (status === 'processed') this.#recordsProcessed += records;
    });
  }

  get workerId(): string {
    return this.#o.workerId;
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** The (first) stream being consumed, once started. */
  get streamArn(): string | undefined {
    return this.streamArns[0];
  }

  /** Every stream being consumed, once started, in the order given. */
  get streamArns(): string[] {
    return [...this.#streamsByArn.keys()];
  }

  get leaseTableName(): string {
    return this.#o.leaseTableName;
  }

  /** The port the health server bound (with healthPort 0, the one picked). */
  get healthPort(): number | undefined {
    return this.#health?.port;
  }

  /** Shards this worker is consuming right now. */
  get shardIds(): string[] {
    return this.#runner?.shardIds ?? [];
  }

  /** Resolves once leases are being taken. Rejects (and cleans up) on bad configuration. */
  start(): Promise<void> {
    if (this.#state !== 'new') return this.#starting ?? Promise.reject(new Error(`Worker already ${this.#state}`));
    this.#state = 'starting';
    this.#starting = this.#start().catch(async (err: unknown) => {
      await this.stop();
      throw err;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const o = this.#o;
    const clientOptions = {
      region: o.region,
      credentials: o.credentials,
      requestTimeoutMs: o.requestTimeoutMs,
      connectionTimeoutMs: o.connectionTimeoutMs,
    };
    const dynamodb = o.dynamodb ?? this.#own(createDynamoDBClient({ ...clientOptions, endpoint: o.dynamodbEndpoint }));
    const needsStreams = !o.coordinator || !o.readerFactory || o.sources.some((s) => s.streamArn === undefined);
    const streams =
      o.streams ??
      (needsStreams
        ? this.#own(createDynamoDBStreamsClient({ ...clientOptions, endpoint: o.streamsEndpoint }))
        : undefined);
    bindTableDestination(o.failurePolicy.destination, dynamodb);
    for (const source of o.sources) {
      const streamArn =
        source.streamArn ??
        (await resolveStreamArn({ streams: streams!, dynamodb, tableName: source.tableName, logger: this.#log }));
      const tableName = source.tableName ?? tableNameFromStreamArn(streamArn) ?? streamArn;
      if (this.#streamsByArn.has(streamArn))
        throw new ConfigError(`${tableName} is given twice (both resolve to stream ${streamArn})`);
      this.#streamsByArn.set(streamArn, { tableName, processorFactory: this.#processorFor(tableName) });
      if (source.tableName !== undefined) this.#followedTables.add(tableName);
    }
    const streamArns = this.streamArns;
    if (this.#state !== 'starting') return;
    const coordinator =
      o.coordinator ??
      createDefaultCoordinator({
        dynamodb,
        streams: streams!,
        streamArns,
        followed: new Set(streamArns.filter((arn) => this.#followedTables.has(this.#streamsByArn.get(arn)!.tableName))),
        leaseTableName: o.leaseTableName,
        workerId: o.workerId,
        leases: o.leases,
        clock: o.clock,
        logger: o.logger,
        recordsProcessed: () => this.#recordsProcessed,
      });
    this.#coordinator = coordinator;
    this.metrics.watchFenced(() => coordinator.isFenced());
    this.#forwardLeaseEvents(coordinator);
    const reading: ReaderFactory =
      o.readerFactory ??
      createDefaultReaderFactory({
        streams: streams!,
        reader: o.reader,
        clock: o.clock,
        logger: o.logger.child({ workerId: o.workerId }),
        metrics: this.metrics,
        onTrimmed: (event) => this.events.emit('records:trimmed', event),
        health: this.#streamsHealth,
      });
    const readerFactory = o.batching
      ? gatheringReaderFactory(reading, {
          batching: o.batching,
          readLimit: o.reader.limit,
          clock: o.clock,
          logger: o.logger.child({ component: 'batch-gatherer', workerId: o.workerId }),
        })
      : reading;
    const runner = new Runner<T>({
      coordinator,
      events: this.events,
      clock: o.clock,
      logger: this.#log,
      createConsumer: (lease, checkpoint) => this.#createConsumer(lease, checkpoint, readerFactory, coordinator),
      onLeaseCountChange: (held) => this.metrics.leasesHeld.set(held),
      onLeaseLost: () => this.metrics.leasesLost.inc(),
    });
    this.#runner = runner;
    runner.attach();
    if (o.healthPort !== undefined) {
      const health = new HealthServer({
        port: o.healthPort,
        host: o.healthHost,
        logger: this.#log,
        source: this.#healthSource(),
        routes: o.healthRoutes,
      });
      this.#health = health;
      await health.start();
    }
    if (o.emf) {
      this.#emf = new EmfReporter({
        metrics: this.metrics,
        emf: o.emf,
        applicationName: o.applicationName,
        workerId: o.workerId,
        clock: o.clock,
        logger: this.#log,
      });
      this.#emf.start();
    }
    await logSdkRetries({ dynamodb: o.dynamodb, streams: o.streams }, this.#log);
    this.#startedAt = o.clock.now();
    await coordinator.start();
    if (this.#state !== 'starting') return;
    this.#state = 'running';
    this.#log.info({ streamArns, leaseTableName: o.leaseTableName }, 'worker started');
    this.events.emit('worker:started', { workerId: o.workerId });
  }

  /** The processor of a table's stream: its own (`processors`) or the shared one. */
  #processorFor(tableName: string): ProcessorFactory<T> {
    const factory = this.#o.processorsByTable.get(tableName) ?? this.#o.processorFactory;
    if (!factory)
      throw new ConfigError(
        `no processor for table ${tableName}: add it to processors, or give a processor shared by every table`,
      );
    return factory;
  }

  /** A re-enabled stream of a table given by name, which the lease layer started following. */
  #followedStream(streamArn: string): { tableName: string; processorFactory: ProcessorFactory<T> } | undefined {
    const tableName = tableNameFromStreamArn(streamArn);
    if (tableName === undefined || !this.#followedTables.has(tableName)) return undefined;
    const stream = { tableName, processorFactory: this.#processorFor(tableName) };
    this.#streamsByArn.set(streamArn, stream);
    return stream;
  }

  #createConsumer(
    lease: Lease,
    checkpoint: string,
    readerFactory: ReaderFactory,
    coordinator: Coordinator,
  ): ShardConsumer<T> {
    const o = this.#o;
    const stream = this.#streamsByArn.get(lease.streamArn) ?? this.#followedStream(lease.streamArn);
    // A lease of a stream this worker was not given (the coordinator filters them) cannot be read.
    if (!stream)
      throw new TypeError(`lease ${lease.leaseKey} is of stream ${lease.streamArn}, not one of this worker's`);
    return new ShardConsumer<T>({
      shardId: lease.shardId,
      streamArn: lease.streamArn,
      tableName: stream.tableName,
      workerId: o.workerId,
      checkpoint,
      // The state belongs to the lease's checkpoint: none when the runner starts elsewhere.
      processorState: checkpoint === lease.checkpoint ? lease.processorState : undefined,
      processorFactory: stream.processorFactory,
      readerFactory,
      // The consumer checkpoints its shard; the coordinator knows the lease by its key.
      store: { checkpoint: (_shardId, position, state) => coordinator.checkpoint(lease.leaseKey, position, state) },
      checkpointMode: o.checkpointMode,
      checkpointIntervalMs: o.checkpointIntervalMs,
      keyConcurrency: o.keyConcurrency,
      policy: o.failurePolicy,
      clock: o.clock,
      logger: o.logger.child({
        component: 'shard',
        workerId: o.workerId,
        shardId: lease.shardId,
        streamArn: lease.streamArn,
      }),
      events: this.events,
      metrics: this.metrics,
      tracer: this.#tracer,
      random: o.random,
    });
  }

  /**
   * Graceful, ordered, idempotent: stop taking leases and fetching, finish and checkpoint the
   * batches in flight (aborting them when the deadline nears), hand the leases off so other
   * workers start at once, close the health server, destroy the clients the worker created.
   * Each step runs even if an earlier one failed; resolves within about `shutdownTimeoutMs`.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const previous = this.#state;
    this.#state = 'stopping';
    if (previous === 'new') {
      this.#state = 'stopped';
      return;
    }
    const o = this.#o;
    const started = o.clock.now();
    const errors: Error[] = [];
    const step = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        const error = toError(err);
        errors.push(error);
        this.#log.error({ err: error, step: name }, 'shutdown step failed; continuing');
      }
    };
    // 1. No new consumers. 2. The coordinator stops taking leases and asks for each held one
    // back (`lease:handoff`): the runner drains that shard (batch in flight finished and
    // checkpointed) and releases it at once, naming a successor, so others start without
    // waiting for expiry. 3. `drain` covers every consumer and enforces the deadline, keeping a
    // quarter of the budget for the releases and the rest of the cleanup.
    this.#runner?.stopAccepting();
    const coordinatorStopped = (this.#coordinator?.stop({ handOff: true }) ?? Promise.resolve()).then(
      () => undefined,
      (err: unknown) => toError(err),
    );
    const drainMs = Math.max(1, Math.floor(o.shutdownTimeoutMs * 0.75));
    await step('drain shard consumers', async () => {
      const result = await this.#runner?.drain(drainMs);
      if (result && result.forced.length > 0) this.#log.warn({ shardIds: result.forced }, 'shards forced to stop');
    });
    await step('hand off leases', async () => {
      const remaining = Math.max(1_000, o.shutdownTimeoutMs - (o.clock.now() - started));
      const error = await withDeadline(coordinatorStopped, remaining, 'lease coordinator stop');
      if (error) throw error;
    });
    await step('detach', () => {
      this.#runner?.detach();
      for (const off of this.#forwarders.splice(0)) off();
      return Promise.resolve();
    });
    await step('close health server', () => this.#health?.close() ?? Promise.resolve());
    await step('close failure destination', () => o.failurePolicy.destination?.close?.() ?? Promise.resolve());
    await step('destroy clients', () => {
      for (const client of this.#created.splice(0)) client.destroy();
      return Promise.resolve();
    });
    this.metrics.leasesHeld.set(0);
    // After the drain: the last line carries the final counts (and no leases).
    await step('flush EMF metrics', () => this.#emf?.stop() ?? Promise.resolve());
    this.#state = 'stopped';
    this.#log[previous === 'running' ? 'info' : 'debug'](
      { durationMs: o.clock.now() - started, errors: errors.length },
      'worker stopped',
    );
    this.events.emit('worker:stopped', { workerId: o.workerId, errors });
  }

  #own<C extends { destroy(): void }>(client: C): C {
    this.#created.push(client);
    return client;
  }

  #forwardLeaseEvents(coordinator: Coordinator): void {
    for (const name of LEASE_COORDINATOR_EVENTS) {
      const listener = (payload: LeaseCoordinatorEvents[typeof name]) => {
        if (name === 'lease:acquired' || name === 'shardsync:done' || name === 'leader:elected') this.#settled = true;
        if (name === 'stream:replaced') this.metrics.streamsReplaced.inc();
        this.events.emit(name, payload);
      };
      coordinator.events.on(name, listener);
      this.#forwarders.push(() => coordinator.events.off(name, listener));
    }
  }

  #healthSource() {
    return {
      liveness: (): string | null => {
        if (this.#state === 'stopped') return 'worker stopped';
        // Fenced: no shard runs and others may take the leases; a restart is the way out if the
        // coordinator does not recover.
        const coordinator = this.#coordinator;
        if (this.#state !== 'running' || !coordinator?.isFenced()) return null;
        const heartbeat = coordinator.lastHeartbeatAt();
        const { leaseDurationMs } = this.#o.leases;
        return heartbeat === undefined
          ? `lease coordinator fenced (lease duration ${leaseDurationMs} ms)`
          : `lease heartbeat is ${this.#o.clock.now() - heartbeat} ms old (lease duration ${leaseDurationMs} ms)`;
      },
      readiness: (): string | null => {
        if (this.#state !== 'running') return `worker ${this.#state}`;
        // Settled: the coordinator assigned something, or one lease duration passed without
        // (an idle stream, or more workers than shards).
        if (!this.#settled && this.#o.clock.now() - this.#startedAt < this.#o.leases.leaseDurationMs)
          return 'lease assignment not settled yet';
        // Streams unreachable for a lease duration: the leases stay (the lease table is fine),
        // but this worker is not reading; the same scale at which the lease layer gives up.
        return this.#streamsHealth.problem(this.#runner?.shards ?? [], this.#o.leases.leaseDurationMs);
      },
      metrics: () => this.metrics.metrics(),
      metricsContentType: this.metrics.registry.contentType,
    };
  }
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
