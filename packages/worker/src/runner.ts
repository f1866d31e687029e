import { AbortedError, type Clock, type Logger, type SafeEmitter } from '@shardline/core';
import type { Coordinator, Lease, LeaseCoordinatorEvents, LeaseLostReason } from './contracts.js';
import type { WorkerEvents } from './events.js';
import type { ShardConsumer, ShardConsumerResult } from './shard-consumer.js';

export interface RunnerOptions<T> {
  coordinator: Coordinator;
  /** Builds the consumer of a lease, starting from `checkpoint`. */
  createConsumer: (lease: Lease, checkpoint: string) => ShardConsumer<T>;
  events: SafeEmitter<WorkerEvents>;
  clock: Clock;
  logger: Logger;
  onLeaseCountChange?: (held: number) => void;
  onLeaseLost?: () => void;
  /** First delay before restarting a shard whose consumer failed unexpectedly. @defaultValue 1_000 */
  restartBaseMs?: number;
}

interface Running<T> {
  consumer: ShardConsumer<T>;
  done: Promise<ShardConsumerResult>;
  lease: Lease;
}

const RESTART_CAP_MS = 30_000;

/**
 * The loop between the lease coordinator and the shard consumers (kafkajs `runner`): a lease
 * acquired starts a consumer, a lease lost aborts it, a hand-off request drains it and then
 * releases the lease. `drain()` is the first half of a graceful stop.
 */
export class Runner<T> {
  readonly #o: RunnerOptions<T>;
  readonly #running = new Map<string, Running<T>>();
  /** Shards stopped by the failure policy: held (so nobody else loops on them) but not read. */
  readonly #stalled = new Set<string>();
  readonly #restarts = new Map<string, number>();
  /** Leases (re)acquired while the previous consumer of that shard was still shutting down. */
  readonly #pending = new Map<string, Lease>();
  readonly #stop = new AbortController();
  readonly #handlers: { [K in keyof LeaseCoordinatorEvents]?: (payload: LeaseCoordinatorEvents[K]) => void } = {};
  #accepting = false;

  constructor(options: RunnerOptions<T>) {
    this.#o = options;
  }

