import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { ManualClock, type ShardInfo } from '@shardline/core';
import { ShardGraph } from '../src/lineage.js';
import { ShardReader } from '../src/shard-reader.js';
import { FakeStreams, FAKE_ARN, driveUntil, type FaultKind } from './helpers/fake-streams.js';

/** A random lineage: each new shard is a root or the child of an earlier shard (≤ 2 children each). */
const lineage = fc
  .array(fc.tuple(fc.boolean(), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 60 })
  .map((steps) => {
    const shards: ShardInfo[] = [];
    const children = new Map<string, number>();
    steps.forEach(([root, pick, closed], i) => {
      const candidates = shards.filter((s) => (children.get(s.shardId) ?? 0) < 2);
      const parent = root || candidates.length === 0 ? undefined : candidates[pick % candidates.length]!;
      const shardId = `shardId-${String(i).padStart(4, '0')}`;
      if (parent) {
        children.set(parent.shardId, (children.get(parent.shardId) ?? 0) + 1);
        parent.endingSequenceNumber ??= (10n ** 20n + BigInt(i) * 100n - 1n).toString();
      }
      shards.push({
        shardId,
        parentShardId: parent?.shardId,
        startingSequenceNumber: (10n ** 20n + BigInt(i) * 100n).toString(),
        ...(closed ? { endingSequenceNumber: (10n ** 20n + BigInt(i) * 100n + 50n).toString() } : {}),
      });
    });
    return shards;
  });

describe('properties', () => {
  it('ShardGraph: draining readyShards reaches every shard once, never a child before its parent', () => {
    fc.assert(
      fc.property(lineage, fc.nat(), (shards, trimmedCount) => {
        // Drop some early shards (trimmed), and list the rest shuffled with duplicates.
        const kept = shards.slice(Math.min(trimmedCount % 4, shards.length - 1));
        const listed = [...kept, ...kept.slice(0, 3)].reverse();
        const graph = ShardGraph.fromShards(listed);
        expect(graph.size).toBe(kept.length);
        const finished = new Set<string>();
        for (
          let ready = graph.readyShards((id) => finished.has(id));
          ready.length > 0;
          ready = graph.readyShards((id) => finished.has(id))
        ) {
          for (const shard of ready) {
            for (const parent of graph.parentsOf(shard.shardId)) expect(finished.has(parent)).toBe(true);
            expect(finished.has(shard.shardId)).toBe(false);
            finished.add(shard.shardId);
          }
        }
        expect(finished.size).toBe(kept.length);
      }),
      { numRuns: 200 },
    );
  });

  it('ShardReader: under any mix of throttles, 500s, resets and expiries, every record arrives once, in order', async () => {
    const faultKinds: FaultKind[] = ['throttle', '500', 'reset', 'expired'];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(
          fc.tuple(
            fc.constantFrom('GetRecords' as const, 'GetShardIterator' as const),
            fc.constantFrom(...faultKinds),
            fc.integer({ min: 1, max: 3 }),
          ),
          { maxLength: 8 },
        ),
        async (count, limit, faults) => {
          const clock = new ManualClock();
          const fake = new FakeStreams(clock);
          fake.addShard('shardId-1');
          const written = fake.put('shardId-1', count);
          fake.close('shardId-1');
          for (const [operation, kind, n] of faults)
            fake.failNext(operation === 'GetShardIterator' && kind === 'expired' ? 'GetRecords' : operation, kind, n);
          const reader = new ShardReader({
            client: fake,
            streamArn: FAKE_ARN,
            shardId: 'shardId-1',
            start: { type: 'TRIM_HORIZON' },
            limit,
            clock,
            random: () => 0.5,
            maxAttempts: 30,
          });
          const got: _Record[] = [];
          await driveUntil(
            clock,
            (async () => {
              for await (const batch of reader) got.push(...batch.records);
            })(),
          );
          expect(got.map((r) => r.dynamodb!.SequenceNumber)).toEqual(written.map((r) => r.dynamodb!.SequenceNumber));
        },
      ),
      { numRuns: 60 },
    );
  });
});
