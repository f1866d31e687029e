import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { ServiceError } from './errors.js';
import type { FaultController } from './faults.js';
import { decodeIterator } from './iterators.js';
import { handle, type ProtocolContext } from './protocol.js';
import { OPERATIONS, type Operation } from './types.js';

const TARGET_PREFIX = 'DynamoDBStreams_20120810.';
const CONTENT_TYPE = 'application/x-amz-json-1.0';

export interface SimulatorServer {
  endpoint: string;
  port: number;
  /** Calls received per operation, faults included. */
  readonly calls: Record<Operation, number>;
  close(): Promise<void>;
}

/**
 * The HTTP face of the simulator on 127.0.0.1: routes `X-Amz-Target` to the protocol
 * handlers, applies injected faults and latency, and answers like the service (status, JSON
 * error body with `__type`). Request signatures are not checked.
 */
export async function startServer(
  port: number,
  context: ProtocolContext,
  faults: FaultController,
): Promise<SimulatorServer> {
  const calls = Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<Operation, number>;
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;

  const respond = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, {
      'content-type': CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(body);
  };

  const answer = (req: IncomingMessage, res: ServerResponse, operation: Operation | undefined, raw: string): void => {
    if (closing) return void req.socket.destroy();
    if (!operation) {
      const target = req.headers['x-amz-target'];
      return respond(
        res,
        400,
        new ServiceError('UnknownOperationException', `Unknown operation ${String(target)}`).body(),
      );
    }
    const decision = faults.decide(operation);
    if (decision.kind === 'reset') return void req.socket.destroy();
    if (decision.kind === 'error') return respond(res, decision.error.status, decision.error.body());
    let input: unknown;
    try {
      input = raw === '' ? {} : JSON.parse(raw);
    } catch {
      return respond(
        res,
        400,
        new ServiceError('SerializationException', 'Start of structure or map found where not expected').body(),
      );
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return respond(res, 400, new ServiceError('SerializationException', 'Expected a JSON object').body());
    }
    const limited = faults.checkLimits(operation, shardOf(operation, input as Record<string, unknown>));
    if (limited.kind === 'error') return respond(res, limited.error.status, limited.error.body());
    try {
      respond(
        res,
        200,
        handle(context, operation, input as Record<string, unknown>, { empty: decision.kind === 'empty' }),
      );
    } catch (err) {
      if (err instanceof ServiceError) return respond(res, err.status, err.body());
      // A simulator bug must be visible to the test, as a 500 with the message.
      const message = err instanceof Error ? err.message : String(err);
      respond(res, 500, new ServiceError('InternalServerError', `simulator failure: ${message}`).body());
    }
  };

  const server = createServer((req, res) => {
    const target = req.headers['x-amz-target'];
    const name =
      typeof target === 'string' && target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : undefined;
    const operation = OPERATIONS.find((op) => op === name);
    if (operation) calls[operation]++;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const delay = faults.delayMs;
      if (delay <= 0) return answer(req, res, operation, raw);
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer(req, res, operation, raw);
      }, delay);
      timers.add(timer);
    });
  });
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${bound}`,
    port: bound,
    calls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The shard a call is about, for per-shard limits; undefined when it names none (or badly). */
function shardOf(operation: Operation, input: Record<string, unknown>): string | undefined {
  if (operation === 'GetShardIterator') return typeof input.ShardId === 'string' ? input.ShardId : undefined;
  if (operation !== 'GetRecords') return undefined;
  try {
    return decodeIterator(input.ShardIterator).shardId;
  } catch {
    return undefined;
  }
}
