import { describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../src/metrics.js';

const STREAM_A = 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000';
const STREAM_B = 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-02-01T00:00:00.000';

describe('shardline_millis_behind_latest', () => {
  it('keeps one series per (stream, shard): the same shard id on two streams, one finished, the other still reported', async () => {
    const metrics = new WorkerMetrics();
    metrics.lag('shardId-1', 100, STREAM_A);
    metrics.lag('shardId-1', 200, STREAM_B);
    const both = metrics.instruments.millisBehindLatest.entries().map((e) => e.value);
    expect(both.sort()).toEqual([100, 200]);
    metrics.shardClosed('shardId-1', STREAM_A);
    expect(metrics.instruments.millisBehindLatest.entries()).toEqual([
      { labels: { shard_id: 'shardId-1', stream_arn: STREAM_B }, value: 200 },
    ]);
    expect(await metrics.metrics()).toMatch(
      /^shardline_millis_behind_latest\{shard_id="shardId-1",stream_arn="[^"]+2026-02-01[^"]+"\} 200$/m,
    );
  });
});
