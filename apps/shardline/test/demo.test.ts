import { describe, expect, it } from 'vitest';
import { auditDemo } from '../src/demo/ledger.js';

describe('shardline demo audit', () => {
  it('counts lost writes, duplicates across workers, and versions of a key first seen out of order', () => {
    const writes = ['a#1', 'b#1', 'a#2', 'c#1'];
    const seen = new Map([
      ['w1', ['a#1', 'b#1']],
      ['w2', ['b#1', 'a#2']],
    ]);
    expect(auditDemo(writes, seen)).toEqual({
      processed: 3,
      deliveries: 4,
      duplicates: 1,
      lost: ['c#1'],
      outOfOrder: 0,
    });
    expect(auditDemo(['a#1', 'a#2'], new Map([['w1', ['a#2', 'a#1']]])).outOfOrder).toBe(1);
  });
});
