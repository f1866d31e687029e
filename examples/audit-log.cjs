/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS example on purpose */
// CommonJS works too: module.exports is the processor.
const { appendFile } = require('node:fs/promises');

module.exports = {
  async processRecords(batch) {
    const lines = batch.records.map((r) =>
      JSON.stringify({ shardId: batch.shardId, seq: r.sequenceNumber, event: r.eventName, keys: r.keys }),
    );
    await appendFile(process.env.AUDIT_LOG || 'audit.jsonl', lines.join('\n') + '\n');
  },
};
