import { describe, expect, it } from 'vitest';
import { Worker } from '@shardline/worker';
import { RECENT_EVENTS, StatusObserver, type ObservedReport, type StatusEvent } from '../src/status-page/observer.js';
import { forwardWorkerEvents } from '../src/status-page/worker-events.js';

const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-01T00:00:00.000';
/** How event texts name the stream: shard ids repeat across streams. */
const STREAM = 'orders/2026-01-01T00:00:00.000';
/** Shards of one single-stream application: keyed by shard id, as its lease table keys them. */
const report = (
  shards: Array<Omit<ObservedReport['shards'][number], 'leaseKey' | 'streamArn'>>,
  workers: ObservedReport['workers'] = [{ workerId: 'w1', heartbeat: 1 }],
): ObservedReport => ({
  shards: shards.map((shard) => ({ ...shard, leaseKey: shard.shardId, streamArn: STREAM_ARN })),
  workers,
});

describe('StatusObserver', () => {
  it('turns differences between two reads into events: taken, moved, hand-off, finished, joined, left', () => {
    let now = 1_000;
    const observer = new StatusObserver(() => now);
    observer.observe(report([{ shardId: 'shard-a', owner: 'w1', state: 'processing' }]));
    expect(observer.events).toEqual([]); // the first read is the baseline
    now += 2_000;
    observer.observe(
      report(
        [
          { shardId: 'shard-a', owner: 'w1', state: 'handing-off' },
          { shardId: 'shard-b', owner: 'w2', state: 'processing' },
        ],
        [
          { workerId: 'w1', heartbeat: 2 },
          { workerId: 'w2', heartbeat: 1 },
        ],
      ),
    );
    now += 2_000;
    observer.observe(
      report(
        [
          { shardId: 'shard-a', owner: 'w2', state: 'processing' },
          { shardId: 'shard-b', owner: 'w2', state: 'finished' },
        ],
        [{ workerId: 'w2', heartbeat: 2 }],
      ),
    );
    expect(observer.events.map((e) => [e.kind, e.text])).toEqual([
      ['hand-off', `${STREAM} shard-a handing off from w1`],
      ['lease-taken', `${STREAM} shard-b taken by w2`],
      ['worker-joined', 'w2 joined'],
      ['lease-moved', `${STREAM} shard-a moved w1 → w2`],
      ['shard-finished', `${STREAM} shard-b finished`],
      ['worker-left', 'w1 left (its heartbeat item is gone)'],
    ]);
    expect(observer.events[0]!.at).toBe(new Date(3_000).toISOString());
    // A parent whose lease the leader removed between two reads (its SHARD_END never seen) finished too.
    observer.observe(
      report(
        [{ shardId: 'shard-c', owner: 'w2', state: 'processing', parentShardIds: ['shard-a'] }],
        [{ workerId: 'w2', heartbeat: 3 }],
      ),
    );
    expect(observer.events.slice(6).map((e) => [e.kind, e.text])).toEqual([
      ['lease-taken', `${STREAM} shard-c taken by w2`],
      ['shard-finished', `${STREAM} shard-a finished (its lease removed once its children started)`],
    ]);
  });

  it('measures records/s from the published count on its own clock, over a 10 s window, restarting at a reset', () => {
    let now = 0;
    const observer = new StatusObserver(() => now);
    expect(observer.recordsPerSecond('w1', undefined)).toBeNull(); // a worker that publishes no count
    expect(observer.recordsPerSecond('w1', 100)).toBeNull(); // one sample: no rate yet
    now = 2_000;
    expect(observer.recordsPerSecond('w1', 300)).toBe(100);
    now = 12_000;
    expect(observer.recordsPerSecond('w1', 1_300)).toBe(100);
    now = 14_000;
    expect(observer.recordsPerSecond('w1', 1_300)).toBe(83.3); // (1300 - 300) / 12 s, the oldest sample dropped
    now = 16_000;
    expect(observer.recordsPerSecond('w1', 50)).toBeNull(); // restarted: counts from 0 again
  });

  it('keeps the latest events only', () => {
    const observer = new StatusObserver(() => 0);
    for (let i = 0; i < RECENT_EVENTS + 5; i++)
      observer.add({ at: 'x', kind: 'trimmed', text: String(i), source: 'worker' });
    expect(observer.events).toHaveLength(RECENT_EVENTS);
    expect(observer.events[0]!.text).toBe('5');
  });
});

describe('forwardWorkerEvents', () => {
  it("passes on the worker's own events (failed records, trimmed data, a failed shard, the fence) until unsubscribed, on the page's clock, naming the stream", () => {
    const worker = new Worker({ tableName: 'orders', workerId: 'w1', processor: { processRecords: () => undefined } });
    let now = Date.UTC(2030, 0, 1);
    const observer = new StatusObserver(() => now);
    const off = forwardWorkerEvents(worker, observer);
    const other = 'arn:aws:dynamodb:us-east-1:000000000000:table/users/stream/2026-02-01T00:00:00.000';
    worker.events.emit('records:failed', { shardId: 's1', streamArn: STREAM_ARN, destination: 'jsonl', records: [] });
    now += 1_000;
    worker.events.emit('records:trimmed', { shardId: 's1', streamArn: other, error: new Error('trimmed') });
    worker.events.emit('shard:failed', {
      shardId: 's1',
      streamArn: STREAM_ARN,
      sequenceNumber: '42',
      error: new Error('boom'),
    });
    worker.events.emit('lease:lost', { shardId: 's1', leaseKey: 's1', streamArn: STREAM_ARN, reason: 'taken' }); // not an event of its own
    worker.events.emit('lease:lost', { shardId: 's1', leaseKey: 's1', streamArn: STREAM_ARN, reason: 'fenced' });
    off();
    worker.events.emit('records:trimmed', { shardId: 's2', streamArn: STREAM_ARN, error: new Error('trimmed') });
    const seen: readonly StatusEvent[] = observer.events;
    expect(seen.map((e) => [e.kind, e.source])).toEqual([
      ['failed-records', 'worker'],
      ['trimmed', 'worker'],
      ['shard-failed', 'worker'],
      ['fenced', 'worker'],
    ]);
    expect(seen.map((e) => e.at)).toEqual([
      new Date(Date.UTC(2030, 0, 1)).toISOString(),
      ...Array.from({ length: 3 }, () => new Date(Date.UTC(2030, 0, 1) + 1_000).toISOString()),
    ]);
    // Shard s1 of two streams: each text says which.
    expect(seen[0]!.text).toBe(`${STREAM} s1: 0 failed record(s) sent to jsonl by w1`);
    expect(seen[1]!.text).toBe(
      'users/2026-02-01T00:00:00.000 s1: records were trimmed before w1 read them (restarted at the oldest kept)',
    );
    expect(seen[2]!.text).toBe(`${STREAM} s1: stopped at 42 by the failure policy on w1 (boom)`);
  });
});
