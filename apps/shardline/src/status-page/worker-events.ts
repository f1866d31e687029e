import type { Worker, WorkerEvents } from '@shardline/worker';
import { shardName, type StatusEventKind, type StatusObserver } from './observer.js';

type Forwarded = 'records:trimmed' | 'records:failed' | 'shard:failed' | 'lease:lost';
type Described = { [K in Forwarded]: (payload: WorkerEvents[K]) => [StatusEventKind, string] | undefined };

/**
 * The events only the worker itself knows (nothing in the lease table shows them): trimmed
 * data, records sent to the failure destination, a shard stopped by the failure policy, the
 * fence falling. Passed on to the status page served by this worker, timed on the page's clock
 * like the events it sees in the lease table. Returns an unsubscribe.
 */
export function forwardWorkerEvents(worker: Worker, observer: Pick<StatusObserver, 'record'>): () => void {
  const id = worker.workerId;
  const described: Described = {
    'records:trimmed': (shard) => [
      'trimmed',
      `${shardName(shard)}: records were trimmed before ${id} read them (restarted at the oldest kept)`,
    ],
    'records:failed': (shard) => [
      'failed-records',
      `${shardName(shard)}: ${shard.records.length} failed record(s) sent to ${shard.destination} by ${id}`,
    ],
    'shard:failed': (shard) => [
      'shard-failed',
      `${shardName(shard)}: stopped at ${shard.sequenceNumber} by the failure policy on ${id} (${shard.error.message})`,
    ],
    'lease:lost': (shard) =>
      shard.reason === 'fenced'
        ? ['fenced', `${id} fenced (no heartbeat got through for a lease duration): stopped ${shardName(shard)}`]
        : undefined,
  };
  const offs = Object.entries(described).map(([name, describe]) => {
    const event = name as Forwarded;
    const listener = (payload: unknown) => {
      const found = (describe as (p: unknown) => [StatusEventKind, string] | undefined)(payload);
      if (found) observer.record(found[0], found[1], 'worker');
    };
    worker.events.on(event, listener);
    return () => worker.events.off(event, listener);
  });
  return () => offs.forEach((off) => off());
}
