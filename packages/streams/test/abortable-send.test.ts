import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDBStreamsClient, GetRecordsCommand } from '@aws-sdk/client-dynamodb-streams';
import { startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { enableCachedAbortableSends, sendAbortable } from '../src/abortable-send.js';
import { getRecordsCall, getShardIteratorCall } from '../src/client.js';

const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
const opened: Array<{ destroy(): void } | StreamSimulator | Server> = [];

afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) {
    if ('destroy' in thing) thing.destroy();
    else if ('endpoint' in thing) await thing.stop();
    else await new Promise((resolve) => thing.close(resolve));
  }
});

function client(endpoint: string, cacheMiddleware: boolean): DynamoDBStreamsClient {
  const c = new DynamoDBStreamsClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1, cacheMiddleware });
  opened.push(c);
  return c;
}

/** An HTTP endpoint that takes requests and never answers: what a half-dead connection looks like. */
async function stalledEndpoint(): Promise<{ endpoint: string; requests: IncomingMessage[]; closed: () => number }> {
  const requests: IncomingMessage[] = [];
  let closed = 0;
  const server = createServer((req) => {
    requests.push(req);
    req.socket.on('close', () => closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.push({ destroy: () => server.closeAllConnections() }, server);
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    closed: () => closed,
  };
}

async function waitUntil(condition: () => boolean, deadlineMs = 5_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('waitUntil: condition still false at the deadline');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The SDK's per-client cache of resolved stacks (smithy-client's `Client.handlers`), keyed by command class. */
const cachedHandlers = (c: DynamoDBStreamsClient) => (c as unknown as { handlers?: WeakMap<object, unknown> }).handlers;

describe('sendAbortable on a client built with cacheMiddleware', () => {
  it('aborting the signal ends the request in flight: the call rejects and the socket is closed', async () => {
    const stalled = await stalledEndpoint();
    const c = client(stalled.endpoint, true);
    enableCachedAbortableSends(c);
    const stop = new AbortController();
    const call = getRecordsCall(c, { ShardIterator: 'it-1' }, stop.signal);
    call.catch(() => undefined);
    await waitUntil(() => stalled.requests.length === 1);
    const abortedAt = Date.now();
    stop.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - abortedAt).toBeLessThan(1_000);
    await waitUntil(() => stalled.closed() === 1);
  });

  it('an already aborted signal sends nothing', async () => {
    const stalled = await stalledEndpoint();
    const c = client(stalled.endpoint, true);
    enableCachedAbortableSends(c);
    await expect(getRecordsCall(c, { ShardIterator: 'it-1' }, AbortSignal.abort())).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(stalled.requests).toHaveLength(0);
  });

  it('reads real records with a signal on every call and keeps the resolved stack cached', async () => {
    const sim = await startStreamSimulator({ shards: 1 });
    opened.push(sim);
    const c = client(sim.endpoint, true);
    enableCachedAbortableSends(c);
    for (let i = 0; i < 3; i++) sim.put(`k${i}`, { n: i });
    const [shardId] = sim.shards().map((s) => s.shardId);
    const signal = new AbortController().signal;
    const it = await getShardIteratorCall(
      c,
      { StreamArn: sim.streamArn, ShardId: shardId!, ShardIteratorType: 'TRIM_HORIZON' },
      signal,
    );
    const first = await getRecordsCall(c, { ShardIterator: it.ShardIterator! }, signal);
    expect(first.Records).toHaveLength(3);
    const handler = cachedHandlers(c)?.get(GetRecordsCommand);
    expect(handler).toBeTypeOf('function');
    await getRecordsCall(c, { ShardIterator: first.NextShardIterator! }, signal);
    expect(cachedHandlers(c)?.get(GetRecordsCommand)).toBe(handler);
  });

  it('a client without cacheMiddleware is left alone and gets the signal in send() options', async () => {
    const stalled = await stalledEndpoint();
    const c = client(stalled.endpoint, false);
    enableCachedAbortableSends(c);
    const stop = new AbortController();
    const call = sendAbortable(c, new GetRecordsCommand({ ShardIterator: 'it-1' }), stop.signal);
    call.catch(() => undefined);
    await waitUntil(() => stalled.requests.length === 1);
    stop.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(cachedHandlers(c)).toBeUndefined();
  });
});
