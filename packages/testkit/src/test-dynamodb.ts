import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient, DeleteTableCommand, type StreamViewType } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { createStreamTable } from './stream-table.js';

/** The environment variable through which the Vitest global setup hands out its endpoint. */
export const TEST_ENDPOINT_ENV = 'SHARDLINE_TEST_ENDPOINT';

export interface TestDynamoDB {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION that reach this database, for a child process or a CLI run. */
  env: Record<'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY' | 'AWS_REGION', string>;
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  /** A unique table name with a readable prefix. */
  uniqueName(prefix?: string): string;
  /** Creates a `pk` (string) keyed table with a stream and waits for it; returns name and stream ARN. */
  createStreamTable(options?: {
    name?: string;
    viewType?: StreamViewType;
  }): Promise<{ tableName: string; streamArn: string }>;
  /** Deletes the tables created here and closes the clients. */
  close(): Promise<void>;
}

/**
 * Clients for the test DynamoDB, in a database of their own: DynamoDB Local keeps one database
 * per (access key, region), and stream writes slow tenfold as earlier streams' records pile up
 * in one database, so every call gets a fresh alphanumeric access key.
 */
export function connectTestDynamoDB(endpoint = process.env[TEST_ENDPOINT_ENV]): TestDynamoDB {
  if (!endpoint)
    throw new Error(
      `${TEST_ENDPOINT_ENV} is not set: run the tests through vitest (the global setup starts DynamoDB Local)`,
    );
  const region = 'us-east-1';
  const credentials = { accessKeyId: `t${randomBytes(8).toString('hex')}`, secretAccessKey: 'local' };
  const dynamodb = new DynamoDBClient({ endpoint, region, credentials });
  const streams = new DynamoDBStreamsClient({ endpoint, region, credentials });
  const created: string[] = [];
  return {
    endpoint,
    region,
    credentials,
    env: {
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: region,
    },
    dynamodb,
    streams,
    uniqueName: (prefix = 't') => `${prefix}-${randomUUID().slice(0, 8)}`,
    async createStreamTable(options = {}) {
      const tableName = options.name ?? `t-${randomUUID().slice(0, 8)}`;
      const table = await createStreamTable(dynamodb, tableName, {
        viewType: options.viewType ?? 'NEW_AND_OLD_IMAGES',
        maxWaitSeconds: 30,
      });
      created.push(tableName);
      return table;
    },
    async close() {
      for (const name of created.splice(0)) {
        await dynamodb.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
      }
      dynamodb.destroy();
      streams.destroy();
    },
  };
}
