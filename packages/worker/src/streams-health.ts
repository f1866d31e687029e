import type { Clock } from '@shardline/core';
import { shardRef } from '@shardline/leases';

/**
 * Whether this worker can read its shards: per shard, since when its reader's calls to DynamoDB
 * Streams have been failing (transient errors the reader retries), on the worker's clock. A
 * batch coming out of the reader ends the streak. Kept per (stream, shard) rather than per
 * reader, so a consumer restarted after its reader gave up keeps counting from the first failure;
 * not per shard id alone: shard ids repeat across streams, and one stream's reads must not end
 * another's streak.
 *
 * Readiness uses it: a worker whose streams traffic is blackholed keeps its leases (the lease
 * table is fine, and another worker would be cut off the same way), but it is not doing its job,
 * and an orchestrator should know once that lasts.
 */
/** A shard of one stream. */
export interface ShardOfStream {
  streamArn: string;
  shardId: string;
}

const keyOf = (shard: ShardOfStream) => shardRef(shard.streamArn, shard.shardId);

export class StreamsHealth {
  readonly #clock: Clock;
  readonly #failingSince = new Map<string, { shardId: string; since: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  failed(shard: ShardOfStream): void {
    const key = keyOf(shard);
    if (!this.#failingSince.has(key)) this.#failingSince.set(key, { shardId: shard.shardId, since: this.#clock.now() });
  }

  ok(shard: ShardOfStream): void {
    this.#failingSince.delete(keyOf(shard));
  }

  /**
   * Why not ready: the held shard whose reads have been failing longest, if for at least
   * `afterMs`; null otherwise. Shards no longer held are forgotten.
   */
  problem(held: readonly ShardOfStream[], afterMs: number): string | null {
    const now = this.#clock.now();
    const holding = new Set(held.map(keyOf));
    let worst: { shardId: string; ms: number } | undefined;
    for (const [key, { shardId, since }] of this.#failingSince) {
      if (!holding.has(key)) {
        this.#failingSince.delete(key);
        continue;
      }
      const ms = now - since;
      if (ms >= afterMs && (worst === undefined || ms > worst.ms)) worst = { shardId, ms };
    }
    return worst === undefined
      ? null
      : `DynamoDB Streams calls failing for ${worst.ms} ms (shard ${worst.shardId}); retrying with backoff`;
  }
}

/**
 * Passes a reader's batches through, each one ending the shard's failure streak. A plain
 * iterator rather than an async generator: one promise per batch instead of a generator's
 * queue and await chain, on a path every idle poll of every held shard takes.
 */
export function trackReads<B>(reader: AsyncIterable<B>, shard: ShardOfStream, health: StreamsHealth): AsyncIterable<B> {
  return {
    [Symbol.asyncIterator]() {
      const inner = reader[Symbol.asyncIterator]();
      return {
        next: () =>
          inner.next().then((result) => {
            if (!result.done) health.ok(shard);
            return result;
          }),
        // Leaving a `for await` early closes the reader, as the loop over it would.
        return: async (value?: unknown) => (await inner.return?.(value)) ?? { done: true, value: undefined },
      };
    },
  };
}
