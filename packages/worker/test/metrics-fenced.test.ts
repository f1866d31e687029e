import { describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../src/metrics.js';

describe('shardline_worker_fenced', () => {
  it("is read from the coordinator's state at each scrape: 0 before a coordinator exists, then what it says", async () => {
    const metrics = new WorkerMetrics();
    expect(await metrics.metrics()).toMatch(/^shardline_worker_fenced 0$/m);
    let fenced = true;
    metrics.watchFenced(() => fenced);
    expect(await metrics.metrics()).toMatch(/^shardline_worker_fenced 1$/m);
    fenced = false;
    expect(await metrics.metrics()).toMatch(/^shardline_worker_fenced 0$/m);
  });
});
