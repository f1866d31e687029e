import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  InternalServerError,
  LimitExceededException,
  ListStreamsCommand,
  ResourceNotFoundException,
  TrimmedDataAccessException,
  type DescribeStreamCommandOutput,
  type GetRecordsCommandOutput,
  type GetShardIteratorCommandOutput,
  type ListStreamsCommandOutput,
  type Shard,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import { compareSequenceNumbers, type Clock } from '@shardline/core';
import type { StreamsClient, StreamsCommand } from '../../src/client.js';

export const FAKE_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/fake/stream/2026-11-25T00:00:00.000';
const ITERATOR_TTL_MS = 15 * 60_000;
const meta = { $metadata: { httpStatusCode: 400 } };

export type FaultKind = 'throttle' | '500' | 'reset' | 'expired' | 'trimmed' | 'hang';
type Operation = 'DescribeStream' | 'ListStreams' | 'GetShardIterator' | 'GetRecords';

interface FakeShard {
  shardId: string;
  parentShardId?: string;
  records: _Record[];
  closed: boolean;
  /** Records before this index are trimmed. */
  trimmedBefore: number;
}

/**
 * An in-memory DynamoDB Streams endpoint behind `send`, on an injected clock: iterators expire
 * 15 minutes after issue (each GetRecords hands out a fresh one), trimming by index, scripted
 * faults per operation, and a call log. Every wait honours `abortSignal`.
 */
export class FakeStreams implements StreamsClient {
  readonly calls: Array<{ operation: Operation; input: Record<string, unknown>; at: number }> = [];
  readonly shards = new Map<string, FakeShard>();
  /** Scripted DescribeStream answers, served in order instead of the shard store when set. */
  describeScript: DescribeStreamCommandOutput[] | undefined;
  listStreamsScript: ListStreamsCommandOutput[] | undefined;
  /** DynamoDB Local 3.3 accepts ShardFilter and answers []: model it. */
  shardFilterAlwaysEmpty = false;
  /** Calls currently in flight (for abort promptness checks). */
  inFlight = 0;
  readonly #faults: Array<{ operation: Operation | '*'; kind: FaultKind; count: number }> = [];
  #seq = 1000n;

  constructor(readonly clock: Clock) {}

  addShard(shardId: string, parentShardId?: string): FakeShard {
    const shard: FakeShard = {
      shardId,
      ...(parentShardId ? { parentShardId } : {}),
      records: [],
      closed: false,
      trimmedBefore: 0,
    };
    this.shards.set(shardId, shard);
    return shard;
  }

  /** Appends `n` records to `shardId`, with sequence numbers of 21+ digits, growing. */
  put(shardId: string, n = 1, createdAt = this.clock.now()): _Record[] {
    const shard = this.#shard(shardId);
    if (shard.closed) throw new Error(`fake: shard ${shardId} is closed`);
    const added: _Record[] = [];
    for (let i = 0; i < n; i++) {
      this.#seq += 7n;
      const sequenceNumber = (10n ** 20n + this.#seq).toString();
      const record: _Record = {
        eventID: `e${this.#seq}`,
        eventName: 'INSERT',
        dynamodb: {
          SequenceNumber: sequenceNumber,
          Keys: { pk: { S: `k${this.#seq}` } },
          ApproximateCreationDateTime: new Date(Math.floor(createdAt / 1000) * 1000),
          SizeBytes: 10,
          StreamViewType: 'KEYS_ONLY',
        },
      };
      shard.records.push(record);
      added.push(record);
    }
    return added;
  }

  close(shardId: string): void {
    this.#shard(shardId).closed = true;
  }

  trim(shardId: string, count: number): void {
    const shard = this.#shard(shardId);
    shard.trimmedBefore = Math.max(shard.trimmedBefore, count);
  }

  /** The next `count` calls of `operation` ('*' for any) fail with `kind`. */
  failNext(operation: Operation | '*', kind: FaultKind, count = 1): void {
    this.#faults.push({ operation, kind, count });
  }

  count(operation: Operation): number {
    return this.calls.filter((c) => c.operation === operation).length;
  }

  async send(command: StreamsCommand, options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    const signal = options?.abortSignal;
    const operation = operationOf(command);
    const input = command.input as Record<string, unknown>;
    this.calls.push({ operation, input: { ...input }, at: this.clock.now() });
    this.inFlight++;
    try {
      if (signal?.aborted) throw abortError();
      await Promise.resolve();
      const fault = this.#takeFault(operation);
      if (fault) await this.#fail(fault, signal);
      switch (operation) {
        case 'DescribeStream':
          return this.#describe(input);
        case 'ListStreams':
          return this.#listStreams();
        case 'GetShardIterator':
          return this.#getShardIterator(input);
        case 'GetRecords':
          return this.#getRecords(input);
      }
    } finally {
      this.inFlight--;
    }
  }

  #takeFault(operation: Operation): FaultKind | undefined {
    const fault = this.#faults.find((f) => f.operation === operation || f.operation === '*');
    if (!fault) return undefined;
    if (--fault.count <= 0) this.#faults.splice(this.#faults.indexOf(fault), 1);
    return fault.kind;
  }

