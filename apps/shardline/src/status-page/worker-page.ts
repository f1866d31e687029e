import type { HealthRoute, Worker } from '@shardline/worker';
import { oneShotClients, type ClientSettings } from '../commands/operator.js';
import { readStatus } from '../commands/status.js';
import { statusPageRoutes } from './server.js';
import { forwardWorkerEvents } from './worker-events.js';

export interface WorkerStatusPage {
  /** The worker's `healthRoutes`: the page at `/status`, its data at `/status.json`. */
  routes: Record<string, HealthRoute>;
  /** Reads this worker's lease table and takes in its own events; call once the Worker exists. */
  attach(worker: Worker): void;
  close(): void;
}

/**
 * `shardline run --status-page`: the page of `shardline status --serve`, served by the worker's
 * health server. It reads the lease table like `status` does (the one-shot clients of the operator
 * commands: their retry, their local defaults), and adds the events only this worker sees.
 */
export function workerStatusPage(
  endpoints: ClientSettings,
  options: {
    /** The page's clock: every event, the worker's own too, is timed on it. @defaultValue Date.now */ now?: () => number;
  } = {},
): WorkerStatusPage {
  const { dynamodb, streams } = oneShotClients(endpoints);
  let attached: Worker | undefined;
  let detach = () => {};
  const { page, json, observer } = statusPageRoutes({
    now: options.now,
    read: () => {
      if (!attached) return Promise.reject(new Error('the worker is not started yet'));
      return readStatus(dynamodb, streams, attached.leaseTableName);
    },
  });
  return {
    routes: { '/status': page, '/status.json': json },
    attach(worker) {
      attached = worker;
      detach = forwardWorkerEvents(worker, observer);
    },
    close() {
      detach();
      dynamodb.destroy();
      streams.destroy();
    },
  };
}
