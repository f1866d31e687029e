import { createLogger, silentLogger, type LogLevel } from '@shardline/core';
import { createDynamoDBClient, createDynamoDBStreamsClient, defineProcessor, Worker } from '@shardline/worker';
import { condenseSdkNodeVersionWarning } from '../node-version-notice.js';
import { recordId, type DemoItem, type DemoMessage, type WorkerMessage, type WorkerProcessConfig } from './protocol.js';

/**
 * A demo worker process (forked by `WorkerFleet`): one shardline `Worker` per demo application,
 * reporting each batch and lease move to the demo over IPC. A real process, so the demo's
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

const workers = config.applications.map((app) => {
  const worker = new Worker<DemoItem>({
    tableName: app.tableName,
    applicationName: app.applicationName,
    workerId: app.workerId,
    dynamodb,
    streams,
    logger: logger.child({ workerId: app.workerId }),
    leases: { leaseDurationMs: config.leaseDurationMs },
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    processor: defineProcessor<DemoItem>({
      processRecords: async ({ records, shardId }) => {
        const now = Date.now();
        const ids: string[] = [];
        const latencies: number[] = [];
        for (const record of records) {
          const item = record.newItem;
          if (!item) continue;
          ids.push(recordId(app.tableName, item.pk, item.version));
          latencies.push(now - item.writtenAt);
        }
        await send({ type: 'batch', applicationName: app.applicationName, shardId, ids, latencies });
      },
    }),
  });
  const lease = (event: 'acquired' | 'lost' | 'released', shardId: string) =>
    void send({ type: 'lease', applicationName: app.applicationName, shardId, event, at: Date.now() }).catch(
      () => undefined,
    );
  worker.events.on('lease:acquired', ({ lease: l }) => lease('acquired', l.shardId));
  worker.events.on('lease:lost', ({ shardId }) => lease('lost', shardId));
  worker.events.on('lease:released', ({ shardId }) => lease('released', shardId));
  return worker;
});

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= Promise.allSettled(workers.map((w) => w.stop())).then(() => {
    dynamodb.destroy();
    streams.destroy();
    if (process.connected) process.disconnect();
  });
  return stopping;
}

/** Starts the Workers of the applications not started yet, then says so. */
let joining: Promise<void> | undefined;
function startAll(): Promise<void> {
  joining ??= Promise.all(workers.filter((w) => w.state === 'new').map((w) => w.start())).then(() =>
    send({ type: 'started', home: false }),
  );
  return joining;
}

process.on('message', (message: DemoMessage) => {
  if (message.type === 'stop') void stop();
  if (message.type === 'join') void startAll();
});
// The demo went away (Ctrl-C twice, a crash of its own): hand off and exit rather than linger.
process.on('disconnect', () => void stop());

// A home application first, alone: its shard is this worker's before the others join it.
const home = config.home === undefined ? undefined : workers[config.home];
if (home) {
  await home.start();
  await send({ type: 'started', home: true });
} else await startAll();
