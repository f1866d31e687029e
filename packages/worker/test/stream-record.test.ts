import { describe, expect, it } from 'vitest';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { toStreamRecord } from '../src/processor.js';

const raw: _Record = {
  eventID: 'e1',
  eventName: 'MODIFY',
  eventVersion: '1.1',
  eventSource: 'aws:dynamodb',
  awsRegion: 'us-east-1',
  userIdentity: { Type: 'Service', PrincipalId: 'dynamodb.amazonaws.com' },
  dynamodb: {
    ApproximateCreationDateTime: new Date(1_700_000_000_000),
    Keys: { pk: { S: 'order-1' } },
    NewImage: { pk: { S: 'order-1' }, total: { N: '12' }, tags: { SS: ['a', 'b'] } },
    OldImage: { pk: { S: 'order-1' }, total: { N: '10' } },
    SequenceNumber: '100000000000000000001',
    SizeBytes: 60,
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
};

describe('toStreamRecord', () => {
  it('keeps every field of the record as GetRecords returned it, and adds the unmarshalled images', () => {
    const record = toStreamRecord<{ pk: string; total: number; tags?: Set<string> }>(raw);
    expect(record).toEqual({
      ...raw,
      sequenceNumber: '100000000000000000001',
      keys: { pk: 'order-1' },
      newItem: { pk: 'order-1', total: 12, tags: new Set(['a', 'b']) },
      oldItem: { pk: 'order-1', total: 10 },
    });
    expect(record.dynamodb).toBe(raw.dynamodb);
  });

  it('leaves images absent when the view type or the event has none', () => {
    const record = toStreamRecord({
      ...raw,
      eventName: 'REMOVE',
      dynamodb: { Keys: raw.dynamodb!.Keys, SequenceNumber: '7', StreamViewType: 'KEYS_ONLY' },
    });
    expect(record.newItem).toBeUndefined();
    expect(record.oldItem).toBeUndefined();
    expect(record.keys).toEqual({ pk: 'order-1' });
  });

  it('refuses a record without a sequence number', () => {
    expect(() => toStreamRecord({ eventID: 'x', dynamodb: {} })).toThrow(/no SequenceNumber/);
  });
});
