import {
  CreateTableCommand,
  waitUntilTableExists,
  type DynamoDBClient,
  type StreamViewType,
} from '@aws-sdk/client-dynamodb';

export interface CreateStreamTableOptions {
  /** @defaultValue 'NEW_AND_OLD_IMAGES' */
  viewType?: StreamViewType;
  /** How long to wait for ACTIVE. @defaultValue 60 */
  maxWaitSeconds?: number;
}

/**
 * Creates a table keyed by `pk` (string), on demand, with a stream, and waits until it is
 * ACTIVE: the table the tests, the demo and the benchmarks write to.
 */
export async function createStreamTable(
  dynamodb: DynamoDBClient,
  tableName: string,
  options: CreateStreamTableOptions = {},
): Promise<{ tableName: string; streamArn: string }> {
  const out = await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: options.viewType ?? 'NEW_AND_OLD_IMAGES' },
    }),
  );
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: options.maxWaitSeconds ?? 60 }, { TableName: tableName });
  const streamArn = out.TableDescription?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${tableName} has no stream ARN`);
  return { tableName, streamArn };
}
