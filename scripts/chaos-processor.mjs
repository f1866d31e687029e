// The chaos suite's processor: appends "time shardId sequenceNumber" per record to CHAOS_OUT.
import { appendFileSync } from 'node:fs';

export default {
  processRecords({ shardId, records }) {
    const now = Date.now();
    appendFileSync(process.env.CHAOS_OUT, records.map((r) => `${now} ${shardId} ${r.sequenceNumber}\n`).join(''));
  },
};
