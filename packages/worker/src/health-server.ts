import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '@shardline/core';

/** What the health server asks the worker; a plain object in tests. */
export interface HealthSource {
  /** Null when healthy, else why not (heartbeat stale, stopped…). */
  liveness(): string | null;
  /** Null when ready, else why not (starting, assignment not settled, stopping). */
  readiness(): string | null;
  metrics(): Promise<string>;
  readonly metricsContentType: string;
}

/** An extra GET route of the health server (`healthRoutes`). */
export type HealthRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** The health server's own paths, which `healthRoutes` may not take. */
export const BUILT_IN_HEALTH_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

export interface HealthServerOptions {
  port: number;
  host: string;
  source: HealthSource;
  logger: Logger;
  /** The event loop counts as stuck when a 500 ms tick is this late. @defaultValue 5_000 */
  maxEventLoopLagMs?: number;
  /** More GET routes by path (`healthRoutes`). @defaultValue none */
  routes?: Readonly<Record<string, HealthRoute>>;
}

/**
 * `/healthz` (liveness: the event loop turns and the lease heartbeat is fresh; JSON
 * `{ status: 'ok' }` or 503 `{ status: 'unhealthy', reason }`), `/readyz`
 * (started and lease assignment settled), `/metrics` (Prometheus). Binds 127.0.0.1 unless told
 * otherwise: metrics name tables and shards, which is nobody else's business by default.
 */
export class HealthServer {
  readonly #o: HealthServerOptions;
  #server: Server | undefined;
  #tick: NodeJS.Timeout | undefined;
  #lastTick = Date.now();

  constructor(options: HealthServerOptions) {
    this.#o = options;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number | undefined {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  async start(): Promise<void> {
    // A timer that stops firing means a blocked loop: liveness fails and Kubernetes restarts us.
    this.#tick = setInterval(() => (this.#lastTick = Date.now()), 500);
    this.#tick.unref();
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#o.logger.error({ err }, 'health server request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#o.logger.info({ host: this.#o.host, port: this.port }, 'health server listening');
  }

  async close(): Promise<void> {
    if (this.#tick) clearInterval(this.#tick);
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/healthz': {
        const lag = Date.now() - this.#lastTick;
        const problem =
          lag > (this.#o.maxEventLoopLagMs ?? 5_000) ? `event loop blocked for ${lag} ms` : this.#o.source.liveness();
        return json(res, problem ? 503 : 200, problem ? { status: 'unhealthy', reason: problem } : { status: 'ok' });
      }
      case '/readyz': {
        const problem = this.#o.source.readiness();
        return text(res, problem ? 503 : 200, problem ?? 'ready');
      }
      case '/metrics': {
        const body = await this.#o.source.metrics();
        res.writeHead(200, { 'content-type': this.#o.source.metricsContentType });
        res.end(body);
        return;
      }
      default: {
        const route = Object.hasOwn(this.#o.routes ?? {}, path) ? this.#o.routes![path] : undefined;
        if (route) return route(req, res);
        return text(
          res,
          404,
          `not found: try ${[...BUILT_IN_HEALTH_PATHS, ...Object.keys(this.#o.routes ?? {})].join(', ')}`,
        );
      }
    }
  }
}

function json(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(`${JSON.stringify(body)}\n`);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${body}\n`);
}
