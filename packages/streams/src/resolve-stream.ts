import { DescribeTableCommand, type DescribeTableCommandOutput } from '@aws-sdk/client-dynamodb';
import type { _Stream as SdkStream } from '@aws-sdk/client-dynamodb-streams';
import { ConfigError, oneOf } from '@shardline/core';
import { callStreams, type StreamsCallOptions } from './call.js';
import { describeStreamCall, listStreamsCall, type StreamsClient } from './client.js';
import { StreamResourceNotFoundError } from './errors.js';

export const STREAM_VIEW_TYPES = ['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES'] as const;
export type StreamViewType = (typeof STREAM_VIEW_TYPES)[number];

/** ListStreams returns at most 100 streams a page. */
const LIST_STREAMS_PAGE_LIMIT = 100;

/** What `resolveStream` needs of a DynamoDB client: DescribeTable. `DynamoDBClient` fits. */
export interface DynamoDBTableClient {
  send(command: DescribeTableCommand, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

export interface ResolveStreamOptions extends StreamsCallOptions {
  streams: StreamsClient;
  /** Lets "no such table" be told apart from "table without a stream". */
  dynamodb?: DynamoDBTableClient;
  /** The table whose current stream to read; or give `streamArn` (or both, checked to agree). */
  tableName?: string;
  streamArn?: string;
  /** The images the processor needs; a stream that can't serve them is refused. */
  requiredViewType?: StreamViewType;
  /** Accept a DISABLED stream (to drain one within its 24 h). @defaultValue false */
  allowDisabled?: boolean;
}

export interface ResolvedStream {
  streamArn: string;
  tableName: string;
  viewType: StreamViewType;
  streamLabel: string;
  status: string;
  /**
   * Older streams of the same table still listed by ListStreams (a stream disabled and
   * re-enabled gets a new ARN; the old one stays readable for 24 h), oldest first.
   */
  previousStreamArns: string[];
}

/** Which view types carry what a processor asks for: KEYS_ONLY is in every record. */
export function viewTypeServes(actual: StreamViewType, required: StreamViewType): boolean {
  if (required === 'KEYS_ONLY' || actual === required) return true;
  return actual === 'NEW_AND_OLD_IMAGES';
}

/**
 * Finds the stream to read and checks it is usable, with ConfigErrors that say what to do: no
 * such table, a table without a stream, a disabled stream, a view type that can't serve the
 * processor. From a table name it pages through ListStreams(TableName), so it works against any
 * Streams endpoint; DescribeTable is used when a DynamoDB client is given.
 */
export async function resolveStream(options: ResolveStreamOptions): Promise<ResolvedStream> {
  const { streams, dynamodb, tableName, streamArn } = options;
  if (!tableName && !streamArn) throw new ConfigError('give a table name or a stream ARN to read');
  if (options.requiredViewType !== undefined) oneOf('requiredViewType', options.requiredViewType, STREAM_VIEW_TYPES);

  let currentArn = streamArn;
  if (tableName && dynamodb) {
    const table = await describeTable(dynamodb, tableName, options);
    const latest = table.Table?.LatestStreamArn;
    if (!latest) throw new ConfigError(`table ${tableName} has no stream; ${enableAdvice(tableName)}`);
    if (table.Table?.StreamSpecification?.StreamEnabled !== true && !options.allowDisabled) {
      throw new ConfigError(`the stream of table ${tableName} is disabled; ${enableAdvice(tableName)}`);
    }
    currentArn ??= latest;
  }

  let tableStreams: SdkStream[] | undefined;
  if (!currentArn && tableName) {
    tableStreams = await listTableStreams(streams, tableName, options);
    currentArn = tableStreams.at(-1)?.StreamArn;
    if (!currentArn) {
      throw new ConfigError(
        `no stream found for table ${tableName}: the table does not exist or has no stream (check the name, region and endpoint; ${enableAdvice(tableName)})`,
      );
    }
  }
  if (!currentArn) throw new ConfigError('give a table name or a stream ARN to read');

  const description = await describeStreamHead(streams, currentArn, options);
  const actualTable = description.TableName ?? tableName;
  if (!actualTable) throw new ConfigError(`stream ${currentArn} did not name its table`);
  if (tableName && description.TableName && description.TableName !== tableName) {
    throw new ConfigError(
      `stream ${currentArn} belongs to table ${description.TableName}, not ${tableName}; give one of the two or make them agree`,
    );
  }
  const status = description.StreamStatus ?? 'UNKNOWN';
  if (status === 'DISABLED' && !options.allowDisabled) {
    throw new ConfigError(
      `stream ${currentArn} is DISABLED (records stay readable for 24 h); ${enableAdvice(actualTable)}`,
    );
  }
  const viewType = oneOf('StreamViewType of the stream', description.StreamViewType, STREAM_VIEW_TYPES);
  const required = options.requiredViewType;
  if (required && !viewTypeServes(viewType, required)) {
    throw new ConfigError(
      `stream of table ${actualTable} has view type ${viewType}, which does not carry what the processor needs (${required}); ` +
        `recreate the stream with StreamViewType=${required === 'KEYS_ONLY' ? 'KEYS_ONLY' : 'NEW_AND_OLD_IMAGES'} or change the processor's options`,
    );
  }
  const streamLabel = description.StreamLabel ?? labelOf(currentArn);

  tableStreams ??= await listTableStreams(streams, actualTable, options);
  const previousStreamArns = tableStreams
    .filter((s) => s.StreamArn && s.StreamArn !== currentArn && (s.StreamLabel ?? labelOf(s.StreamArn)) < streamLabel)
    .map((s) => s.StreamArn!);

  return { streamArn: currentArn, tableName: actualTable, viewType, streamLabel, status, previousStreamArns };
}

/** Every stream of `tableName`, all ListStreams pages, oldest first (by stream label). */
export async function listTableStreams(
  streams: StreamsClient,
  tableName: string,
  options: StreamsCallOptions = {},
): Promise<SdkStream[]> {
  const byArn = new Map<string, SdkStream>();
  const usedStarts = new Set<string>();
  let exclusiveStart: string | undefined;
  for (;;) {
    const page = await callStreams(
      { operation: 'ListStreams' },
      'ListStreams',
      (signal) =>
        listStreamsCall(
          streams,
          {
            TableName: tableName,
            Limit: LIST_STREAMS_PAGE_LIMIT,
            ...(exclusiveStart ? { ExclusiveStartStreamArn: exclusiveStart } : {}),
          },
          signal,
        ),
      options,
    );
    const list = page.Streams ?? [];
    for (const s of list) if (s.StreamArn && (!s.TableName || s.TableName === tableName)) byArn.set(s.StreamArn, s);
    const next = page.LastEvaluatedStreamArn;
    if (!next || list.length === 0 || usedStarts.has(next)) break;
    usedStarts.add(next);
    exclusiveStart = next;
  }
  const label = (s: SdkStream) => s.StreamLabel ?? labelOf(s.StreamArn ?? '');
  return [...byArn.values()].sort((a, b) => (label(a) < label(b) ? -1 : label(a) > label(b) ? 1 : 0));
}

async function describeStreamHead(streams: StreamsClient, streamArn: string, options: StreamsCallOptions) {
  try {
    const out = await callStreams(
      { operation: 'DescribeStream', streamArn },
      'DescribeStream',
      (signal) => describeStreamCall(streams, { StreamArn: streamArn, Limit: 1 }, signal),
      options,
    );
    if (!out.StreamDescription) throw new ConfigError(`DescribeStream of ${streamArn} answered without a description`);
    return out.StreamDescription;
  } catch (err) {
    if (err instanceof StreamResourceNotFoundError) {
      throw new ConfigError(
        `stream ${streamArn} not found (check the ARN, region and endpoint; a disabled stream disappears after 24 h)`,
        { cause: err },
      );
    }
    throw err;
  }
}

async function describeTable(
  dynamodb: DynamoDBTableClient,
  tableName: string,
  options: StreamsCallOptions,
): Promise<DescribeTableCommandOutput> {
  try {
    return await callStreams(
      { operation: 'DescribeTable' },
      undefined,
      async (signal) =>
        (await dynamodb.send(
          new DescribeTableCommand({ TableName: tableName }),
          signal ? { abortSignal: signal } : undefined,
        )) as DescribeTableCommandOutput,
      options,
    );
  } catch (err) {
    if (err instanceof StreamResourceNotFoundError) {
      throw new ConfigError(`table ${tableName} does not exist (check the name, region and endpoint)`, { cause: err });
    }
    throw err;
  }
}

/** The label is the ARN's last path part: `…/stream/2026-11-25T02:24:10.492`. */
function labelOf(streamArn: string): string {
  return streamArn.slice(streamArn.lastIndexOf('/') + 1);
}

function enableAdvice(tableName: string): string {
  return `enable one with: aws dynamodb update-table --table-name ${tableName} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES`;
}
