import type { Clock } from '@shardline/core';
import { decodeIterator, encodeIterator } from './iterators.js';
import { notFound, ServiceError, validation } from './errors.js';
import { KEY_ATTRIBUTE } from './records.js';
import type { Position, Shard } from './store.js';
import type { StreamEntry, StreamRegistry } from './streams.js';
import type { Operation } from './types.js';

/** GetRecords answers at most this many bytes of records (at least one record). */
export const MAX_RECORDS_BYTES = 1024 * 1024;

export interface ProtocolContext {
  streams: StreamRegistry;
  clock: Clock;
  iteratorTtlMs: number;
}

type Input = Record<string, unknown>;

/**
 * The four DynamoDB Streams operations over the JSON protocol: request object in, response
 * body out, `ServiceError` for the service's error answers. Shapes follow
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Operations_Amazon_DynamoDB_Streams.html
 */
export function handle(
  context: ProtocolContext,
  operation: Operation,
  input: Input,
  options: { empty?: boolean } = {},
): string {
  switch (operation) {
    case 'ListStreams':
      return listStreams(context, input);
    case 'DescribeStream':
      return describeStream(context, input);
    case 'GetShardIterator':
      return getShardIterator(context, input);
    case 'GetRecords':
      return getRecords(context, input, options.empty === true);
  }
}

function listStreams({ streams }: ProtocolContext, input: Input): string {
  const limit = optionalLimit(input.Limit, 'limit', 100);
  const tableName = optionalString(input.TableName, 'tableName');
  const exclusiveStart = optionalString(input.ExclusiveStartStreamArn, 'exclusiveStartStreamArn');
  let candidates = streams.list().filter((entry) => tableName === undefined || entry.meta.tableName === tableName);
  if (exclusiveStart !== undefined)
    candidates = candidates.slice(candidates.findIndex((entry) => entry.meta.streamArn === exclusiveStart) + 1);
  const page = candidates.slice(0, limit);
  const out: Input = {
    Streams: page.map(({ meta }) => ({
      StreamArn: meta.streamArn,
      TableName: meta.tableName,
      StreamLabel: meta.streamLabel,
    })),
  };
  // Like the service, a full page names its last stream even when nothing follows.
  if (page.length > 0 && page.length === limit) out.LastEvaluatedStreamArn = page[page.length - 1]!.meta.streamArn;
  return JSON.stringify(out);
}

function describeStream({ streams }: ProtocolContext, input: Input): string {
  const { store, meta: stream, status } = requireStream(streams, input.StreamArn);
  const limit = optionalLimit(input.Limit, 'limit', 100);
  const exclusiveStart = optionalString(input.ExclusiveStartShardId, 'exclusiveStartShardId');
  let shards: Shard[];
  let full = false;
  if (input.ShardFilter !== undefined && input.ShardFilter !== null) {
    const filter = input.ShardFilter as Input;
    if (typeof filter !== 'object' || filter.Type !== 'CHILD_SHARDS') {
      throw validation(
        `1 validation error detected: Value at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [CHILD_SHARDS]`,
      );
    }
    const parentId = optionalString(filter.ShardId, 'shardFilter.shardId');
    if (parentId === undefined) throw validation('ShardFilter of type CHILD_SHARDS needs a ShardId');
    shards = store.childrenOf(parentId);
  } else {
    shards = store.page(exclusiveStart, limit);
    full = shards.length === limit;
  }
  const description: Input = {
    StreamArn: stream.streamArn,
    StreamLabel: stream.streamLabel,
    StreamStatus: status,
    StreamViewType: stream.viewType,
    CreationRequestDateTime: stream.createdAtMs / 1000,
    TableName: stream.tableName,
    KeySchema: [{ AttributeName: KEY_ATTRIBUTE, KeyType: 'HASH' }],
    Shards: shards.map(shardShape),
  };
  // The service sets LastEvaluatedShardId on a full page even when no shard follows.
  if (full) description.LastEvaluatedShardId = shards[shards.length - 1]!.id;
  return JSON.stringify({ StreamDescription: description });
}

function shardShape(shard: Shard): Input {
  const range: Input = { StartingSequenceNumber: shard.startingSequenceNumber };
  if (shard.endingSequenceNumber !== undefined) range.EndingSequenceNumber = shard.endingSequenceNumber;
  const out: Input = { ShardId: shard.id, SequenceNumberRange: range };
  if (shard.parentId !== undefined) out.ParentShardId = shard.parentId;
  return out;
}

