import type { DynamoDBStreamEvent } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RecordBatch } from '../../src/contracts.js';
import { lambdaProcessor } from '../../src/lambda/lambda-processor.js';
import { finishedPrefix, laneOf, splitIntoLanes } from '../../src/lambda/parallelization.js';
import { batch, makeConsumer, seq } from '../fakes.js';

const numbers = (event: DynamoDBStreamEvent) =>
  event.Records.map((r) => Number((r.dynamodb!.NewImage!.n as { N: string }).N));
const keyOf = (event: DynamoDBStreamEvent) => (event.Records[0]!.dynamodb!.Keys!.pk as { S: string }).S;

describe('lanes (ParallelizationFactor)', () => {
  it('one key always in one lane, order kept within a lane, every item in exactly one lane', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 10 }),
        (keys, factor) => {
          const items = keys.map((k, index) => ({ key: `k${k}`, index }));
          const lanes = splitIntoLanes(items, (i) => i.key, factor);
          expect(lanes.length).toBeLessThanOrEqual(factor);
          expect(
            lanes
              .flat()
              .map((i) => i.index)
              .sort((a, b) => a - b),
          ).toEqual(items.map((i) => i.index));
          for (const lane of lanes) {
            expect(lane.map((i) => i.index)).toEqual([...lane.map((i) => i.index)].sort((a, b) => a - b));
            for (const item of lane) expect(laneOf(item.key, factor)).toBe(laneOf(lane[0]!.key, factor));
          }
        },
      ),
    );
  });

  it('the checkpoint rule: whatever order the lanes finish in, the checkpoint never passes an unfinished record and only moves forward', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 2, max: 10 }),
        fc.array(fc.nat(), { maxLength: 200 }),
        (keys, factor, picks) => {
          const lanes = splitIntoLanes(
            keys.map((k, index) => ({ key: `k${k}`, index })),
            (i) => i.key,
            factor,
          );
          const finished = new Set<number>();
          let checkpoint = 0;
          // Lanes finish their next record in the order `picks` says, then the rest in turn.
          const order = [...picks, ...Array.from({ length: keys.length * lanes.length }, (_, i) => i)];
          for (const pick of order) {
            const open = lanes.filter((lane) => lane.length > 0);
            if (open.length === 0) break;
            finished.add(open[pick % open.length]!.shift()!.index);
            const prefix = finishedPrefix(keys.length, (i) => finished.has(i));
            expect(prefix).toBeGreaterThanOrEqual(checkpoint);
            for (let i = 0; i < prefix; i++) expect(finished.has(i)).toBe(true);
            if (prefix < keys.length) expect(finished.has(prefix)).toBe(false);
            checkpoint = prefix;
          }
          expect(checkpoint).toBe(keys.length);
        },
      ),
    );
  });

  it('through lambdaProcessor: lanes invoked at once, order kept per key, the checkpoint at the finished prefix', async () => {
    const key = (i: number) => `k${i % 4}`;
    const invocations: Array<{ key: string; n: number[] }> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const handler = async (event: DynamoDBStreamEvent) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      invocations.push({ key: keyOf(event), n: numbers(event) });
      inFlight--;
    };
    const h = makeConsumer<unknown>({
      batches: [batch('shard-1', 1, 12, true, key)],
      processor: lambdaProcessor(handler, { parallelizationFactor: 4 }),
    });
    expect((await h.consumer.run()).reason).toBe('shard-end');
    const invoked = invocations.flatMap((i) => i.n).sort((a, b) => a - b);
    expect(invoked).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(maxInFlight).toBeGreaterThan(1);
    // Each key's records in sequence order, in one lane (never split over two invocations at once).
    for (const k of ['k0', 'k1', 'k2', 'k3']) {
      const ns = invocations
        .filter((i) => i.n.some((n) => key(n) === k))
        .flatMap((i) => i.n.filter((n) => key(n) === k));
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    const positions = h.store.writes.map((w) => w.checkpoint);
    expect(positions.at(-1)).toBe('SHARD_END');
    expect(positions).toContain(seq(12));
  });

  it('through lambdaProcessor: a failing lane holds the checkpoint before its record; the retry invokes only what is unfinished', async () => {
    // The other keys avoid the failing key's lane, so what that lane holds back is records 3 and 6 only.
    const otherKey = (i: number) => {
      let j = 0;
      while (laneOf(`k${i}.${j}`, 10) === laneOf('slow', 10)) j++;
      return `k${i}.${j}`;
    };
    const key = (i: number) => (i === 3 || i === 6 ? 'slow' : otherKey(i));
    const invocations: number[][] = [];
    let failed = false;
    const handler = async (event: DynamoDBStreamEvent) => {
      await Promise.resolve();
      invocations.push(numbers(event));
      if (keyOf(event) === 'slow' && !failed) {
        failed = true;
        throw new Error('boom');
      }
    };
    const batches: RecordBatch[] = [batch('shard-1', 1, 8, true, key)];
    const h = makeConsumer<unknown>({
      batches,
      policy: { maxRetries: 2 },
      processor: lambdaProcessor(handler, { parallelizationFactor: 10 }),
    });
    const writesAtRetry: string[] = [];
    h.events.on('processor:error', () => writesAtRetry.push(...h.store.writes.map((w) => w.checkpoint)));
    expect((await h.consumer.run()).reason).toBe('shard-end');
    // Before the retry, nothing at or past record 3 (the failed lane's first record) was checkpointed.
    expect(writesAtRetry.every((cp) => BigInt(cp) < BigInt(seq(3)))).toBe(true);
    const slow = invocations.filter((n) => n.includes(3));
    expect(slow).toEqual([
      [3, 6],
      [3, 6],
    ]);
    // Every other record was invoked once: the retry left out what other lanes had finished.
    const others = invocations.flat().filter((n) => n !== 3 && n !== 6);
    expect(others.sort((a, b) => a - b)).toEqual([1, 2, 4, 5, 7, 8]);
  });

  it('refuses a factor out of 1-10, and with a tumbling window', () => {
    const handler = async () => {};
    expect(() => lambdaProcessor(handler, { parallelizationFactor: 11 })).toThrow(/from 1 to 10/);
    expect(() => lambdaProcessor(handler, { parallelizationFactor: 2, tumblingWindowMs: 60_000 })).toThrow(
      /is refused: Lambda documents one window state per shard/,
    );
  });
});
