// A TCP fault proxy for the chaos suite (node:net): forwards to `target` and, per mode, adds
// latency, resets connections or blackholes them (accepts, reads, never answers), so one
// connection class of one process (its lease table, or its streams) can be cut on its own.
import { createServer, connect } from 'node:net';

/**
 * @param {{ host: string, port: number }} target
 * @returns {Promise<{ port: number, endpoint: string, mode: (m: 'pass' | 'blackhole' | 'reset' | { delayMs: number }) => void, close: () => Promise<void> }>}
 */
export async function startFaultProxy(target) {
  let mode = 'pass';
  const sockets = new Set();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (mode === 'reset') return client.resetAndDestroy();
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (chunk) => {
      if (mode === 'blackhole') return; // swallowed: the caller's request timeout decides
      if (mode === 'reset') return client.resetAndDestroy();
      const delay = typeof mode === 'object' ? mode.delayMs : 0;
      if (delay > 0) setTimeout(() => upstream.write(chunk), delay);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (mode === 'blackhole') return;
      client.write(chunk);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    mode: (m) => {
      mode = m;
      // Live keep-alive connections get the new mode too: reset them now.
      if (m === 'reset') for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
