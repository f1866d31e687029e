import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
  type DescribeStreamCommandInput,
  type DescribeStreamCommandOutput,
  type GetRecordsCommandInput,
  type GetRecordsCommandOutput,
  type GetShardIteratorCommandInput,
  type GetShardIteratorCommandOutput,
  type ListStreamsCommandInput,
  type ListStreamsCommandOutput,
} from '@aws-sdk/client-dynamodb-streams';
import { sendAbortable } from './abortable-send.js';

/** The four DynamoDB Streams commands shardline sends. */
export type StreamsCommand = DescribeStreamCommand | GetRecordsCommand | GetShardIteratorCommand | ListStreamsCommand;

/**
 * What shardline needs of a DynamoDB Streams client: `send`. A `DynamoDBStreamsClient` fits, and
 * so does a plain object in tests (`{ send: async (command) => … }`, dispatching on
 * `command instanceof GetRecordsCommand` and reading `command.input`).
 */
export interface StreamsClient {
  send(command: StreamsCommand, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

export async function describeStreamCall(
  client: StreamsClient,
  input: DescribeStreamCommandInput,
  signal?: AbortSignal,
): Promise<DescribeStreamCommandOutput> {
  return (await sendAbortable(client, new DescribeStreamCommand(input), signal)) as DescribeStreamCommandOutput;
}

export async function listStreamsCall(
  client: StreamsClient,
  input: ListStreamsCommandInput,
  signal?: AbortSignal,
): Promise<ListStreamsCommandOutput> {
  return (await sendAbortable(client, new ListStreamsCommand(input), signal)) as ListStreamsCommandOutput;
}

export async function getShardIteratorCall(
  client: StreamsClient,
  input: GetShardIteratorCommandInput,
  signal?: AbortSignal,
): Promise<GetShardIteratorCommandOutput> {
  return (await sendAbortable(client, new GetShardIteratorCommand(input), signal)) as GetShardIteratorCommandOutput;
}

export async function getRecordsCall(
  client: StreamsClient,
  input: GetRecordsCommandInput,
  signal?: AbortSignal,
): Promise<GetRecordsCommandOutput> {
  return (await sendAbortable(client, new GetRecordsCommand(input), signal)) as GetRecordsCommandOutput;
}
