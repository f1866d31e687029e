import { ManualClock } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import { StreamsHealth, trackReads } from '../src/streams-health.js';

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

describe('trackReads', () => {
  it('passes every batch through, each one ending the failure streak', async () => {
    const health = new StreamsHealth(new ManualClock(0));
    const { reader } = fakeReader(['a', 'b']);
    health.failed('s1');
    const seen: string[] = [];
    for await (const batch of trackReads(reader, 's1', health)) {
      seen.push(batch);
      // The streak ended with the batch: a shard failing again starts a new one.
      expect(health.problem(['s1'], 0)).toBeNull();
      health.failed('s1');
    }
    expect(seen).toEqual(['a', 'b']);
    expect(health.problem(['s1'], 0)).not.toBeNull();
  });

  it('closes the reader when the loop over it is left early', async () => {
    const health = new StreamsHealth(new ManualClock(0));
    const { reader, state } = fakeReader(['a', 'b', 'c']);
    for await (const batch of trackReads(reader, 's1', health)) if (batch === 'a') break;
    expect(state.closed).toBe(true);
  });
});