function getShardIterator({ streams, clock }: ProtocolContext, input: Input): string {
  const { store, meta: stream } = requireStream(streams, input.StreamArn);
  const shardId = optionalString(input.ShardId, 'shardId');
  if (shardId === undefined)
    throw validation(
      `1 validation error detected: Value null at 'shardId' failed to satisfy constraint: Member must not be null`,
    );
  const type = input.ShardIteratorType;
  store.sweep();
  const shard = store.get(shardId);
  if (!shard) throw notFound(`Requested resource not found: Shard does not exist`);
  store.trim(shard);
  let position: Position;
  switch (type) {
    case 'TRIM_HORIZON':
      position =
        shard.trimmedThrough === undefined
          ? { kind: 'at', seq: shard.start }
          : { kind: 'after', seq: shard.trimmedThrough };
      break;
    case 'LATEST':
      position = { kind: 'after', seq: store.lastSequence(shard) };
      break;
    case 'AT_SEQUENCE_NUMBER':
    case 'AFTER_SEQUENCE_NUMBER': {
      const seq = requireSequenceNumber(input.SequenceNumber, type, shard, store);
      position = { kind: type === 'AT_SEQUENCE_NUMBER' ? 'at' : 'after', seq };
      if (store.isTrimmed(shard, position)) {
        throw new ServiceError(
          'TrimmedDataAccessException',
          `Sequence number ${seq} of shard ${shard.id} is beyond the trim horizon`,
        );
      }
      break;
    }
    default:
      throw validation(
        `1 validation error detected: Value ${JSON.stringify(type ?? null)} at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]`,
      );
  }
  const iterator = encodeIterator({
    streamLabel: stream.streamLabel,
    shardId: shard.id,
    position,
    issuedAtMs: clock.now(),
  });
  return JSON.stringify({ ShardIterator: iterator });
}

function requireSequenceNumber(value: unknown, type: string, shard: Shard, store: StreamEntry['store']): bigint {
  if (typeof value !== 'string' || !/^\d{1,40}$/.test(value)) {
    throw validation(
      `Invalid SequenceNumber ${JSON.stringify(value ?? null)}: ${type} needs a decimal sequence number`,
    );
  }
  const seq = BigInt(value);
  if (seq < shard.start || seq > store.lastSequence(shard)) {
    throw validation(
      `Invalid SequenceNumber ${value} for ShardId ${shard.id}: outside the shard's sequence number range`,
    );
  }
  return seq;
}

/**
 * `empty`: answer no records and an iterator at the same place, even on a closed shard. The
 * service may do this ("it might take multiple calls to get to a portion of the shard that
 * contains stream records"), so an empty answer must never be taken for the shard's end.
 */
function getRecords({ streams, clock, iteratorTtlMs }: ProtocolContext, input: Input, empty: boolean): string {
  const state = decodeIterator(input.ShardIterator);
  const limit = optionalLimit(input.Limit, 'limit', 1000);
  const entry = streams.byLabel(state.streamLabel);
  if (!entry) throw validation('Invalid ShardIterator: no such stream (any more)');
  const { store, meta: stream } = entry;
  const now = clock.now();
  if (now - state.issuedAtMs >= iteratorTtlMs) {
    throw new ServiceError(
      'ExpiredIteratorException',
      `Iterator expired. The iterator was created at time ${new Date(state.issuedAtMs).toISOString()} while right now it is ${new Date(now).toISOString()} which is further in the future than the tolerated delay of ${iteratorTtlMs} milliseconds.`,
    );
  }
  store.sweep();
  const shard = store.get(state.shardId);
  if (!shard) throw new ServiceError('TrimmedDataAccessException', `Shard ${state.shardId} has been trimmed away`);
  store.trim(shard);
  if (store.isTrimmed(shard, state.position)) {
    throw new ServiceError(
      'TrimmedDataAccessException',
      `The iterator of shard ${shard.id} points to records beyond the trim horizon`,
    );
  }
  const records = shard.records;
  const first = store.indexOf(shard, state.position);
  if (empty) {
    return `{"Records":[],"NextShardIterator":"${encodeIterator({ streamLabel: stream.streamLabel, shardId: shard.id, position: state.position, issuedAtMs: now })}"}`;
  }
  let end = first;
  let bytes = 0;
  while (end < records.length && end - first < limit) {
    const size = records[end]!.bytes;
    if (end > first && bytes + size > MAX_RECORDS_BYTES) break;
    bytes += size;
    end++;
  }
  let body = '{"Records":[';
  for (let i = first; i < end; i++) body += (i > first ? ',' : '') + records[i]!.json;
  body += ']';
  // A closed shard read to its end has no next iterator: that is how readers learn SHARD_END.
  const finished = shard.end !== undefined && end === records.length;
  if (!finished) {
    const position: Position = end > first ? { kind: 'after', seq: records[end - 1]!.seq } : state.position;
    body += `,"NextShardIterator":"${encodeIterator({ streamLabel: stream.streamLabel, shardId: shard.id, position, issuedAtMs: now })}"`;
  }
  return body + '}';
}

function requireStream(streams: StreamRegistry, arn: unknown): StreamEntry {
  if (typeof arn !== 'string' || arn.length === 0) {
    throw validation(
      `1 validation error detected: Value null at 'streamArn' failed to satisfy constraint: Member must not be null`,
    );
  }
  const entry = streams.byArn(arn);
  if (!entry) throw notFound(`Requested resource not found: Stream: ${arn} not found`);
  return entry;
}

function optionalLimit(value: unknown, name: string, max: number): number {
  if (value === undefined || value === null) return max;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw validation(
      `1 validation error detected: Value ${JSON.stringify(value)} at '${name}' failed to satisfy constraint: Member must have value between 1 and ${max}`,
    );
  }
  return value;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw validation(
      `1 validation error detected: Value at '${name}' failed to satisfy constraint: Member must have length greater than or equal to 1`,
    );
  }
  return value;
}
