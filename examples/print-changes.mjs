// A minimal processor: prints each change. Run it against DynamoDB Local with
//   shardline run --table orders --endpoint http://localhost:8000 --processor examples/print-changes.mjs
/** @type {import('@shardline/worker').RecordProcessor} */
export default {
  async processRecords(batch, ctx) {
    for (const record of batch.records) {
      ctx.logger.info(
        { event: record.eventName, keys: record.keys, newItem: record.newItem, sequenceNumber: record.sequenceNumber },
        'change',
      );
    }
    // Auto checkpoint mode (the default) checkpoints when this promise resolves.
  },
};
