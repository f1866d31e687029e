import type { AttributeValue as SdkAttributeValue, _Record } from '@aws-sdk/client-dynamodb-streams';

/**
 * The DynamoDB Streams event exactly as Lambda hands it to a handler
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html), built from a GetRecords record.
 *
 * These types are structural copies of `@types/aws-lambda`'s `DynamoDBStreamEvent` family: that
 * package is types-only and not a dependency of @shardline/worker, so the public signatures must
 * not name it. test/lambda/types.test.ts proves both directions of assignability, so a handler
 * typed against `@types/aws-lambda` is accepted unchanged.
 */

/** DynamoDB JSON as Lambda serializes it: binary values are base64 strings, numbers strings. */
export type LambdaAttributeValue =
  | { B: string }
  | { BOOL: boolean }
  | { BS: string[] }
  | { L: LambdaAttributeValue[] }
  | { M: Record<string, LambdaAttributeValue> }
  | { N: string }
  | { NS: string[] }
  | { NULL: boolean }
  | { S: string }
  | { SS: string[] };

export type LambdaStreamViewType = 'KEYS_ONLY' | 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES';

export interface LambdaStreamRecord {
  /** Epoch seconds (GetRecords' Date, as Lambda's JSON carries it). */
  ApproximateCreationDateTime?: number | undefined;
  Keys?: Record<string, LambdaAttributeValue> | undefined;
  NewImage?: Record<string, LambdaAttributeValue> | undefined;
  OldImage?: Record<string, LambdaAttributeValue> | undefined;
  SequenceNumber?: string | undefined;
  SizeBytes?: number | undefined;
  StreamViewType?: LambdaStreamViewType | undefined;
}

/** Present on deletes made by TTL only. */
export interface LambdaUserIdentity {
  type: string;
  principalId: string;
}

export interface LambdaDynamoDBRecord {
  eventID?: string | undefined;
  eventName?: 'INSERT' | 'MODIFY' | 'REMOVE' | undefined;
  eventVersion?: string | undefined;
  eventSource?: string | undefined;
  awsRegion?: string | undefined;
  dynamodb?: LambdaStreamRecord | undefined;
  eventSourceARN?: string | undefined;
  userIdentity?: LambdaUserIdentity | undefined;
}

export interface LambdaDynamoDBStreamEvent {
  Records: LambdaDynamoDBRecord[];
}

/** The record format version GetRecords reports today; used when a record carries none. */
const EVENT_VERSION = '1.1';

/**
 * One Lambda record from one GetRecords record of the stream `streamArn`. Field order follows
 * Lambda's example event, absent fields stay absent (Lambda's JSON omits them, it never sends
 * `null`), and the images stay DynamoDB JSON: handlers call `unmarshall` themselves.
 */
export function toLambdaRecord(record: _Record, streamArn: string): LambdaDynamoDBRecord {
  const data = record.dynamodb;
  const out: LambdaDynamoDBRecord = {};
  if (record.eventID !== undefined) out.eventID = record.eventID;
  if (record.eventName !== undefined) out.eventName = record.eventName;
  out.eventVersion = record.eventVersion ?? EVENT_VERSION;
  out.eventSource = 'aws:dynamodb';
  out.awsRegion = record.awsRegion ?? regionOfArn(streamArn);
  if (data) {
    const dynamodb: LambdaStreamRecord = {};
    if (data.ApproximateCreationDateTime !== undefined)
      dynamodb.ApproximateCreationDateTime = epochSeconds(data.ApproximateCreationDateTime);
    if (data.Keys) dynamodb.Keys = toLambdaItem(data.Keys);
    if (data.NewImage) dynamodb.NewImage = toLambdaItem(data.NewImage);
    if (data.OldImage) dynamodb.OldImage = toLambdaItem(data.OldImage);
    if (data.SequenceNumber !== undefined) dynamodb.SequenceNumber = data.SequenceNumber;
    if (data.SizeBytes !== undefined) dynamodb.SizeBytes = data.SizeBytes;
    if (data.StreamViewType !== undefined) dynamodb.StreamViewType = data.StreamViewType;
    out.dynamodb = dynamodb;
  }
  out.eventSourceARN = streamArn;
  // GetRecords names these PrincipalId/Type; Lambda's JSON uses lower camel case
  // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html).
  const identity = record.userIdentity;
  if (identity?.PrincipalId !== undefined || identity?.Type !== undefined) {
    out.userIdentity = { type: identity.Type ?? '', principalId: identity.PrincipalId ?? '' };
  }
  return out;
}

