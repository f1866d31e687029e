import { createServer, type Server, type Socket } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-dynamodb-streams';
import { ConfigError, RetriesExceededError, TransientError } from '@shardline/core';
import { listShards } from '@shardline/streams';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLIENT_DEFAULTS,
  createDynamoDBClient,
  createDynamoDBStreamsClient,
  logSdkRetries,
  resolveClientOptions,
  SDK_MAX_ATTEMPTS,
} from '../src/clients.js';
import { resolveWorkerOptions } from '../src/options.js';

/** A TCP server that accepts connections and never answers: a hung request. */
async function blackHole(): Promise<{ endpoint: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no address');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    connections: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-01T00:00:00.000';

/** Settles with the promise's outcome, or rejects after `ms` of real time (the test's deadline). */
async function within<T>(promise: Promise<T>, ms: number): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms: the request hung`)), ms);
  });
  try {
    return await Promise.race([Promise.allSettled([promise]).then(([r]) => r), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe('client helpers', () => {
  it.each([
    ['DynamoDB', () => createDynamoDBClient, () => new ListTablesCommand({})],
    ['DynamoDB Streams', () => createDynamoDBStreamsClient, () => new ListStreamsCommand({})],
  ] as const)(
    'a %s request to a server that never answers fails with a TimeoutError',
    async (_name, factory, command) => {
      const hole = await blackHole();
      closers.push(() => hole.close());
      const client = factory()({
        endpoint: hole.endpoint,
        region: 'us-east-1',
        credentials,
        requestTimeoutMs: 200,
        maxAttempts: 1,
      });
      closers.push(() => client.destroy());

      const result = await within((client.send as (c: unknown) => Promise<unknown>)(command()), 10_000);
      expect(result.status).toBe('rejected');
      const error = (result as PromiseRejectedResult).reason as Error;
      expect(error.name).toBe('TimeoutError');
      expect(error.message).toMatch(/200 ms requestTimeout/);
      expect(hole.connections()).toBe(1); // it did connect: the request itself hung
    },
  );

  it('built clients make one attempt (maxAttempts 1); a timed-out attempt is retried by the shardline layer that owns the call', async () => {
    const hole = await blackHole();
    closers.push(() => hole.close());
    const options = { endpoint: hole.endpoint, region: 'us-east-1', credentials, requestTimeoutMs: 200 };
    const dynamodb = createDynamoDBClient(options);
    const streams = createDynamoDBStreamsClient(options);
    closers.push(
      () => dynamodb.destroy(),
      () => streams.destroy(),
    );
    expect(await dynamodb.config.maxAttempts()).toBe(SDK_MAX_ATTEMPTS);
    expect(await streams.config.maxAttempts()).toBe(1);
    // callStreams owns DescribeStream: it classifies the SDK's TimeoutError as transient and retries it.
    const result = await within(listShards(streams, STREAM_ARN, { maxAttempts: 2, random: () => 0 }), 10_000);
    expect(result.status).toBe('rejected');
    const error = (result as PromiseRejectedResult).reason as RetriesExceededError;
    expect(error).toBeInstanceOf(RetriesExceededError);
    expect(error.attempts).toBe(2);
    expect(error.cause).toBeInstanceOf(TransientError);
    expect(((error.cause as TransientError).cause as Error).name).toBe('TimeoutError');
    expect(hole.connections()).toBe(2); // one request per attempt: the SDK did not retry underneath
  });

  it('logs once when a client passed in keeps SDK retries (attempts multiply)', async () => {
    const lines: Array<{ obj: unknown; msg: string | undefined }> = [];
    const logger = {
      info: (obj: unknown, msg?: string) => void lines.push({ obj, msg }),
      warn: (obj: unknown, msg?: string) => void lines.push({ obj, msg }),
    } as unknown as Parameters<typeof logSdkRetries>[1];
    const retrying = new DynamoDBClient({ region: 'us-east-1', credentials, maxAttempts: 3 });
    const built = createDynamoDBStreamsClient({ region: 'us-east-1', credentials });
    closers.push(
      () => retrying.destroy(),
      () => built.destroy(),
    );
    await logSdkRetries({ dynamodb: built, streams: undefined }, logger);
    expect(lines).toEqual([]);
    await logSdkRetries({ dynamodb: retrying, streams: built }, logger);
    expect(lines.map((l) => l.obj)).toEqual([{ maxAttempts: { dynamodb: 3 } }]);
    expect(lines[0]?.msg).toMatch(/attempts multiply/);
  });

  it('resolves documented defaults and rejects inconsistent timeouts', () => {
    expect(resolveClientOptions()).toMatchObject({ requestTimeoutMs: 10_000, connectionTimeoutMs: 3_000 });
    expect(CLIENT_DEFAULTS).toEqual({ requestTimeoutMs: 10_000, connectionTimeoutMs: 3_000 });
    expect(resolveClientOptions({ requestTimeoutMs: 200 }).connectionTimeoutMs).toBe(200);
    expect(() => resolveClientOptions({ requestTimeoutMs: 0 })).toThrow(ConfigError);
    expect(() => resolveClientOptions({ requestTimeoutMs: 1_000, connectionTimeoutMs: 2_000 })).toThrow(
      /lower connectionTimeoutMs/,
    );
    expect(() => resolveClientOptions({ requestTimeout: 5 } as never)).toThrow(ConfigError);
    const worker = { processor: { processRecords: () => undefined }, tableName: 'orders' };
    expect(resolveWorkerOptions(worker)).toMatchObject({ requestTimeoutMs: 10_000, connectionTimeoutMs: 3_000 });
    expect(resolveWorkerOptions({ ...worker, requestTimeoutMs: 1_500 })).toMatchObject({
      requestTimeoutMs: 1_500,
      connectionTimeoutMs: 1_500,
    });
    expect(() => resolveWorkerOptions({ ...worker, requestTimeoutMs: 1_000, connectionTimeoutMs: 5_000 })).toThrow(
      ConfigError,
    );
  });
});
