import { createServer, type Server, type Socket } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-dynamodb-streams';
import { ConfigError } from '@shardline/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLIENT_DEFAULTS,
  createDynamoDBClient,
  createDynamoDBStreamsClient,
  resolveClientOptions,
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

  it('retries a timed-out attempt (the SDK treats a TimeoutError as transient)', async () => {
    const hole = await blackHole();
    closers.push(() => hole.close());
    const client = createDynamoDBClient({
      endpoint: hole.endpoint,
      region: 'us-east-1',
      credentials,
      requestTimeoutMs: 200,
      maxAttempts: 2,
    });
    closers.push(() => client.destroy());
    const result = await within(client.send(new ListTablesCommand({})), 10_000);
    expect(result.status).toBe('rejected');
    expect(((result as PromiseRejectedResult).reason as Error).name).toBe('TimeoutError');
    expect(hole.connections()).toBe(2);
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
