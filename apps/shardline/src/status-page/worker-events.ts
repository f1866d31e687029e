import type { Worker, WorkerEvents } from '@shardline/worker';
import type { StatusEvent, StatusEventKind } from './observer.js';

type Forwarded = 'records:trimmed' | 'records:failed' | 'shard:failed' | 'lease:lost';
type Described = { [K in Forwarded]: (payload: WorkerEvents[K]) => [StatusEventKind, string] | undefined };

/**
 * The events only the worker itself knows (nothing in the lease table shows them): trimmed
 * data, records sent to the failure destination, a shard stopped by the failure policy, the
 * fence falling. Passed on to the status page served by this worker. Returns an unsubscribe.
 */
export function forwardWorkerEvents(worker: Worker, add: (event: StatusEvent) => void): () => void {
  const id = worker.workerId;
  const described: Described = {
    'records:trimmed': ({ shardId }) => [
      'trimmed',
      `${shardId}: records were trimmed before ${id} read them (restarted at the oldest kept)`,
    ],
    'records:failed': ({ shardId, destination, records }) => [
      'failed-records',
      `${shardId}: ${records.length} failed record(s) sent to ${destination} by ${id}`,
    ],
    'shard:failed': ({ shardId, sequenceNumber, error }) => [
      'shard-failed',
      `${shardId}: stopped at ${sequenceNumber} by the failure policy on ${id} (${error.message})`,
    ],
    'lease:lost': ({ shardId, reason }) =>
      reason === 'fenced'
        ? ['fenced', `${id} fenced (no heartbeat got through for a lease duration): stopped ${shardId}`]
        : undefined,
  };
  const offs = Object.entries(described).map(([name, describe]) => {
    const event = name as Forwarded;
    const listener = (payload: unknown) => {
      const found = (describe as (p: unknown) => [StatusEventKind, string] | undefined)(payload);
      if (found) add({ at: new Date().toISOString(), kind: found[0], text: found[1], source: 'worker' });
    };
    worker.events.on(event, listener);
    return () => worker.events.off(event, listener);
  });
  return () => offs.forEach((off) => off());
}
