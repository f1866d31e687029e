import { describe, expect, it } from 'vitest';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DeliveredRecord, rawRecord, toStreamRecord } from '../src/stream-record.js';

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

/** The record the worker delivered before images were lazy: one plain object, every field its own. */
function eagerRecord(record: _Record) {
  const data = record.dynamodb!;
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion,
    eventSource: record.eventSource,
    awsRegion: record.awsRegion,
    dynamodb: data,
    userIdentity: record.userIdentity,
    sequenceNumber: data.SequenceNumber,
    keys: data.Keys ? unmarshall(data.Keys) : {},
    newItem: data.NewImage ? unmarshall(data.NewImage) : undefined,
    oldItem: data.OldImage ? unmarshall(data.OldImage) : undefined,
  };
}

describe('toStreamRecord', () => {
  it('keeps every field of the record as GetRecords returned it, and gives the unmarshalled images', () => {
    const record = toStreamRecord<{ pk: string; total: number; tags?: Set<string> }>(raw);
    expect({ ...record, keys: record.keys, newItem: record.newItem, oldItem: record.oldItem }).toEqual({
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
    expect(toStreamRecord({ eventID: 'x', dynamodb: { SequenceNumber: '8' } }).keys).toEqual({});
  });

  it('refuses a record without a sequence number', () => {
    expect(() => toStreamRecord({ eventID: 'x', dynamodb: {} })).toThrow(/no SequenceNumber/);
  });
});

describe('DeliveredRecord: images unmarshalled on first access', () => {
  it('unmarshalls nothing until an image is read, then once (cached)', () => {
    const record = toStreamRecord(raw);
    // An image that cannot be unmarshalled proves the getter has not run yet.
    const poisoned = toStreamRecord({
      ...raw,
      dynamodb: { ...raw.dynamodb, NewImage: { bad: {} as never }, SequenceNumber: '9' },
    });
    expect(poisoned.sequenceNumber).toBe('9');
    expect(poisoned.keys).toEqual({ pk: 'order-1' });
    expect(() => poisoned.newItem).toThrow();
    expect(record.newItem).toBe(record.newItem);
    expect(record.keys).toBe(record.keys);
    expect(record.oldItem).toBe(record.oldItem);
  });

  it('JSON.stringify gives exactly the eager record’s JSON; spread and Object.keys see the own fields only', () => {
    const record = toStreamRecord(raw);
    expect(JSON.stringify(record)).toBe(JSON.stringify(eagerRecord(raw)));
    const keysOnly = { eventID: 'k', dynamodb: { Keys: raw.dynamodb!.Keys, SequenceNumber: '3' } };
    expect(JSON.stringify(toStreamRecord(keysOnly))).toBe(JSON.stringify(eagerRecord(keysOnly)));
    expect(Object.keys(record)).toEqual([
      'eventID',
      'eventName',
      'eventVersion',
      'eventSource',
      'awsRegion',
      'dynamodb',
      'userIdentity',
      'sequenceNumber',
    ]);
    expect('newItem' in { ...record }).toBe(false);
    expect(structuredClone(record)).not.toHaveProperty('keys');
  });

  it('the images stay assignable, as on the plain object they replace', () => {
    const record = toStreamRecord<{ pk: string }>(raw);
    record.newItem = { pk: 'changed' };
    record.keys = { pk: 'k' };
    record.oldItem = undefined;
    expect([record.newItem, record.keys, record.oldItem]).toEqual([{ pk: 'changed' }, { pk: 'k' }, undefined]);
  });

  it('rawRecord gives the record as GetRecords returned it (what a failure destination stores)', () => {
    const record = toStreamRecord(raw);
    void record.newItem;
    expect(rawRecord(record)).toBe(raw);
    expect(DeliveredRecord.rawOf({})).toBeUndefined();
    // A record built by hand (tests, other callers): the fields shardline adds are stripped.
    const plain = { ...raw, sequenceNumber: '1', keys: {}, newItem: undefined, oldItem: undefined };
    expect(rawRecord(plain)).toEqual(raw);
    expect(rawRecord(plain)).not.toHaveProperty('keys');
  });
});
