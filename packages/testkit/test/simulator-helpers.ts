import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type _Record,
  type DynamoDBStreamsClientConfig,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import type { ShardInfo } from '@shardline/core';
import { startStreamSimulator, type StreamSimulator, type StreamSimulatorOptions } from '../src/simulator/index.js';

/** Simulators and clients opened by a test file, closed by `closeAll()` in afterEach. */
export class Fixture {
  readonly #sims: StreamSimulator[] = [];
  readonly #clients: DynamoDBStreamsClient[] = [];

  async sim(options: StreamSimulatorOptions = {}): Promise<StreamSimulator> {
    const sim = await startStreamSimulator(options);
    this.#sims.push(sim);
    return sim;
  }

  /** The real SDK client, pointed at the simulator. */
  client(sim: StreamSimulator, config: DynamoDBStreamsClientConfig = {}): DynamoDBStreamsClient {
    const client = new DynamoDBStreamsClient({
      endpoint: sim.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      ...config,
    });
    this.#clients.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    for (const client of this.#clients.splice(0)) client.destroy();
    await Promise.all(this.#sims.splice(0).map((sim) => sim.stop()));
  }
}

export async function iterator(
  client: DynamoDBStreamsClient,
  sim: StreamSimulator,
  shardId: string,
  type: ShardIteratorType = 'TRIM_HORIZON',
  sequenceNumber?: string,
): Promise<string> {
  const out = await client.send(
    new GetShardIteratorCommand({
      StreamArn: sim.streamArn,
      ShardId: shardId,
      ShardIteratorType: type,
      SequenceNumber: sequenceNumber,
    }),
  );
  if (!out.ShardIterator) throw new Error('no iterator');
  return out.ShardIterator;
}

/** Reads a shard from an iterator until the shard ends (closed) or a poll comes back empty (open). */
export async function drain(
  client: DynamoDBStreamsClient,
  start: string,
  limit = 1000,
): Promise<{ records: _Record[]; ended: boolean; calls: number }> {
  const records: _Record[] = [];
  let next: string | undefined = start;
  let calls = 0;
  while (next) {
    const out: GetRecordsCommandOutput = await client.send(
      new GetRecordsCommand({ ShardIterator: next, Limit: limit }),
    );
    calls++;
    records.push(...(out.Records ?? []));
    next = out.NextShardIterator;
    if ((out.Records ?? []).length === 0 && next) return { records, ended: false, calls };
  }
  return { records, ended: true, calls };
}

export async function describeAll(
  client: DynamoDBStreamsClient,
  streamArn: string,
  limit = 100,
): Promise<{ shards: ShardInfo[]; pages: number }> {
  const shards: ShardInfo[] = [];
  let exclusiveStartShardId: string | undefined;
  let pages = 0;
  do {
    const out = await client.send(
      new DescribeStreamCommand({ StreamArn: streamArn, Limit: limit, ExclusiveStartShardId: exclusiveStartShardId }),
    );
    pages++;
    for (const shard of out.StreamDescription?.Shards ?? []) {
      shards.push({
        shardId: shard.ShardId!,
        parentShardId: shard.ParentShardId,
        startingSequenceNumber: shard.SequenceNumberRange?.StartingSequenceNumber,
        endingSequenceNumber: shard.SequenceNumberRange?.EndingSequenceNumber,
      });
    }
    exclusiveStartShardId = out.StreamDescription?.LastEvaluatedShardId;
  } while (exclusiveStartShardId);
  return { shards, pages };
}

export const seqOf = (record: _Record): string => record.dynamodb!.SequenceNumber!;

/** Rejection of a promise, for asserting on error names and fields. */
export async function failure(
  promise: Promise<unknown>,
): Promise<Error & { $fault?: string; $metadata?: { httpStatusCode?: number }; code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}
