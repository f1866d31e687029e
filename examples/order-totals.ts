// A typed processor with per-shard state (a factory), manual checkpoints and the abort signal.
// Build it with tsc (or run shardline under tsx) and pass the .js/.ts path to --processor.
import { defineProcessor, type ProcessorFactory } from '@shardline/worker';

interface Order {
  pk: string;
  customer: string;
  total: number;
}

const factory: ProcessorFactory<Order> = ({ shardId }) => {
  const totals = new Map<string, number>();
  return defineProcessor<Order>({
    initialize: ({ checkpoint, logger }) => logger.info({ shardId, checkpoint }, 'shard starting'),
    async processRecords(batch, ctx) {
      for (const record of batch.records) {
        if (ctx.signal.aborted) return; // lease lost or forced stop: the next owner re-reads from the checkpoint
        const order = record.newItem;
        if (record.eventName === 'REMOVE' || !order) continue;
        totals.set(order.customer, (totals.get(order.customer) ?? 0) + order.total - (record.oldItem?.total ?? 0));
      }
      await ctx.checkpointer.checkpoint(); // only needed with checkpointMode: 'manual'
    },
    shardEnded: ({ logger }) =>
      logger.info({ shardId, customers: totals.size }, 'shard finished (SHARD_END is written for you)'),
    shutdownRequested: async ({ checkpointer }) => checkpointer.checkpoint(),
  });
};

export default factory;
