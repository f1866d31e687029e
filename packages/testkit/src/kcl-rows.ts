import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/**
 * Java KCL lease rows, attribute for attribute as `DynamoDBLeaseSerializer.toDynamoRecord`
 * (and `DynamoDBMultiStreamLeaseSerializer`) writes them, for testing `shardline import-kcl`
 * without a JVM: numbers as N, `parentShardId` and `childShardIds` as string sets written only
 * when non-empty, `leaseOwner` only when held, `pendingCheckpoint*` only when prepared, the
 * adapter's fake hash range, and `entityType` from KCL 3.x on.
 */
export interface KclLeaseRowInput {
  shardId: string;
  checkpoint: string;
  checkpointSubSequenceNumber?: number;
  leaseCounter?: number;
  leaseOwner?: string;
  ownerSwitchesSinceCheckpoint?: number;
  parentShardIds?: string[];
  childShardIds?: string[];
  pendingCheckpoint?: string;
  checkpointOwner?: string;
  /** The KCL version whose serializer wrote the row. @defaultValue '2.x' */
  version?: '1.x' | '2.x' | '3.x';
  /** Multi-stream mode: the stream ARN, turned into the adapter's stream identifier. */
  multiStreamArn?: string;
}

export function kclLeaseRow(input: KclLeaseRowInput): Record<string, AttributeValue> {
  const version = input.version ?? '2.x';
  const identifier = input.multiStreamArn ? kclStreamIdentifier(input.multiStreamArn) : undefined;
  const row: Record<string, AttributeValue> = {
    leaseKey: { S: identifier ? `${identifier}:${input.shardId}` : input.shardId },
    leaseCounter: { N: String(input.leaseCounter ?? 1) },
    ownerSwitchesSinceCheckpoint: { N: String(input.ownerSwitchesSinceCheckpoint ?? 0) },
    checkpoint: { S: input.checkpoint },
    checkpointSubSequenceNumber: { N: String(input.checkpointSubSequenceNumber ?? 0) },
  };
  if (input.leaseOwner !== undefined) row.leaseOwner = { S: input.leaseOwner };
  if (input.parentShardIds?.length) row.parentShardId = { SS: input.parentShardIds };
  // KCL 1.x had no childShardIds attribute (2.13 added it).
  if (input.childShardIds?.length && version !== '1.x') row.childShardIds = { SS: input.childShardIds };
  if (input.pendingCheckpoint !== undefined) {
    row.pendingCheckpoint = { S: input.pendingCheckpoint };
    row.pendingCheckpointSubSequenceNumber = { N: '0' };
  }
  if (version === '3.x') {
    // The adapter fakes a hash range for DynamoDB shards (KinesisMapperUtil: 0 .. 1).
    row.startingHashKey = { S: '0' };
    row.endingHashKey = { S: '1' };
    row.entityType = { S: 'LEASE' };
    if (input.checkpointOwner !== undefined) row.checkpointOwner = { S: input.checkpointOwner };
  }
  if (identifier) {
    row.streamName = { S: identifier };
    row.shardId = { S: input.shardId };
  }
  return row;
}

/** The DynamoDB Streams adapter's multi-stream identifier: `account:region$account$table$label:1`. */
export function kclStreamIdentifier(streamArn: string): string {
  const match = /^arn:[^:]+:dynamodb:([^:]+):(\d{12}):table\/([^/]+)\/stream\/(.+)$/.exec(streamArn);
  if (!match) throw new TypeError(`not a DynamoDB stream ARN: ${streamArn}`);
  const [, region, account, table, label] = match as unknown as [string, string, string, string, string];
  return `${account}:${[region, account, table, label.replaceAll(':', '_')].join('$')}:1`;
}

/** KCL 3.x's other items in a lease table (3.5+ single-table mode): a test import must skip them. */
export function kclNonLeaseRows(): Array<Record<string, AttributeValue>> {
  return [
    // AmazonDynamoDBLockClient's leader lock (LeaderLock.LEADER_HASH_KEY).
    {
      leaseKey: { S: 'Leader' },
      ownerName: { S: 'java-worker-1' },
      leaseDuration: { S: '120000' },
      recordVersionNumber: { S: 'c0ffee' },
      entityType: { S: 'LEADER' },
    },
    { leaseKey: { S: 'Migration3.0' }, cv: { S: 'CLIENT_VERSION_3X' }, entityType: { S: 'CLIENT_VERSION_MIGRATION' } },
    {
      leaseKey: { S: 'java-worker-1' },
      wid: { S: 'java-worker-1' },
      entityType: { S: 'WORKER_METRIC_STATS' },
      lut: { N: '1733222222' },
      sts: { M: {} },
    },
  ];
}
