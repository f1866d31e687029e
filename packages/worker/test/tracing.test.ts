import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import type { CheckpointStore } from '../src/checkpointer.js';
import { tracedStore } from '../src/tracing.js';

describe('tracedStore', () => {
  it("passes the processor state through with its position (a tumbling window's state is not lost when tracing is on)", async () => {
    const writes: Array<[string, string, string | undefined]> = [];
    const store: CheckpointStore = {
      checkpoint: (shardId, checkpoint, processorState) => {
        writes.push([shardId, checkpoint, processorState]);
        return Promise.resolve();
      },
    };
    await tracedStore(store, trace.getTracer('test')).checkpoint('s1', '100', '{"window":1}');
    expect(writes).toEqual([['s1', '100', '{"window":1}']]);
  });
});
