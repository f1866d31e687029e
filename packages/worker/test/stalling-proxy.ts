import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';

/** What the proxy does with a request the test picked out. */
export type StallMode = 'hold' | 'reset';

/**
 * An HTTP proxy in front of DynamoDB Local that forwards every request except those `pick`
 * selects: those are held unanswered ('hold', an endpoint too loaded to answer in time) or
 * have their connection reset ('reset', an endpoint that went away). Real sockets, so the SDK's
 * own abort and error paths run, as they do against an overloaded or unreachable endpoint.
 */
export async function startStallingProxy(
  upstream: string,
  pick: (target: string, body: string) => StallMode | undefined,
): Promise<{ endpoint: string; held: () => number; close(): Promise<void> }> {
  const target = new URL(upstream);
  const held = new Set<ServerResponse>();
  let heldCount = 0;
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const out = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    out.end(body);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const mode = pick(String(req.headers['x-amz-target'] ?? ''), body.toString('utf8'));
      if (mode === 'reset') return req.socket.destroy();
      if (mode === 'hold') {
        heldCount++;
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      forward(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    held: () => heldCount,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
