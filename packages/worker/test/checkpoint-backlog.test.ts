import { describe, expect, it } from 'vitest';
import { CheckpointBacklog } from '../src/checkpoint-backlog.js';
import { seq } from './fakes.js';

describe('CheckpointBacklog', () => {
  it('counts records past the written checkpoint; a write covers the positions at or before it, SHARD_END all', () => {
    const backlog = new CheckpointBacklog(25);
    backlog.add(seq(1), 10);
    backlog.add(seq(2), 0);
    backlog.add(seq(3), 10);
    backlog.add(seq(5), 10);
    expect(backlog.count).toBe(30);
    expect(backlog.full).toBe(true);
    backlog.covered(seq(3));
    expect(backlog.count).toBe(10);
    expect(backlog.full).toBe(false);
    backlog.covered('SHARD_END');
    expect(backlog.count).toBe(0);
  });

  it('a waiter is released by a write that brings it under the bound, by giving up, or by its signal', async () => {
    const backlog = new CheckpointBacklog(5);
    backlog.add(seq(1), 10);
    const released: string[] = [];
    const byWrite = backlog.whenAllows(new AbortController().signal, () => false).then(() => released.push('write'));
    let gaveUp = false;
    const byGivingUp = backlog
      .whenAllows(new AbortController().signal, () => gaveUp)
      .then(() => released.push('gave up'));
    const abort = new AbortController();
    const bySignal = backlog.whenAllows(abort.signal, () => false).then(() => released.push('signal'));
    await Promise.resolve();
    expect(released).toEqual([]);
    abort.abort();
    await bySignal;
    gaveUp = true;
    backlog.wake();
    await byGivingUp;
    expect(released).toEqual(['signal', 'gave up']);
    backlog.covered(seq(1));
    await byWrite;
    expect(released).toEqual(['signal', 'gave up', 'write']);
  });
});
