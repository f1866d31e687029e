import { marshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb-streams';
import type { EventName, StreamViewType } from './types.js';

/** The table's partition key attribute (a string), as in `connectTestDynamoDB().createStreamTable()`. */
export const KEY_ATTRIBUTE = 'pk';

export type AttributeMap = Record<string, AttributeValue>;

/** What a record needs beyond its images; the wire JSON is built once, at write time. */
export interface RecordFields {
  eventId: string;
  eventName: EventName;
  region: string;
  viewType: StreamViewType;
  createdAtMs: number;
  sequenceNumber: string;
  key: string;
  newImage?: AttributeMap | undefined;
  oldImage?: AttributeMap | undefined;
  /** A delete by Time to Live: the service marks it with its own identity. */
  ttl?: boolean | undefined;
}

export interface BuiltRecord {
  /** The record as GetRecords sends it (one element of `Records`), already serialized. */
  json: string;
  /** UTF-8 size of `json`: what the 1 MB GetRecords cap counts. */
  bytes: number;
}

/** An item in DynamoDB JSON, its key attribute forced to `key`. */
export function marshallItem(key: string, item: Record<string, unknown>): AttributeMap {
  return marshall({ ...item, [KEY_ATTRIBUTE]: key }, { removeUndefinedValues: true, convertClassInstanceToMap: true });
}

/**
 * One stream record in the service's shape. Images follow the view type as DynamoDB Streams
 * does: INSERT has no OldImage, REMOVE no NewImage, KEYS_ONLY neither. `SizeBytes` is the
 * size of keys plus images, `ApproximateCreationDateTime` whole epoch seconds.
 */
export function buildRecord(fields: RecordFields): BuiltRecord {
  const keys: AttributeMap = { [KEY_ATTRIBUTE]: { S: fields.key } };
  const withNew = fields.viewType === 'NEW_IMAGE' || fields.viewType === 'NEW_AND_OLD_IMAGES';
  const withOld = fields.viewType === 'OLD_IMAGE' || fields.viewType === 'NEW_AND_OLD_IMAGES';
  const newImage = withNew ? fields.newImage : undefined;
  const oldImage = withOld ? fields.oldImage : undefined;
  const keysJson = JSON.stringify(keys);
  const newJson = newImage ? JSON.stringify(newImage) : undefined;
  const oldJson = oldImage ? JSON.stringify(oldImage) : undefined;
  const sizeBytes =
    Buffer.byteLength(keysJson) +
    (newJson ? Buffer.byteLength(newJson) : 0) +
    (oldJson ? Buffer.byteLength(oldJson) : 0);
  const dynamodb =
    `{"ApproximateCreationDateTime":${Math.floor(fields.createdAtMs / 1000)},"Keys":${keysJson}` +
    (newJson ? `,"NewImage":${newJson}` : '') +
    (oldJson ? `,"OldImage":${oldJson}` : '') +
    `,"SequenceNumber":"${fields.sequenceNumber}","SizeBytes":${sizeBytes},"StreamViewType":"${fields.viewType}"}`;
  const json =
    `{"awsRegion":${JSON.stringify(fields.region)},"dynamodb":${dynamodb},"eventID":"${fields.eventId}",` +
    `"eventName":"${fields.eventName}","eventSource":"aws:dynamodb","eventVersion":"1.1"` +
    (fields.ttl ? ',"userIdentity":{"PrincipalId":"dynamodb.amazonaws.com","Type":"Service"}}' : '}');
  return { json, bytes: Buffer.byteLength(json) };
}