  async #fail(kind: FaultKind, signal: AbortSignal | undefined): Promise<never> {
    switch (kind) {
      case 'throttle':
        throw new LimitExceededException({ message: 'Rate exceeded for shard', ...meta });
      case '500':
        throw new InternalServerError({ message: 'internal error', $metadata: { httpStatusCode: 500 } });
      case 'reset':
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      case 'expired':
        throw new ExpiredIteratorException({ message: 'Iterator expired', ...meta });
      case 'trimmed':
        throw new TrimmedDataAccessException({ message: 'trimmed', ...meta });
      case 'hang':
        return new Promise<never>((_, reject) => {
          if (signal?.aborted) return reject(abortError());
          signal?.addEventListener('abort', () => reject(abortError()), { once: true });
        });
    }
  }

  #shard(shardId: string): FakeShard {
    const shard = this.shards.get(shardId);
    if (!shard) throw new ResourceNotFoundException({ message: 'Shard does not exist', ...meta });
    return shard;
  }

  #describe(input: Record<string, unknown>): DescribeStreamCommandOutput {
    if (this.describeScript) {
      const page = this.describeScript.shift();
      if (!page) throw new Error('fake: describe script exhausted (the caller asked for one page too many)');
      return page;
    }
    const filter = input.ShardFilter as { Type: string; ShardId: string } | undefined;
    let all: Shard[] = [...this.shards.values()].map((s) => ({
      ShardId: s.shardId,
      ...(s.parentShardId ? { ParentShardId: s.parentShardId } : {}),
      SequenceNumberRange: {
        StartingSequenceNumber: s.records[0]?.dynamodb?.SequenceNumber ?? '100000000000000000001',
        ...(s.closed
          ? { EndingSequenceNumber: s.records.at(-1)?.dynamodb?.SequenceNumber ?? '100000000000000000001' }
          : {}),
      },
    }));
    if (filter) all = this.shardFilterAlwaysEmpty ? [] : all.filter((s) => s.ParentShardId === filter.ShardId);
    const limit = (input.Limit as number | undefined) ?? 100;
    const start = input.ExclusiveStartShardId ? all.findIndex((s) => s.ShardId === input.ExclusiveStartShardId) + 1 : 0;
    const page = all.slice(start, start + limit);
    return {
      $metadata: {},
      StreamDescription: {
        StreamArn: FAKE_ARN,
        StreamLabel: '2026-11-25T00:00:00.000',
        StreamStatus: 'ENABLED',
        StreamViewType: 'KEYS_ONLY',
        TableName: 'fake',
        Shards: page,
        ...(start + limit < all.length ? { LastEvaluatedShardId: page.at(-1)?.ShardId } : {}),
      },
    };
  }

  #listStreams(): ListStreamsCommandOutput {
    const page = this.listStreamsScript?.shift();
    if (!page) throw new Error('fake: list streams script exhausted');
    return page;
  }

  #getShardIterator(input: Record<string, unknown>): GetShardIteratorCommandOutput {
    const shard = this.#shard(input.ShardId as string);
    const type = input.ShardIteratorType as string;
    const sequenceNumber = input.SequenceNumber as string | undefined;
    let index: number;
    if (type === 'TRIM_HORIZON') index = shard.trimmedBefore;
    else if (type === 'LATEST') index = shard.records.length;
    else {
      const at = shard.records.findIndex(
        (r) => compareSequenceNumbers(r.dynamodb!.SequenceNumber!, sequenceNumber!) >= 0,
      );
      const found = at === -1 ? shard.records.length : at;
      const exact = shard.records[found]?.dynamodb?.SequenceNumber === sequenceNumber;
      index = type === 'AFTER_SEQUENCE_NUMBER' && exact ? found + 1 : found;
      if (index < shard.trimmedBefore) throw new TrimmedDataAccessException({ message: 'position trimmed', ...meta });
    }
    return { $metadata: {}, ShardIterator: this.#iterator(shard.shardId, index) };
  }

  #getRecords(input: Record<string, unknown>): GetRecordsCommandOutput {
    const [shardId, indexText, issuedText] = String(input.ShardIterator).split('|');
    const shard = this.#shard(shardId!);
    const index = Number(indexText);
    if (this.clock.now() - Number(issuedText) >= ITERATOR_TTL_MS)
      throw new ExpiredIteratorException({ message: 'Iterator expired', ...meta });
    if (index < shard.trimmedBefore) throw new TrimmedDataAccessException({ message: 'trimmed', ...meta });
    const limit = (input.Limit as number | undefined) ?? 1000;
    const records = shard.records.slice(index, index + limit);
    const next = index + records.length;
    const ended = shard.closed && next >= shard.records.length;
    return { $metadata: {}, Records: records, ...(ended ? {} : { NextShardIterator: this.#iterator(shardId!, next) }) };
  }

  #iterator(shardId: string, index: number): string {
    return `${shardId}|${index}|${this.clock.now()}`;
  }
}

function operationOf(command: StreamsCommand): Operation {
  if (command instanceof GetRecordsCommand) return 'GetRecords';
  if (command instanceof GetShardIteratorCommand) return 'GetShardIterator';
  if (command instanceof DescribeStreamCommand) return 'DescribeStream';
  if (command instanceof ListStreamsCommand) return 'ListStreams';
  throw new Error('fake: unknown command');
}

function abortError(): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}

/** Advances a ManualClock in steps until `promise` settles (or `maxMs` of virtual time pass). */
export async function driveUntil<T>(
  clock: { advance(ms: number): Promise<void> },
  promise: Promise<T>,
  stepMs = 50,
  maxMs = 60 * 60_000,
): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => (settled = true));
  watched.catch(() => undefined);
  for (let elapsed = 0; !settled && elapsed < maxMs; elapsed += stepMs) await clock.advance(stepMs);
  if (!settled) throw new Error(`still pending after ${maxMs} ms of virtual time`);
  return watched;
}
