import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { statusPageHtml } from './page.js';

/**
 * The HTTP side of `shardline status --serve`: `/` is one self-contained HTML page (inline JS and
 * CSS, no CDN, works offline), `/status.json` is what `shardline status --json` prints plus the
 * heartbeat ages this server measured. The page polls the JSON; nothing here reads the lease
 * table itself — `read` is status's own data function (one owner for what "status" means).
 */
export interface StatusServerOptions<R extends StatusLike> {
  /** Reads the application's status once (status's `readStatus`). */
  read: () => Promise<R>;
  /** @defaultValue '127.0.0.1' (the lease table's contents stay on this machine unless widened) */
  host?: string;
  /** 0 picks a free port. @defaultValue 9465 (next to the worker health server's 9464) */
  port?: number;
  /** How often the page asks for `/status.json`. @defaultValue 2_000 */
  refreshMs?: number;
  /** Injected for tests. @defaultValue Date.now */
  now?: () => number;
}

/** The part of a status report the server looks at: the workers' heartbeat counters. */
export interface StatusLike {
  workers: Array<{ workerId: string; heartbeat: number }>;
}

export interface StatusServer {
  url: string;
  close(): Promise<void>;
}

export const STATUS_PAGE_DEFAULTS = { host: '127.0.0.1', port: 9465, refreshMs: 2_000 } as const;

/**
 * A worker's heartbeat is a counter, and its `updatedAt` is the worker's own wall clock: one read
 * cannot tell a live worker from a dead one across machines. This server reads repeatedly, so it
 * can: the age is the time since it last saw the counter move, on this server's clock.
 */
export class HeartbeatAges {
  private readonly seen = new Map<string, { heartbeat: number; at: number }>();

  constructor(private readonly now: () => number) {}

  /** Ms since `workerId`'s counter last moved, as seen here; null before it has moved once. */
  observe(workerId: string, heartbeat: number): number | null {
    const at = this.now();
    const previous = this.seen.get(workerId);
    if (!previous) {
      this.seen.set(workerId, { heartbeat, at: Number.NaN });
      return null;
    }
    if (previous.heartbeat !== heartbeat) {
      this.seen.set(workerId, { heartbeat, at });
      return 0;
    }
    return Number.isNaN(previous.at) ? null : at - previous.at;
  }
}

export async function startStatusServer<R extends StatusLike>(options: StatusServerOptions<R>): Promise<StatusServer> {
  const host = options.host ?? STATUS_PAGE_DEFAULTS.host;
  const refreshMs = options.refreshMs ?? STATUS_PAGE_DEFAULTS.refreshMs;
  const now = options.now ?? Date.now;
  const ages = new HeartbeatAges(now);
  const html = statusPageHtml({ refreshMs });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n');
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', html);
    if (path !== '/status.json') return send(res, 404, 'text/plain', 'not found\n');
    try {
      const report = await options.read();
      const workers = report.workers.map((w) => ({
        ...w,
        heartbeatAgeMs: ages.observe(w.workerId, w.heartbeat),
      }));
      send(res, 200, 'application/json', JSON.stringify({ ...report, workers, readAt: new Date(now()).toISOString() }));
    } catch (err) {
      // The page shows this line and keeps the last good picture.
      send(res, 503, 'application/json', JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? STATUS_PAGE_DEFAULTS.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
