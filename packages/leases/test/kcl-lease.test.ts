import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kclLeaseRow, kclNonLeaseRows, kclStreamIdentifier } from '@shardline/testkit';
import { kclFleetEvidence } from '../src/kcl-import.js';
import { adapterStreamName, parseKclRow, planKclImport, streamArnFromAdapterName } from '../src/kcl-lease.js';

const ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-12-03T10:17:08.123';
const OTHER = 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000';
const NOW = '2026-12-03T11:00:00.000Z';
const SEQ = '000000000000000000123';

function plan(rows: ReturnType<typeof kclLeaseRow>[], streamArn?: string) {
  return planKclImport({ rows: rows.map(parseKclRow), streamArn, now: NOW });
}

describe('KCL lease rows', () => {
  it('reads a 1.x/2.x single-stream row: plain shard id, parent set, no entityType', () => {
    const row = parseKclRow(
      kclLeaseRow({
        shardId: 'shardId-2',
        checkpoint: SEQ,
        leaseCounter: 42,
        leaseOwner: 'java-1',
        parentShardIds: ['shardId-1'],
        childShardIds: ['shardId-3'],
        pendingCheckpoint: '000000000000000000200',
      }),
    );
    expect(row).toEqual({
      kind: 'lease',
      lease: {
        leaseKey: 'shardId-2',
        shardId: 'shardId-2',
        streamArn: undefined,
        leaseOwner: 'java-1',
        leaseCounter: 42,
        checkpoint: SEQ,
        checkpointSubSequenceNumber: 0,
        pendingCheckpoint: '000000000000000000200',
        pendingCheckpointSubSequenceNumber: 0,
        ownerSwitchesSinceCheckpoint: 0,
        parentShardIds: ['shardId-1'],
        childShardIds: ['shardId-3'],
        checkpointOwner: undefined,
      },
    });
  });

  it('reads a multi-stream key back to the stream ARN (the adapter writes the label colons as _)', () => {
    expect(kclStreamIdentifier(ARN)).toBe('123456789012:us-east-1$123456789012$orders$2026-12-03T10_17_08.123:1');
    const row = parseKclRow(
      kclLeaseRow({ shardId: 'shardId-9', checkpoint: 'TRIM_HORIZON', multiStreamArn: ARN, version: '3.x' }),
    );
    expect(row).toMatchObject({ kind: 'lease', lease: { shardId: 'shardId-9', streamArn: ARN } });
    expect(streamArnFromAdapterName(adapterStreamName(ARN))).toBe(ARN);
    expect(streamArnFromAdapterName('cn-north-1$123456789012$t$2026-01-01T00_00_00.000')).toMatch(/^arn:aws-cn:/);
  });

  it('skips KCL 3.x items that are not leases, and says which', () => {
    const rows = kclNonLeaseRows().map(parseKclRow);
    expect(rows.map((r) => r.kind)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(rows.map((r) => (r.kind === 'skipped' ? r.reason : ''))).toEqual([
      'KCL LEADER item',
      'KCL CLIENT_VERSION_MIGRATION item',
      'KCL WORKER_METRIC_STATS item',
    ]);
    // The 3.0 lock item (no entityType) and any row without the lease attributes are skipped too.
    expect(parseKclRow({ leaseKey: { S: 'Leader' }, ownerName: { S: 'w' } })).toMatchObject({ kind: 'skipped' });
    expect(parseKclRow({ leaseKey: { S: 'something' } })).toMatchObject({ kind: 'skipped' });
  });

  it('refuses a row it cannot read exactly (a parent that is not a string set, a Kinesis stream key)', () => {
    const bad = { ...kclLeaseRow({ shardId: 'shardId-1', checkpoint: SEQ }), parentShardId: { S: 'shardId-0' } };
    expect(parseKclRow(bad)).toMatchObject({ kind: 'invalid', problem: 'parentShardId is not a string set' });
    const kinesis = kclLeaseRow({ shardId: 'shardId-1', checkpoint: SEQ });
    kinesis.leaseKey = { S: '123456789012:my-kinesis-stream:1700000000:shardId-1' };
    expect(parseKclRow(kinesis)).toMatchObject({ kind: 'invalid' });
  });
});

describe('planKclImport', () => {
  it('keeps sequence numbers and SHARD_END, reads LATEST from the oldest record, parents first', () => {
    const p = plan(
      [
        kclLeaseRow({ shardId: 'shardId-c', checkpoint: 'LATEST', parentShardIds: ['shardId-b'] }),
        kclLeaseRow({ shardId: 'shardId-b', checkpoint: SEQ, parentShardIds: ['shardId-a'] }),
        kclLeaseRow({ shardId: 'shardId-a', checkpoint: 'SHARD_END', childShardIds: ['shardId-b'] }),
      ],
      ARN,
    );
    expect(p.problems).toEqual([]);
    expect(p.rows.map((r) => [r.shardId, r.checkpoint])).toEqual([
      ['shardId-a', 'SHARD_END'],
      ['shardId-b', SEQ],
      ['shardId-c', 'TRIM_HORIZON'],
    ]);
    expect(p.items[1]).toMatchObject({
      leaseKey: 'shardId-b',
      itemType: 'lease',
      streamArn: ARN,
      leaseCounter: 0,
      parentShardIds: ['shardId-a'],
    });
    expect(p.items[0]?.leaseOwner).toBeUndefined();
    expect(p.rows[2]?.notes[0]).toMatch(/no record checkpointed/);
  });

  it('needs the stream for plain keys, picks the one stream of a multi-stream table, refuses two', () => {
    expect(plan([kclLeaseRow({ shardId: 's1', checkpoint: SEQ })]).problems[0]).toMatch(/--table or --stream-arn/);
    const one = plan([kclLeaseRow({ shardId: 's1', checkpoint: SEQ, multiStreamArn: ARN })]);
    expect(one).toMatchObject({ streamArn: ARN, problems: [] });
    const rows = [
      kclLeaseRow({ shardId: 's1', checkpoint: SEQ, multiStreamArn: ARN }),
      kclLeaseRow({ shardId: 's0', checkpoint: 'SHARD_END', multiStreamArn: OTHER }),
    ];
    expect(plan(rows).problems[0]).toMatch(/holds 2 streams/);
    const chosen = plan(rows, ARN);
    expect(chosen.rows.map((r) => r.shardId)).toEqual(['s1']);
    expect(chosen.skipped).toEqual([expect.objectContaining({ reason: `another stream (${OTHER})` })]);
  });

  it('refuses a sub-sequence checkpoint (aggregated Kinesis records) and an unknown checkpoint', () => {
    const p = plan(
      [
        kclLeaseRow({ shardId: 's1', checkpoint: SEQ, checkpointSubSequenceNumber: 3 }),
        kclLeaseRow({ shardId: 's2', checkpoint: 'SOMETHING' }),
      ],
      ARN,
    );
    expect(p.problems).toHaveLength(2);
  });

  it('property: every lease is written once, after its parents, with its sequence checkpoint unchanged', () => {
    // Random forests of shards: each shard's parent is an earlier shard or none.
    const forest = fc
      .array(fc.record({ parent: fc.nat(), hasParent: fc.boolean(), seq: fc.bigInt(1n, 10n ** 30n) }), {
        minLength: 1,
        maxLength: 30,
      })
      .chain((shards) =>
        fc.shuffledSubarray(
          shards.map((s, i) => ({ ...s, i })),
          { minLength: shards.length },
        ),
      );
    fc.assert(
      fc.property(forest, (shards) => {
        const rows = shards.map((s) =>
          kclLeaseRow({
            shardId: `shardId-${s.i}`,
            checkpoint: s.seq.toString().padStart(21, '0'),
            parentShardIds: s.hasParent && s.i > 0 ? [`shardId-${s.parent % s.i}`] : [],
          }),
        );
        const p = plan(rows, ARN);
        expect(p.problems).toEqual([]);
        const order = p.items.map((item) => item.shardId);
        expect(new Set(order).size).toBe(shards.length);
        for (const item of p.items) {
          for (const parent of item.parentShardIds)
            expect(order.indexOf(parent)).toBeLessThan(order.indexOf(item.shardId));
          const source = shards.find((s) => `shardId-${s.i}` === item.shardId)!;
          expect(BigInt(item.checkpoint)).toBe(source.seq);
        }
      }),
    );
  });
});

describe('kclFleetEvidence', () => {
  const read = (counter: number, extra: Partial<Parameters<typeof kclLeaseRow>[0]> = {}) =>
    [kclLeaseRow({ shardId: 's1', checkpoint: SEQ, leaseCounter: counter, leaseOwner: 'java-1', ...extra })].map(
      parseKclRow,
    );

  it('a held lease whose counter did not move is a dead fleet; a moved counter or a checkpointOwner is a live one', () => {
    expect(kclFleetEvidence(read(5), read(5))).toEqual([]);
    expect(kclFleetEvidence(read(5), read(7))).toEqual(['s1 leaseCounter moved 5 → 7 (owner java-1)']);
    expect(kclFleetEvidence(read(5), read(5, { version: '3.x', checkpointOwner: 'java-2' }))).toEqual([
      's1 has checkpointOwner java-2',
    ]);
    expect(kclFleetEvidence([], read(1))).toEqual(['lease s1 was created']);
  });
});
