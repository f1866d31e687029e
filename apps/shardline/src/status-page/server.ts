import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { statusPageHtml } from './page.js';
import { StatusObserver, type ObservedReport } from './observer.js';

/**
 * The HTTP side of the status page: one self-contained HTML page (inline JS and CSS, no CDN,
 * works offline) and `status.json` beside it — what `shardline status --json` prints plus what
 * this server measured over repeated reads (heartbeat ages, records/s, recent events). Served
 * by `shardline status --serve` at `/` and, with `--status-page`, by a worker's health server at
 * `/status`. Nothing here reads the lease table itself — `read` is status's own data function
 * (one owner for what "status" means).
 */
export interface StatusPageOptions<R extends ObservedReport> {
  /** Reads the application's status once (status's `readStatus`). */
  read: () => Promise<R>;
  /** How often the page asks for `status.json`. @defaultValue 2_000 */
  refreshMs?: number;
  /** Injected for tests. @defaultValue Date.now */
  now?: (() => number) | undefined;
}

export interface StatusServerOptions<R extends ObservedReport> extends StatusPageOptions<R> {
  /** @defaultValue '127.0.0.1' (the lease table's contents stay on this machine unless widened) */
  host?: string;
  /** 0 picks a free port. @defaultValue 9465 (next to the worker health server's 9464) */
  port?: number;
}

export interface StatusServer {
  url: string;
  close(): Promise<void>;
}

export const STATUS_PAGE_DEFAULTS = { host: '127.0.0.1', port: 9465, refreshMs: 2_000 } as const;

type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The page and its JSON as two request handlers, for whichever server mounts them: the page
 * fetches `status.json` relative to itself, so mount the JSON at `status.json` next to the page
 * (`/` and `/status.json`, or `/status` and `/status.json`). `observer` takes a worker's own
 * events too (`forwardWorkerEvents`).
 */
export function statusPageRoutes<R extends ObservedReport>(
  options: StatusPageOptions<R>,
): { page: Route; json: Route; observer: StatusObserver } {
  const now = options.now ?? Date.now;
  const observer = new StatusObserver(now);
  const html = statusPageHtml({ refreshMs: options.refreshMs ?? STATUS_PAGE_DEFAULTS.refreshMs });
  const page: Route = (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n');
    send(res, 200, 'text/html; charset=utf-8', html);
  };
  const json: Route = async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n');
    try {
      const report = await options.read();
      observer.observe(report);
      const workers = report.workers.map((w) => ({
        ...w,
        heartbeatAgeMs: observer.heartbeatAge(w.workerId, w.heartbeat),
        recordsPerSecond: observer.recordsPerSecond(w.workerId, w.recordsProcessed),
      }));
      const body = { ...report, workers, events: observer.events, readAt: new Date(now()).toISOString() };
      send(res, 200, 'application/json', JSON.stringify(body));
    } catch (err) {
      // The page shows this line and keeps the last good picture.
      send(res, 503, 'application/json', JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    }
  };
  return { page, json, observer };
}

export async function startStatusServer<R extends ObservedReport>(
  options: StatusServerOptions<R>,
): Promise<StatusServer> {
  const host = options.host ?? STATUS_PAGE_DEFAULTS.host;
  const { page, json } = statusPageRoutes(options);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = path === '/' ? page : path === '/status.json' ? json : undefined;
    if (route) void route(req, res);
    else send(res, 404, 'text/plain', 'not found\n');
  });
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
