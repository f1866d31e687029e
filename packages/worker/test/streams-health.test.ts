import { ManualClock } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import { StreamsHealth, trackReads } from '../src/streams-health.js';

const STREAM_A = 'arn:aws:dynamodb:us-east-1:123456789012:table/a/stream/2026-01-01T00:00:00.000';
const STREAM_B = 'arn:aws:dynamodb:us-east-1:123456789012:table/b/stream/2026-01-01T00:00:00.000';
const S1 = { streamArn: STREAM_A, shardId: 's1' };

/** A reader of `batches` that records whether it was closed. */
function fakeReader(batches: string[]) {
  const state = { closed: false };
  const reader: AsyncIterable<string> = {
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        next: () =>
          Promise.resolve(
            i < batches.length ? { done: false, value: batches[i++]! } : { done: true, value: undefined },
          ),
        return: () => {
          state.closed = true;
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  };
  return { reader, state };
}

describe('StreamsHealth', () => {
  it('keeps one streak per (stream, shard): the same shard id read fine on another stream does not end it', () => {
    const clock = new ManualClock(0);
    const health = new StreamsHealth(clock);
    const sameIdOtherStream = { streamArn: STREAM_B, shardId: 's1' };
    health.failed(S1);
    clock.set(5_000);
    health.ok(sameIdOtherStream);
    expect(health.problem([S1, sameIdOtherStream], 1_000)).toMatch(/failing for 5000 ms \(shard s1\)/);
    // Held on the other stream only: the failing one is forgotten.
    expect(health.problem([sameIdOtherStream], 1_000)).toBeNull();
  });
});

describe('trackReads', () => {
  it('passes every batch through, each one ending the failure streak', async () => {
    const health = new StreamsHealth(new ManualClock(0));
    const { reader } = fakeReader(['a', 'b']);
    health.failed(S1);
    const seen: string[] = [];
    for await (const batch of trackReads(reader, S1, health)) {
      seen.push(batch);
      // The streak ended with the batch: a shard failing again starts a new one.
      expect(health.problem([S1], 0)).toBeNull();
      health.failed(S1);
    }
    expect(seen).toEqual(['a', 'b']);
    expect(health.problem([S1], 0)).not.toBeNull();
  });

  it('closes the reader when the loop over it is left early', async () => {
    const health = new StreamsHealth(new ManualClock(0));
    const { reader, state } = fakeReader(['a', 'b', 'c']);
    for await (const batch of trackReads(reader, S1, health)) if (batch === 'a') break;
    expect(state.closed).toBe(true);
  });
});
