import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  payloadBytes,
  regionOfArn,
  splitByPayload,
  toLambdaEvent,
  toLambdaRecord,
  type LambdaDynamoDBRecord,
  type LambdaDynamoDBStreamEvent,
} from '../../src/lambda/event.js';
import { toStreamRecord } from '../../src/stream-record.js';

const STREAM = 'arn:aws:dynamodb:us-west-2:111122223333:table/TestTable/stream/2015-05-11T21:21:33.291';

/** The MODIFY record of Lambda's example event (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html), as GetRecords returns it. */
const modify: _Record = {
  eventID: '2',
  eventName: 'MODIFY',
  eventVersion: '1.1',
  eventSource: 'aws:dynamodb',
  awsRegion: 'us-west-2',
  dynamodb: {
    ApproximateCreationDateTime: new Date(1_479_499_740_000),
    Keys: { Id: { N: '101' } },
    NewImage: { Message: { S: 'This item has changed' }, Id: { N: '101' } },
    OldImage: { Message: { S: 'New item!' }, Id: { N: '101' } },
    SequenceNumber: '222',
    SizeBytes: 59,
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
};

describe('the Lambda event', () => {
  it('is the record as Lambda delivers it: DynamoDB JSON images, epoch seconds, the stream ARN', () => {
    expect(toLambdaEvent([modify], STREAM)).toEqual({
      Records: [
        {
          eventID: '2',
          eventName: 'MODIFY',
          eventVersion: '1.1',
          eventSource: 'aws:dynamodb',
          awsRegion: 'us-west-2',
          dynamodb: {
            ApproximateCreationDateTime: 1_479_499_740,
            Keys: { Id: { N: '101' } },
            NewImage: { Message: { S: 'This item has changed' }, Id: { N: '101' } },
            OldImage: { Message: { S: 'New item!' }, Id: { N: '101' } },
            SequenceNumber: '222',
            SizeBytes: 59,
            StreamViewType: 'NEW_AND_OLD_IMAGES',
          },
          eventSourceARN: STREAM,
        },
      ],
    });
  });

  it('keeps the field order of Lambda’s example, so the JSON reads the same', () => {
    const record = toLambdaRecord(modify, STREAM);
    expect(Object.keys(record)).toEqual([
      'eventID',
      'eventName',
      'eventVersion',
      'eventSource',
      'awsRegion',
      'dynamodb',
      'eventSourceARN',
    ]);
    expect(Object.keys(record.dynamodb!)).toEqual([
      'ApproximateCreationDateTime',
      'Keys',
      'NewImage',
      'OldImage',
      'SequenceNumber',
      'SizeBytes',
      'StreamViewType',
    ]);
  });

  it('builds the same record from a shardline StreamRecord (the extra fields are not copied)', () => {
    expect(toLambdaRecord(toStreamRecord(modify), STREAM)).toEqual(toLambdaRecord(modify, STREAM));
  });

  it('names the TTL service principal in lower camel case, as Lambda does, and only when GetRecords has one', () => {
    const ttlDelete: _Record = {
      ...modify,
      eventName: 'REMOVE',
      userIdentity: { Type: 'Service', PrincipalId: 'dynamodb.amazonaws.com' },
    };
    expect(toLambdaRecord(ttlDelete, STREAM).userIdentity).toEqual({
      type: 'Service',
      principalId: 'dynamodb.amazonaws.com',
    });
    expect(toLambdaRecord(modify, STREAM)).not.toHaveProperty('userIdentity');
  });

  it('serializes binary attributes as base64 at every depth, and sets as lists', () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const record: _Record = {
      eventID: '3',
      eventName: 'INSERT',
      dynamodb: {
        Keys: { pk: { B: bytes } },
        NewImage: {
          pk: { B: bytes },
          blobs: { BS: [bytes, new Uint8Array([7])] },
          nested: { M: { list: { L: [{ B: bytes }, { NULL: true }, { BOOL: false }] } } },
          names: { SS: ['a', 'b'] },
          counts: { NS: ['1', '2.5'] },
        },
        SequenceNumber: '333',
        SizeBytes: 40,
        StreamViewType: 'NEW_IMAGE',
      },
    };
    const b64 = Buffer.from(bytes).toString('base64');
    expect(toLambdaRecord(record, STREAM).dynamodb).toEqual({
      Keys: { pk: { B: b64 } },
      NewImage: {
        pk: { B: b64 },
        blobs: { BS: [b64, 'Bw=='] },
        nested: { M: { list: { L: [{ B: b64 }, { NULL: true }, { BOOL: false }] } } },
        names: { SS: ['a', 'b'] },
        counts: { NS: ['1', '2.5'] },
      },
      SequenceNumber: '333',
      SizeBytes: 40,
      StreamViewType: 'NEW_IMAGE',
    });
  });

  it('takes the region from the stream ARN and the version 1.1 when GetRecords gives none', () => {
    const bare: _Record = { eventID: '4', eventName: 'INSERT', dynamodb: { SequenceNumber: '444' } };
    const record = toLambdaRecord(bare, STREAM);
    expect(record.awsRegion).toBe('us-west-2');
    expect(record.eventVersion).toBe('1.1');
    expect(record.eventSource).toBe('aws:dynamodb');
    expect(regionOfArn('not-an-arn')).toBe('');
  });

  it('refuses an attribute type the SDK did not recognise instead of passing it on half-converted', () => {
    const odd = {
      eventID: '5',
      dynamodb: { Keys: { pk: { $unknown: ['X', 1] } }, SequenceNumber: '555' },
    } as unknown as _Record;
    expect(() => toLambdaRecord(odd, STREAM)).toThrow(/attribute pk has a type/);
  });

  it('type-checks as @types/aws-lambda DynamoDBStreamEvent, and theirs as ours', () => {
    const event = toLambdaEvent([modify], STREAM);
    const asTheirs: DynamoDBStreamEvent = event;
    const record: DynamoDBRecord = asTheirs.Records[0]!;
    expect(record.dynamodb?.SequenceNumber).toBe('222');
    expectTypeOf<LambdaDynamoDBStreamEvent>().toExtend<DynamoDBStreamEvent>();
    expectTypeOf<LambdaDynamoDBRecord>().toExtend<DynamoDBRecord>();
  });
});

describe('splitting by the 6 MB payload limit', () => {
  const record = (i: number, size: number): LambdaDynamoDBRecord => ({
    eventID: String(i),
    dynamodb: { SequenceNumber: String(i), NewImage: { pad: { S: 'x'.repeat(size) } } },
  });

  it('keeps every event within the limit and every record, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 40 }),
        fc.integer({ min: 400, max: 3_000 }),
        (sizes, limit) => {
          const records = sizes.map((size, i) => record(i, size));
          const chunks = splitByPayload(records, limit);
          expect(chunks.flat()).toEqual(records);
          for (const chunk of chunks) {
            expect(chunk.length).toBeGreaterThan(0);
            expect(payloadBytes({ Records: chunk })).toBeLessThanOrEqual(limit);
          }
          // Greedy: the next chunk's first record would not have fitted in the previous chunk.
          for (let i = 1; i < chunks.length; i++) {
            expect(payloadBytes({ Records: [...chunks[i - 1]!, chunks[i]![0]!] })).toBeGreaterThan(limit);
          }
        },
      ),
    );
  });

  it('gives a record larger than the limit an event of its own', () => {
    const chunks = splitByPayload([record(1, 10), record(2, 5_000), record(3, 10)], 1_000);
    expect(chunks.map((c) => c.map((r) => r.eventID))).toEqual([['1'], ['2'], ['3']]);
  });
});
