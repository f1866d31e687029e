// A TCP fault proxy for the chaos suite (node:net): forwards to `target` and, per mode, adds
// latency, resets connections or blackholes them (accepts, reads, never answers), so one
// connection class of one process (its lease table, or its streams) can be cut on its own.
// `{ delayMs: [min, max] }` delays every chunk by a random time in that range while keeping the
// byte order of each direction (a chunk never overtakes the one before it); `resetNow()` resets
// the live connections once and leaves the mode as it is.
import { createServer, connect } from 'node:net';

/**
 * @param {{ host: string, port: number }} target
 * @returns {Promise<{ port: number, endpoint: string, mode: (m: 'pass' | 'blackhole' | 'reset' | { delayMs: number | [number, number] }) => void, resetNow: () => void, close: () => Promise<void> }>}
 */
export async function startFaultProxy(target, random = Math.random) {
  let mode = 'pass';
  const delayOf = () => {
    if (typeof mode !== 'object') return 0;
    const [min, max] = Array.isArray(mode.delayMs) ? mode.delayMs : [mode.delayMs, mode.delayMs];
    return min + random() * (max - min);
  };
  // Per direction: the time the previous chunk goes out, so later chunks never overtake it.
  const relay = (to) => {
    let lastAt = 0;
    return (chunk) => {
      const at = Math.max(Date.now() + delayOf(), lastAt);
      lastAt = at;
      const wait = at - Date.now();
      if (wait > 0) setTimeout(() => to.destroyed || to.write(chunk), wait);
      else to.write(chunk);
    };
  };
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
    const toUpstream = relay(upstream);
    const toClient = relay(client);
    client.on('data', (chunk) => {
      if (mode === 'blackhole') return; // swallowed: the caller's request timeout decides
      if (mode === 'reset') return client.resetAndDestroy();
      toUpstream(chunk);
    });
    upstream.on('data', (chunk) => {
      if (mode === 'blackhole') return;
      toClient(chunk);
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
    resetNow: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