export function toLambdaEvent(records: readonly _Record[], streamArn: string): LambdaDynamoDBStreamEvent {
  return { Records: records.map((r) => toLambdaRecord(r, streamArn)) };
}

/** `arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/…` → `us-east-1` (empty if not an ARN). */
export function regionOfArn(arn: string): string {
  return arn.split(':')[3] ?? '';
}

function epochSeconds(value: Date | number): number {
  // The SDK parses the wire's epoch seconds into a Date; Lambda passes the number through.
  return typeof value === 'number' ? value : value.getTime() / 1000;
}

export function toLambdaItem(item: Record<string, SdkAttributeValue>): Record<string, LambdaAttributeValue> {
  const out: Record<string, LambdaAttributeValue> = {};
  for (const [name, value] of Object.entries(item)) out[name] = toLambdaAttribute(value, name);
  return out;
}

function toLambdaAttribute(value: SdkAttributeValue, path: string): LambdaAttributeValue {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.SS !== undefined) return { SS: [...value.SS] };
  if (value.NS !== undefined) return { NS: [...value.NS] };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.L !== undefined) return { L: value.L.map((v, i) => toLambdaAttribute(v, `${path}[${i}]`)) };
  if (value.M !== undefined) {
    const map: Record<string, LambdaAttributeValue> = {};
    for (const [name, v] of Object.entries(value.M)) map[name] = toLambdaAttribute(v, `${path}.${name}`);
    return { M: map };
  }
  // A type this SDK does not know: passing it on half-converted would hand the function a
  // record Lambda never sends.
  throw new TypeError(`attribute ${path} has a type the DynamoDB Streams SDK does not know: ${JSON.stringify(value)}`);
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Lambda's limit for a synchronous invocation's request, which bounds one event
 * (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: 6 MB).
 */
export const LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;

/** The size of `event` as Lambda would send it: its UTF-8 JSON. */
export function payloadBytes(event: unknown): number {
  return Buffer.byteLength(JSON.stringify(event), 'utf8');
}

/**
 * How the batch gatherer (../batch-gatherer.ts) measures records for a Lambda handler: each one
 * as it appears in the event, plus its comma, against 6 MB less the event's envelope. A
 * gathered batch then always fits one invocation (splitByPayload keeps it whole).
 */
export function lambdaPayloadBatching(limitBytes = LAMBDA_PAYLOAD_LIMIT_BYTES): {
  maxBytes: number;
  recordBytes: (record: _Record, streamArn: string) => number;
} {
  return {
    maxBytes: limitBytes - payloadBytes({ Records: [] }),
    recordBytes: (record, streamArn) => payloadBytes(toLambdaRecord(record, streamArn)) + 1,
  };
}

/**
 * Splits records, in order, into consecutive events that each stay within `limitBytes` when
 * serialized; Lambda shortens a batch the same way before invoking. A record too large on its
 * own still gets an event (a DynamoDB item is at most 400 KB, so this cannot happen with the
 * default limit).
 */
export function splitByPayload(
  records: readonly LambdaDynamoDBRecord[],
  limitBytes = LAMBDA_PAYLOAD_LIMIT_BYTES,
): LambdaDynamoDBRecord[][] {
  // `{"Records":[` + `]}` and one comma between records.
  const envelope = payloadBytes({ Records: [] });
  const chunks: LambdaDynamoDBRecord[][] = [];
  let current: LambdaDynamoDBRecord[] = [];
  let size = envelope;
  for (const record of records) {
    const bytes = payloadBytes(record);
    if (current.length > 0 && size + 1 + bytes > limitBytes) {
      chunks.push(current);
      current = [];
      size = envelope;
    }
    size += (current.length > 0 ? 1 : 0) + bytes;
    current.push(record);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
