import { createLogger, silentLogger, type LogLevel } from '@shardline/core';
import {
  createDynamoDBClient,
  createDynamoDBStreamsClient,
  defineProcessor,
  tableNameFromStreamArn,
  Worker,
} from '@shardline/worker';
import { condenseSdkNodeVersionWarning } from '../node-version-notice.js';
import { recordId, type DemoItem, type DemoMessage, type WorkerMessage, type WorkerProcessConfig } from './protocol.js';

/**
 * A demo worker process (forked by `WorkerFleet`): one shardline `Worker` consuming every demo
 * table (one application, several streams), reporting each batch and lease move to the demo over IPC. A real process, so the demo's
 * `kill -9` is a real crash: no `stop()`, no release, leases left to expire.
 */
const config = JSON.parse(process.argv[2] ?? '') as WorkerProcessConfig;
// The demo printed the SDK's Node-version note once already; its workers keep quiet about it.
condenseSdkNodeVersionWarning(() => undefined);

function send(message: WorkerMessage): Promise<void> {
  // The callback runs once the message is in the channel: the demo will read it even if this
  // process is killed right after the processor returns (and the checkpoint is written).
  return new Promise((resolve, reject) =>
    process.send!(message, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve())),
  );
}

const logger = config.logLevel === 'silent' ? silentLogger() : createLogger({ level: config.logLevel as LogLevel });
const clientConfig = {
  endpoint: config.endpoint,
  region: config.region,
  credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
};
const dynamodb = createDynamoDBClient(clientConfig);
const streams = createDynamoDBStreamsClient(clientConfig);

const worker = new Worker<DemoItem>({
  tables: config.tableNames,
  applicationName: config.applicationName,
  workerId: config.name,
  dynamodb,
  streams,
  logger: logger.child({ workerId: config.name }),
  leases: { leaseDurationMs: config.leaseDurationMs },
  shutdownTimeoutMs: config.shutdownTimeoutMs,
  processor: defineProcessor<DemoItem>({
    processRecords: async ({ records, shardId }, { tableName }) => {
      const now = Date.now();
      const ids: string[] = [];
      const latencies: number[] = [];
      for (const record of records) {
        const item = record.newItem;
        if (!item) continue;
        ids.push(recordId(tableName, item.pk, item.version));
        latencies.push(now - item.writtenAt);
      }
      await send({ type: 'batch', tableName, shardId, ids, latencies });
    },
  }),
});
const lease = (event: 'acquired' | 'lost' | 'released', streamArn: string, shardId: string) =>
  void send({
    type: 'lease',
    tableName: tableNameFromStreamArn(streamArn) ?? streamArn,
    shardId,
    event,
    at: Date.now(),
  }).catch(() => undefined);
worker.events.on('lease:acquired', ({ lease: l }) => lease('acquired', l.streamArn, l.shardId));
worker.events.on('lease:lost', ({ streamArn, shardId }) => lease('lost', streamArn, shardId));
worker.events.on('lease:released', ({ streamArn, shardId }) => lease('released', streamArn, shardId));

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= worker
    .stop()
    .catch((err: unknown) => logger.error({ err, workerId: config.name }, 'demo worker: stop failed'))
    .then(() => {
      dynamodb.destroy();
      streams.destroy();
      if (process.connected) process.disconnect();
    });
  return stopping;
}

process.on('message', (message: DemoMessage) => {
  if (message.type === 'stop') void stop();
});
// The demo went away (Ctrl-C twice, a crash of its own): hand off and exit rather than linger.
process.on('disconnect', () => void stop());

await worker.start();
await send({ type: 'started' });
