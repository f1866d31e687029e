import { describe, expect, it } from 'vitest';
import type { ShardInfo } from '@shardline/core';
import { audit } from '../src/audit.js';
import { type ManifestEntry } from '../src/simulator/index.js';

// Hand-made lineage: P splits into A and B; A rolls over into A2 (which is empty); A2 into A3.
const P = 'shardId-p';
const A = 'shardId-a';
const B = 'shardId-b';
const A2 = 'shardId-a2';
const A3 = 'shardId-a3';
const lineage: ShardInfo[] = [
  { shardId: P },
  { shardId: A, parentShardId: P },
  { shardId: B, parentShardId: P },
  { shardId: A2, parentShardId: A },
  { shardId: A3, parentShardId: A2 },
];
const entry = (shardId: string, sequenceNumber: string): ManifestEntry => ({
  shardId,
  sequenceNumber,
  key: `k-${shardId}`,
  eventName: 'INSERT',
});
// Sequence numbers of different lengths: compared as integers, "9…" < "10…".
const manifest: ManifestEntry[] = [
  entry(P, '900000000000000000000'),
  entry(P, '1000000000000000000000'),
  entry(A, '1000000000000000000100'),
  entry(B, '1000000000000000000101'),
  entry(A, '1000000000000000000200'),
  entry(A3, '1000000000000000000300'),
];
const d = (e: ManifestEntry) => ({ shardId: e.shardId, sequenceNumber: e.sequenceNumber });
const [p1, p2, a1, b1, a2, a31] = manifest.map(d) as [
  ReturnType<typeof d>,
  ReturnType<typeof d>,
  ReturnType<typeof d>,
  ReturnType<typeof d>,
  ReturnType<typeof d>,
  ReturnType<typeof d>,
];

describe('audit', () => {
  it('passes a clean delivery, in any interleaving of independent shards', () => {
    const report = audit(manifest, [p1, p2, b1, a1, a2, a31], lineage);
    expect(report).toEqual({
      ok: true,
      lost: [],
      duplicates: [],
      orderViolations: [],
      keyOrderViolations: [],
      childBeforeParent: [],
      unknown: [],
    });
  });

  it('reports a key whose records are first delivered out of write order, across shards', () => {
    // One key written to P, then (after the split) to B: B's record first would be a key-order break
    // even with the lineage rule switched off (no lineage given).
    const keyed: ManifestEntry[] = [
      { ...entry(P, '900000000000000000000'), key: 'same' },
      { ...entry(B, '1000000000000000000101'), key: 'same' },
    ];
    const [first, second] = keyed.map(({ shardId, sequenceNumber }) => ({ shardId, sequenceNumber }));
    expect(audit(keyed, [first!, second!, first!]).keyOrderViolations).toEqual([]);
    const report = audit(keyed, [second!, first!]);
    expect(report.ok).toBe(false);
    expect(report.keyOrderViolations).toEqual([
      { key: 'same', shardId: P, sequenceNumber: first!.sequenceNumber, deliveredAfter: second, index: 1 },
    ]);
  });

  it('reports lost records', () => {
    const report = audit(manifest, [p1, p2, a1, a2, a31], lineage);
    expect(report.ok).toBe(false);
    expect(report.lost).toEqual([manifest[3]]);
  });

  it('reports duplicates without failing: delivery is at least once', () => {
    const report = audit(manifest, [p1, p2, a1, p2, b1, a1, a1, a2, a31], lineage);
    expect(report.ok).toBe(true);
    expect(report.duplicates).toEqual([
      { shardId: P, sequenceNumber: p2.sequenceNumber, count: 2 },
      { shardId: A, sequenceNumber: a1.sequenceNumber, count: 3 },
    ]);
  });

  it('judges order on first deliveries: a redelivery of an earlier record is fine', () => {
    expect(audit(manifest, [p1, p2, p1, a1, b1, a2, a1, a31], lineage).orderViolations).toEqual([]);
  });

  it('reports order violations within a shard, comparing sequence numbers as integers', () => {
    const report = audit(manifest, [p2, p1, a1, b1, a2, a31], lineage);
    expect(report.ok).toBe(false);
    // As strings "9…" > "1…"; as numbers p1 < p2, so p1 after p2 is the violation.
    expect(report.orderViolations).toEqual([
      { shardId: P, sequenceNumber: p1.sequenceNumber, deliveredAfter: p2.sequenceNumber, index: 1 },
    ]);
    expect(report.lost).toEqual([]);
  });

  it('reports a child record delivered before its parent was finished', () => {
    const report = audit(manifest, [p1, b1, p2, a1, a2, a31], lineage);
    expect(report.ok).toBe(false);
    expect(report.childBeforeParent).toEqual([
      {
        shardId: B,
        sequenceNumber: b1.sequenceNumber,
        parentShardId: P,
        parentLastSequenceNumber: p2.sequenceNumber,
        index: 1,
      },
    ]);
    expect(report.orderViolations).toEqual([]);
  });

  it('looks through an empty parent to the grandparent', () => {
    const report = audit(manifest, [p1, p2, a1, b1, a31, a2], lineage);
    expect(report.childBeforeParent).toEqual([
      {
        shardId: A3,
        sequenceNumber: a31.sequenceNumber,
        parentShardId: A2,
        parentLastSequenceNumber: undefined,
        index: 4,
      },
    ]);
  });

  it('counts a parent whose last record never arrived as unfinished', () => {
    const report = audit(manifest, [p1, a1, b1, a2, a31], lineage);
    expect(report.lost).toEqual([manifest[1]]);
    expect(report.childBeforeParent.map((v) => v.shardId)).toEqual([A, B]);
  });

  it('skips lineage checks for parents absent from the lineage (trimmed) or without a lineage', () => {
    const withoutP = lineage.filter((s) => s.shardId !== P);
    expect(audit(manifest, [b1, a1, p1, p2, a2, a31], withoutP).childBeforeParent).toEqual([]);
    expect(audit(manifest, [b1, a1, p1, p2, a2, a31]).childBeforeParent).toEqual([]);
  });

  it('reports deliveries the manifest does not hold', () => {
    const stray = { shardId: B, sequenceNumber: '5' };
    const report = audit(manifest, [p1, p2, a1, b1, stray, a2, a31], lineage);
    expect(report.ok).toBe(false);
    expect(report.unknown).toEqual([stray]);
  });

  // 100,000 records with duplicates and lineage: quadratic work would blow the test timeout.
  it('handles a large delivery', () => {
    const big: ManifestEntry[] = [];
    for (let i = 0; i < 100_000; i++) big.push(entry(`s${i % 10}`, (100000000000000000000n + BigInt(i)).toString()));
    const chain: ShardInfo[] = Array.from({ length: 10 }, (_, i) => ({ shardId: `s${i}` }));
    const report = audit(big, [...big.map(d), ...big.slice(0, 1000).map(d)], chain);
    expect(report.ok).toBe(true);
    expect(report.duplicates).toHaveLength(1000);
  });
});