  /** The shard ids of the consumers running (two streams may have equal shard ids: see `leaseKeys`). */
  get shardIds(): string[] {
    return [...this.#running.values()].map((r) => r.lease.shardId);
  }

  /** The shards of the consumers running, each with its stream. */
  get shards(): Array<{ streamArn: string; shardId: string }> {
    return [...this.#running.values()].map(({ lease: { streamArn, shardId } }) => ({ streamArn, shardId }));
  }

  /** The lease keys of the consumers running (lease-key.ts in @shardline/leases). */
  get leaseKeys(): string[] {
    return [...this.#running.keys()];
  }

  consumer(leaseKey: string): ShardConsumer<T> | undefined {
    return this.#running.get(leaseKey)?.consumer;
  }

  /** Lease keys of the shards stopped by the failure policy. */
  get stalledShards(): string[] {
    return [...this.#stalled];
  }

  /** Subscribes to the coordinator's events; call before `coordinator.start()`. */
  attach(): void {
    this.#accepting = true;
    const { coordinator } = this.#o;
    this.#handlers['lease:acquired'] = ({ lease }) => this.#onAcquired(lease, lease.checkpoint);
    this.#handlers['lease:lost'] = ({ leaseKey, reason }) => this.#onLost(leaseKey, reason);
    this.#handlers['lease:handoff'] = ({ leaseKey, to }) => void this.#onHandoff(leaseKey, to);
    coordinator.events.on('lease:acquired', this.#handlers['lease:acquired']);
    coordinator.events.on('lease:lost', this.#handlers['lease:lost']);
    coordinator.events.on('lease:handoff', this.#handlers['lease:handoff']);
    // Leases acquired before we subscribed (a coordinator started elsewhere).
    for (const lease of coordinator.heldLeases()) this.#onAcquired(lease, lease.checkpoint);
  }

  detach(): void {
    const { coordinator } = this.#o;
    if (this.#handlers['lease:acquired']) coordinator.events.off('lease:acquired', this.#handlers['lease:acquired']);
    if (this.#handlers['lease:lost']) coordinator.events.off('lease:lost', this.#handlers['lease:lost']);
    if (this.#handlers['lease:handoff']) coordinator.events.off('lease:handoff', this.#handlers['lease:handoff']);
  }

  /**
   * Stops taking leases and shuts every consumer down gracefully (batch in flight finished and
   * checkpointed). Past `deadlineMs`, consumers are aborted (`ctx.signal`); resolves once all
   * are SHUT_DOWN or `graceMs` after the abort, whichever is first.
   */
  async drain(deadlineMs: number, graceMs = 1_000): Promise<{ forced: string[] }> {
    this.stopAccepting();
    const running = [...this.#running.values()];
    const all = Promise.allSettled(running.map((r) => r.consumer.requestShutdown('shutdown')));
    const timer = new AbortController();
    const inTime = await Promise.race([
      all.then(() => true),
      this.#o.clock.sleep(deadlineMs, timer.signal).then(
        () => false,
        () => true,
      ),
    ]);
    timer.abort();
    if (inTime) return { forced: [] };
    const forced = running.filter((r) => this.#running.get(r.lease.leaseKey) === r).map((r) => r.consumer.shardId);
    this.#o.logger.warn({ shardIds: forced, deadlineMs }, 'shutdown deadline reached; aborting in-flight batches');
    for (const r of running) r.consumer.abort();
    const graceTimer = new AbortController();
    await Promise.race([all, this.#o.clock.sleep(graceMs, graceTimer.signal).catch(() => undefined)]);
    graceTimer.abort();
    return { forced };
  }

  /** Leases acquired from now on are not started (the coordinator hands them back on stop). */
  stopAccepting(): void {
    this.#accepting = false;
    this.#stop.abort(new AbortedError('worker stopping'));
  }

  #onAcquired(lease: Lease, checkpoint: string): void {
    const { leaseKey } = lease;
    if (!this.#accepting) return; // the coordinator releases it when it stops
    if (this.#stalled.has(leaseKey)) {
      // A lease newly taken (after a loss or a release) starts fresh: its records may be fixed by
      // now, and a held lease nobody reads would stall the shard silently.
      this.#o.logger.warn(
        { shardId: lease.shardId, streamArn: lease.streamArn },
        'lease of a shard stopped by the failure policy acquired again: reading it afresh',
      );
      this.#stalled.delete(leaseKey);
    }
    if (this.#running.has(leaseKey)) {
      // Lost (or handed off) and taken back before the old consumer finished: start the new one
      // when the old one is SHUT_DOWN, so one shard never has two readers in this process.
      this.#pending.set(leaseKey, lease);
      return;
    }
    const consumer = this.#o.createConsumer(lease, checkpoint);
    const done = consumer.run();
    this.#running.set(leaseKey, { consumer, done, lease });
    this.#o.onLeaseCountChange?.(this.#running.size);
    void done.then((result) => this.#onEnded(lease, consumer, result));
  }

  #onLost(leaseKey: string, reason: LeaseLostReason): void {
    this.#o.onLeaseLost?.();
    this.#stalled.delete(leaseKey);
    this.#running.get(leaseKey)?.consumer.leaseLost(reason);
  }

  async #onHandoff(leaseKey: string, to: string | undefined): Promise<void> {
    const running = this.#running.get(leaseKey);
    const fields = { shardId: running?.lease.shardId, streamArn: running?.lease.streamArn, to };
    this.#o.logger.info(fields, 'hand-off requested: finishing the batch in flight');
    this.#stalled.delete(leaseKey);
    if (running) {
      const result = await running.consumer.requestShutdown('handoff');
      if (result.reason === 'lease-lost') return;
    }
    try {
      await this.#o.coordinator.release(leaseKey);
    } catch (err) {
      this.#o.logger.warn(
        { err, ...fields },
        'release after hand-off failed; the lease will be taken over when it expires',
      );
    }
    // The consumer may have ended 'failed' meanwhile: a stall mark only holds while we hold the lease.
    this.#stalled.delete(leaseKey);
  }

  #onEnded(lease: Lease, consumer: ShardConsumer<T>, result: ShardConsumerResult): void {
    const { leaseKey, shardId } = lease;
    if (this.#running.get(leaseKey)?.consumer === consumer) this.#running.delete(leaseKey);
    this.#o.onLeaseCountChange?.(this.#running.size);
    const pending = this.#pending.get(leaseKey);
    if (pending) {
      this.#pending.delete(leaseKey);
      const held = this.#o.coordinator.heldLeases().find((l) => l.leaseKey === leaseKey);
      if (held && this.#accepting) {
        this.#onAcquired(held, held.checkpoint);
        return;
      }
    }
    if (result.reason !== 'error') this.#restarts.delete(leaseKey);
    if (result.reason === 'failed') {
      this.#stalled.add(leaseKey);
      return;
    }
    if (result.reason !== 'error' || !this.#accepting) return;
    const stillHeld = () => this.#o.coordinator.heldLeases().some((l) => l.leaseKey === leaseKey);
    if (!stillHeld()) return;
    const attempt = this.#restarts.get(leaseKey) ?? 0;
    this.#restarts.set(leaseKey, attempt + 1);
    const delayMs = Math.min(RESTART_CAP_MS, (this.#o.restartBaseMs ?? 1_000) * 2 ** attempt);
    this.#o.logger.warn(
      { shardId, streamArn: lease.streamArn, delayMs, attempt, err: result.error },
      'restarting shard consumer from its checkpoint',
    );
    this.#o.clock.sleep(delayMs, this.#stop.signal).then(
      () => {
        if (stillHeld()) this.#onAcquired(lease, result.checkpoint);
      },
      () => undefined,
    );
  }
}
