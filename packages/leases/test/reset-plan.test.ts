import { describe, expect, it } from 'vitest';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import type { RecordBatch } from '@shardline/streams';
import type { LeaseItem } from '../src/items.js';
import { planReset, timestampCheckpoint } from '../src/reset-plan.js';
import { EMPTY_PAGES_AT_TIP, scanShard } from '../src/reset.js';

const ARN = 'arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/2026-12-03T10:00:00.000';
const NOW = '2026-12-03T11:00:00.000Z';
const shards = [
  { shardId: 'a', endingSequenceNumber: '000000000000000000100' },
  { shardId: 'b', parentShardId: 'a' },
];
const lease = (shardId: string, checkpoint: string, leaseOwner?: string): LeaseItem => ({
  leaseKey: shardId,
  itemType: 'lease',
  shardId,
  streamArn: ARN,
  leaseCounter: 3,
  checkpoint,
  parentShardIds: shardId === 'b' ? ['a'] : [],
  ownerSwitchesSinceCheckpoint: 0,
  ...(leaseOwner ? { leaseOwner } : {}),
});

describe('planReset', () => {
  it('TRIM_HORIZON recreates a cleaned-up parent before resetting its child, and reports the owner to fence', () => {
    const plan = planReset({
      streamArn: ARN,
      shards,
      leases: [lease('b', '000000000000000000150', 'w1'), lease('gone', 'SHARD_END')],
      target: { kind: 'TRIM_HORIZON' },
      now: NOW,
    });
    expect(plan.changes.map((c) => [c.shardId, c.from, c.to, c.owner])).toEqual([
      ['a', undefined, 'TRIM_HORIZON', undefined],
      ['b', '000000000000000000150', 'TRIM_HORIZON', 'w1'],
    ]);
    expect(plan.changes[1]?.item.parentShardIds).toEqual(['a']);
    expect(plan.gone).toEqual(['gone']);
  });

  it('LATEST finishes closed shards and starts open ones after their last record; a lease already there is left alone', () => {
    const plan = planReset({
      streamArn: ARN,
      shards,
      leases: [lease('a', 'SHARD_END'), lease('b', '000000000000000000150')],
      target: { kind: 'LATEST' },
      scans: new Map([['b', { lastBefore: '000000000000000000190', reached: false, closed: false }]]),
      now: NOW,
    });
    // A real position: a hand-off keeps it (LATEST itself would turn into TRIM_HORIZON).
    expect(plan.changes.map((c) => [c.shardId, c.to])).toEqual([['b', '000000000000000000190']]);
    expect(plan.unchanged).toEqual(['a']);
  });

  it('LATEST keeps LATEST only for an open shard with no records', () => {
    const plan = planReset({
      streamArn: ARN,
      shards,
      leases: [lease('a', 'SHARD_END'), lease('b', '000000000000000000150')],
      target: { kind: 'LATEST' },
      scans: new Map([['b', { reached: false, closed: false }]]),
      now: NOW,
    });
    expect(plan.changes.map((c) => [c.shardId, c.to])).toEqual([['b', 'LATEST']]);
  });

  it('a timestamp: after the last record before it, TRIM_HORIZON when none is, SHARD_END for a shard closed before it', () => {
    expect(timestampCheckpoint({ lastBefore: '000000000000000000007', reached: true, closed: false })).toBe(
      '000000000000000000007',
    );
    expect(timestampCheckpoint({ reached: true, closed: true })).toBe('TRIM_HORIZON');
    expect(timestampCheckpoint({ lastBefore: '000000000000000000009', reached: false, closed: true })).toBe(
      'SHARD_END',
    );
    expect(timestampCheckpoint({ lastBefore: '000000000000000000009', reached: false, closed: false })).toBe(
      '000000000000000000009',
    );
  });
});

describe('scanShard', () => {
  const record = (seq: number, at: string): _Record => ({
    dynamodb: { SequenceNumber: String(seq).padStart(21, '0'), ApproximateCreationDateTime: new Date(at) },
  });
  // A plain async iterable over fixed batches: what a ShardReader yields, without the I/O.
  const batches = (...list: RecordBatch[]): AsyncIterable<RecordBatch> => ({
    [Symbol.asyncIterator]: () => {
      let i = 0;
      return {
        next: () =>
          Promise.resolve(i < list.length ? { value: list[i++]!, done: false } : { value: undefined, done: true }),
      };
    },
  });
  const batch = (records: _Record[], shardEnd = false): RecordBatch => ({
    shardId: 's',
    records,
    shardEnd,
    millisBehindLatest: 0,
  });

  it('stops at the first record at or after the time, across batches', async () => {
    const at = Date.parse('2026-12-03T10:05:00Z');
    const scan = await scanShard(
      batches(
        batch([record(1, '2026-12-03T10:00:00Z'), record(2, '2026-12-03T10:04:59Z')]),
        batch([record(3, '2026-12-03T10:05:00Z'), record(4, '2026-12-03T10:06:00Z')]),
      ),
      at,
    );
    expect(scan).toEqual({ lastBefore: '000000000000000000002', reached: true, closed: false });
  });

  it('a closed shard read to its end before the time is finished; an open one stops at its tip', async () => {
    const at = Date.parse('2026-12-03T11:00:00Z');
    expect(await scanShard(batches(batch([record(1, '2026-12-03T10:00:00Z')], true)), at)).toEqual({
      lastBefore: '000000000000000000001',
      reached: false,
      closed: true,
    });
    const empties = Array.from({ length: EMPTY_PAGES_AT_TIP }, () => batch([]));
    expect(await scanShard(batches(batch([record(1, '2026-12-03T10:00:00Z')]), ...empties), at)).toEqual({
      lastBefore: '000000000000000000001',
      reached: false,
      closed: false,
    });
  });

  it('reads through empty pages before records of an open shard (GetRecords may need several calls)', async () => {
    const at = Date.parse('2026-12-03T10:05:00Z');
    const scan = await scanShard(
      batches(
        batch([]),
        batch([]),
        batch([record(1, '2026-12-03T10:00:00Z')]),
        batch([]),
        batch([record(2, '2026-12-03T10:06:00Z')]),
      ),
      at,
    );
    expect(scan).toEqual({ lastBefore: '000000000000000000001', reached: true, closed: false });
  });
});
