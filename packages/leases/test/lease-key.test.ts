import { describe, expect, it } from 'vitest';
import { keyStyleFor, leaseKeyFor, parseLeaseKey, qualifiedLeaseKey, relatedLeaseKey } from '../src/lease-key.js';

const A = 'arn:aws:dynamodb:us-east-1:000000000000:table/a/stream/2026-01-01T00:00:00.000';
const B = 'arn:aws:dynamodb:us-east-1:000000000000:table/b/stream/2026-01-01T00:00:00.000';
const lease = (streamArn: string, shardId: string, leaseKey = qualifiedLeaseKey(streamArn, shardId)) => ({
  streamArn,
  shardId,
  leaseKey,
});

describe('lease keys', () => {
  it('qualify a shard id by its stream and parse back', () => {
    const key = qualifiedLeaseKey(A, 'shardId-00001');
    expect(key).toBe(`${A}#shardId-00001`);
    expect(parseLeaseKey(key)).toEqual({ streamArn: A, shardId: 'shardId-00001' });
    expect(parseLeaseKey('shardId-00001')).toEqual({ shardId: 'shardId-00001' });
    expect(leaseKeyFor('plain', A, 'shardId-1')).toBe('shardId-1');
  });

  it('keep a stream in the style its leases already have; plain wins, so a pre-multi-stream table keeps its keys', () => {
    const legacy = lease(A, 'shardId-1', 'shardId-1');
    expect(keyStyleFor(A, [legacy], [A, B])).toBe('plain');
    expect(keyStyleFor(A, [lease(A, 'shardId-2'), legacy], [A, B])).toBe('plain');
    expect(keyStyleFor(A, [lease(A, 'shardId-2')], [A])).toBe('qualified');
    // A stream without leases: plain only as the only stream of an otherwise empty table.
    expect(keyStyleFor(A, [], [A])).toBe('plain');
    expect(keyStyleFor(A, [], [A, B])).toBe('qualified');
    expect(keyStyleFor(B, [legacy], [B])).toBe('qualified');
  });

  it('name a parent or child in the style of the lease they relate to', () => {
    expect(relatedLeaseKey(lease(A, 'c', 'c'), 'p')).toBe('p');
    expect(relatedLeaseKey(lease(B, 'c'), 'p')).toBe(`${B}#p`);
  });
});
