import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { ConfigError, type Clock } from '@shardline/core';
import { translateLeaseError } from './errors.js';

/** How long `ensureLeaseTable` waits for a table to become ACTIVE (a new table takes seconds; DynamoDB Local none). */
const TABLE_ACTIVE_TIMEOUT_MS = 120_000;
/** How often `ensureLeaseTable` asks for the table status meanwhile. */
const TABLE_STATUS_POLL_MS = 500;

/**
 * Creates the lease table when missing (PAY_PER_REQUEST) and waits until it is ACTIVE. An
 * existing table must have exactly the `leaseKey` string hash key: anything else is someone
 * else's table, and we never write into it. Control-plane calls whose errors are partly answers
 * (ResourceInUse: another worker created it; ResourceNotFound: missing), so they are sent here,
 * not through LeaseStore's item requests; LeaseStore.ensureTable retries this whole (one-shot).
 */
export async function ensureLeaseTable(
  client: DynamoDBClient,
  tableName: string,
  clock: Clock,
  options: { timeoutMs?: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = clock.now() + (options.timeoutMs ?? TABLE_ACTIVE_TIMEOUT_MS);
  let table = await describe(client, tableName);
  if (!table) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } catch (err) {
      // Another worker created it first: fine, wait for it like ours.
      if ((err as { name?: string }).name !== 'ResourceInUseException') {
        throw translateLeaseError(err, { operation: 'CreateTable', tableName: tableName });
      }
    }
    table = await describe(client, tableName);
  }
  for (;;) {
    if (!table) throw new ConfigError(`lease table ${tableName} vanished while it was being created`);
    checkKeySchema(tableName, table);
    if (table.TableStatus === 'ACTIVE') return;
    if (table.TableStatus === 'DELETING')
      throw new ConfigError(`lease table ${tableName} is being deleted; wait and start again`);
    if (clock.now() >= deadline)
      throw new ConfigError(`lease table ${tableName} did not become ACTIVE in time (status ${table.TableStatus})`);
    await clock.sleep(TABLE_STATUS_POLL_MS, options.signal);
    table = await describe(client, tableName);
  }
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return out.Table;
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw translateLeaseError(err, { operation: 'DescribeTable', tableName: tableName });
  }
}

function checkKeySchema(tableName: string, table: TableDescription): void {
  const keys = table.KeySchema ?? [];
  const hash = keys[0];
  const type = table.AttributeDefinitions?.find((a) => a.AttributeName === 'leaseKey')?.AttributeType;
  if (keys.length !== 1 || hash?.AttributeName !== 'leaseKey' || hash.KeyType !== 'HASH' || type !== 'S') {
    const found = keys.map((k) => `${k.AttributeName ?? '?'} ${k.KeyType ?? '?'}`).join(', ') || 'none';
    throw new ConfigError(
      `table ${tableName} exists but is not a shardline lease table (key schema: ${found}; expected leaseKey string HASH only). Choose another leaseTableName; shardline never writes into a table it did not make.`,
    );
  }
}
