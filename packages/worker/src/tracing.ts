import { SpanStatusCode, type Attributes, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { CheckpointStore } from './checkpointer.js';

/**
 * OpenTelemetry spans of the worker, when a TracerProvider is given: `shardline.batch` around
 * the processor's work on one batch (retries and bisection included: what the batch cost) and
 * `shardline.checkpoint` around each checkpoint write (one attempt each, so retries show as
 * several spans). Without a provider nothing is created, not even no-op spans.
 */
export const SPAN_NAMES = { batch: 'shardline.batch', checkpoint: 'shardline.checkpoint' } as const;

export function workerTracer(provider: TracerProvider | undefined): Tracer | undefined {
  return provider?.getTracer('@shardline/worker');
}

/** Runs `fn` in a span; an error ends the span with status ERROR and is rethrown. */
export async function inSpan<R>(
  tracer: Tracer | undefined,
  name: string,
  attributes: Attributes,
  fn: () => Promise<R>,
  onResult?: (result: R) => Attributes,
): Promise<R> {
  if (!tracer) return fn();
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      const result = await fn();
      if (onResult) span.setAttributes(onResult(result));
      return result;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The checkpoint store with a span around every write. */
export function tracedStore(store: CheckpointStore, tracer: Tracer | undefined): CheckpointStore {
  if (!tracer) return store;
  return {
    // The processor state goes with its position (a tumbling window's): dropping it here lost it whenever tracing was on.
    checkpoint: (shardId, checkpoint, processorState) =>
      inSpan(tracer, SPAN_NAMES.checkpoint, { 'shardline.shard_id': shardId, 'shardline.checkpoint': checkpoint }, () =>
        store.checkpoint(shardId, checkpoint, processorState),
      ),
  };
}
