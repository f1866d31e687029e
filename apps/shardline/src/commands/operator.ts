import { hostname, userInfo } from 'node:os';
import { z } from 'zod';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { resolveStream } from '@shardline/streams';
import { createDynamoDBClient, createDynamoDBStreamsClient } from '@shardline/worker';
import { explainStartupError, hasErrorName, whereCalled } from '../aws-errors.js';
import { setting } from '../config.js';
import { localDefaults } from '../local-endpoint.js';
import { UsageError } from '../usage-error.js';

/**
 * What the operator commands (`import-kcl`, `reset`) share: the application and its lease
 * table, endpoints, the stream selector, `--yes`, the clients, and who is running them.
 */
export const operatorSettings = {
  app: setting(z.string().min(1), { arg: '<name>', help: 'application name (lease table shardline-<app>)' }),
  leaseTable: setting(z.string().min(1).optional(), {
    arg: '<name>',
    help: 'lease table name, when not shardline-<app>',
  }),
  table: setting(z.string().min(1).optional(), { arg: '<name>', help: 'the table whose (latest) stream to act on' }),
  streamArn: setting(z.string().startsWith('arn:', 'must be a stream ARN').optional(), {
    arg: '<arn>',
    help: 'the stream to act on (instead of --table)',
  }),
  yes: setting(z.boolean().optional(), { help: 'make the change (without it: a dry run that prints the plan)' }),
  endpoint: setting(z.url().optional(), { arg: '<url>', help: 'one endpoint for DynamoDB and DynamoDB Streams' }),
  dynamodbEndpoint: setting(z.url().optional(), { arg: '<url>', help: 'DynamoDB endpoint (lease tables)' }),
  streamsEndpoint: setting(z.url().optional(), { arg: '<url>', help: 'DynamoDB Streams endpoint' }),
  region: setting(z.string().min(1).optional(), { arg: '<region>', help: 'AWS region (default: AWS_REGION)' }),
};

type OperatorSettings = z.infer<z.ZodObject<typeof operatorSettings>>;

export interface OperatorContext {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  leaseTableName: string;
  actor: string;
  /** The stream named by --stream-arn or --table (resolved to its latest stream), if any. */
  streamArn(): Promise<string | undefined>;
  /**
   * Runs the command's calls. The failures a user's setup causes (endpoint, credentials, region,
   * a table that is not there) come out as one explained line (a UsageError, exit 2); anything
   * else unchanged.
   */
  call<T>(calls: () => Promise<T>): Promise<T>;
  /** Refuses, as one line, an application without a lease table: `no lease table for app A (T): <consequence>`. */
  requireLeaseTable(consequence: string): Promise<void>;
  close(): void;
}

/** Endpoints and region as the one-shot commands (`status`, `import-kcl`, `reset`) take them. */
export interface ClientSettings {
  endpoint?: string | undefined;
  dynamodbEndpoint?: string | undefined;
  streamsEndpoint?: string | undefined;
  region?: string | undefined;
}

/**
 * The clients of a one-shot command. No shardline layer retries above these calls (a scan, a
 * lag probe, a reset's writes), so the SDK does: its standard retry, which the clients shardline
 * builds for workers otherwise turn off. Same local defaults as `run`, so DynamoDB Local works
 * without AWS variables.
 */
export function oneShotClients(settings: ClientSettings): {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  /** The endpoints used (an error message names them). */
  dynamodbEndpoint: string | undefined;
  streamsEndpoint: string | undefined;
} {
  if (settings.endpoint && (settings.dynamodbEndpoint || settings.streamsEndpoint))
    throw new UsageError('give either --endpoint or --dynamodb-endpoint/--streams-endpoint, not both');
  const dynamodbEndpoint = settings.dynamodbEndpoint ?? settings.endpoint;
  const streamsEndpoint = settings.streamsEndpoint ?? settings.endpoint;
  const clientOptions = {
    region: settings.region,
    maxAttempts: 3,
    ...localDefaults([dynamodbEndpoint, streamsEndpoint], settings.region),
  };
  return {
    dynamodb: createDynamoDBClient({ endpoint: dynamodbEndpoint, ...clientOptions }),
    streams: createDynamoDBStreamsClient({ endpoint: streamsEndpoint, ...clientOptions }),
    dynamodbEndpoint,
    streamsEndpoint,
  };
}

export function operatorContext(settings: OperatorSettings): OperatorContext {
  const { dynamodb, streams, dynamodbEndpoint, streamsEndpoint } = oneShotClients(settings);
  const leaseTableName = settings.leaseTable ?? `shardline-${settings.app}`;
  return {
    dynamodb,
    streams,
    leaseTableName,
    actor: operatorName(),
    async call(calls) {
      try {
        return await calls();
      } catch (err) {
        if (err instanceof UsageError) throw err;
        if (hasErrorName(err, 'ResourceNotFoundException'))
          throw new UsageError(
            `${(err as Error).message.split('\n')[0]} (at ${whereCalled(dynamodbEndpoint, settings.region)})`,
          );
        throw explainStartupError(err, { dynamodbEndpoint, streamsEndpoint, region: settings.region });
      }
    },
    async requireLeaseTable(consequence) {
      try {
        await dynamodb.send(new DescribeTableCommand({ TableName: leaseTableName }));
      } catch (err) {
        if (!hasErrorName(err, 'ResourceNotFoundException')) throw err;
        throw new UsageError(`no lease table for app ${settings.app} (${leaseTableName}): ${consequence}`);
      }
    },
    async streamArn() {
      if (!settings.table && !settings.streamArn) return undefined;
      const resolved = await resolveStream({
        streams,
        dynamodb,
        ...(settings.table ? { tableName: settings.table } : {}),
        ...(settings.streamArn ? { streamArn: settings.streamArn } : {}),
        allowDisabled: true,
      });
      return resolved.streamArn;
    },
    close() {
      dynamodb.destroy();
      streams.destroy();
    },
  };
}

/** user@host of whoever runs the command, for the audit item (never a credential). */
function operatorName(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the host still says where it ran.
  }
  return `${user}@${hostname()}`;
}
