import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareCheckpoints, compareSequenceNumbers, isSequenceNumber, maxSequenceNumber } from '../src/sequence.js';

/** Reference: compare decimal strings by length after stripping leading zeros, then lexically. */
function referenceCompare(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

const sequenceNumber = fc.stringMatching(/^[0-9]{1,40}$/);

describe('compareSequenceNumbers', () => {
  it('orders by numeric value where string and float comparison fail', () => {
    expect(compareSequenceNumbers('9', '10')).toBe(-1);
    expect('9' < '10').toBe(false);
    const a = '49999999999999999999999';
    const b = '50000000000000000000000';
    expect(Number(a)).toBe(Number(b));
    expect(compareSequenceNumbers(a, b)).toBe(-1);
    expect(compareSequenceNumbers('000123', '123')).toBe(0);
  });

  it('agrees with a reference comparison on arbitrary decimal strings', () => {
    fc.assert(
      fc.property(sequenceNumber, sequenceNumber, (a, b) => {
        expect(compareSequenceNumbers(a, b)).toBe(Math.sign(referenceCompare(a, b)));
        expect(compareSequenceNumbers(b, a)).toBe(-compareSequenceNumbers(a, b) || 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('is transitive, so sorting with it is consistent', () => {
    fc.assert(
      fc.property(fc.array(sequenceNumber, { maxLength: 30 }), (values) => {
        const sorted = [...values].sort(compareSequenceNumbers);
        for (let i = 1; i < sorted.length; i++)
          expect(compareSequenceNumbers(sorted[i - 1]!, sorted[i]!)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('refuses anything that is not a decimal string', () => {
    for (const bad of ['', '12a', '-1', '1.5', ' 1', 'SHARD_END']) {
      expect(isSequenceNumber(bad)).toBe(false);
      expect(() => compareSequenceNumbers(bad, '1')).toThrow(TypeError);
    }
  });

  it('maxSequenceNumber picks the numerically larger', () => {
    expect(maxSequenceNumber('99', '100')).toBe('100');
  });
});

describe('compareCheckpoints', () => {
  it('orders TRIM_HORIZON < sequence numbers < SHARD_END', () => {
    expect(compareCheckpoints('TRIM_HORIZON', '1')).toBe(-1);
    expect(compareCheckpoints('99999999999999999999999999', 'SHARD_END')).toBe(-1);
    expect(compareCheckpoints('SHARD_END', 'SHARD_END')).toBe(0);
    expect(compareCheckpoints('10', '9')).toBe(1);
  });

  it('refuses LATEST, which is a start position and not a place in a shard', () => {
    expect(() => compareCheckpoints('LATEST', '1')).toThrow(/LATEST/);
  });
});
