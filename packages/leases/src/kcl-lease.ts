import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { isSequenceNumber } from '@shardline/core';
import type { LeaseItem } from './items.js';
import { generations } from './shard-sync.js';

/**
 * The Java KCL's lease rows, read as its serializer writes them, and the pure half of
 * `shardline import-kcl`: which shardline lease each KCL lease becomes. No I/O here (that is
 * kcl-import.ts), so every mapping rule is tested on plain rows.
 *
 * Sources: `DynamoDBLeaseSerializer` and `DynamoDBMultiStreamLeaseSerializer` in
 * awslabs/amazon-kinesis-client (attribute names below), `MultiStreamLease.getLeaseKey`
 * (`streamIdentifier:shardId`), `StreamIdentifier` (`account:streamName:creationEpoch`),
 * `EntityType` (3.5+: `LEASE`, `STREAM`, `LEADER`, `CLIENT_VERSION_MIGRATION`,
 * `TABLE_MIGRATION`, `WORKER_METRIC_STATS`; no `entityType` means a lease), and the DynamoDB
 * Streams adapter's `KinesisMapperUtil.createKinesisStreamIdentifierFromDynamoDBStreamsArn`
 * (stream name `region$account$table$label`, the label's colons written as `_`).
 */

/** A KCL lease row, decoded. */
export interface KclLease {
  leaseKey: string;
  shardId: string;
  /** The stream a multi-stream key names; undefined for a plain shard-id key (single-stream mode). */
  streamArn?: string | undefined;
  leaseOwner?: string | undefined;
  leaseCounter: number;
  /** A sequence number or TRIM_HORIZON / LATEST / SHARD_END / AT_TIMESTAMP. */
  checkpoint: string;
  checkpointSubSequenceNumber: number;
  /** A prepared (two-phase) checkpoint not yet committed. */
  pendingCheckpoint?: string | undefined;
  pendingCheckpointSubSequenceNumber?: number | undefined;
  ownerSwitchesSinceCheckpoint: number;
  parentShardIds: string[];
  childShardIds: string[];
  /** Set during a 3.x graceful hand-off: a live worker is checkpointing this lease. */
  checkpointOwner?: string | undefined;
}

export type KclRow =
  | { kind: 'lease'; lease: KclLease }
  | { kind: 'skipped'; leaseKey: string; reason: string }
  | { kind: 'invalid'; leaseKey: string; problem: string };

/** Hash keys of KCL's own non-lease items (`LeaderLock.LEADER_HASH_KEY`, `MigrationState`, `TableMigrationState`). */
const KCL_COORDINATOR_KEYS: Readonly<Record<string, string>> = {
  Leader: 'KCL leader lock',
  'Migration3.0': 'KCL 2.x → 3.x migration state',
  'TableMigration3.5': 'KCL 3.5 table migration state',
};

/** `StreamIdentifier`'s serialized form (`account:streamName:creationEpoch`) followed by `:shardId`. */
const MULTI_STREAM_KEY = /^(?<account>\d+):(?<streamName>[^:]+):(?<epoch>\d+):(?<shardId>[^:]+)$/;
/** A plain (single-stream) lease key: a shard id, which never holds a colon. */
const PLAIN_KEY = /^[A-Za-z0-9_.-]+$/;
/** The adapter's stream name for a DynamoDB stream. */
const ADAPTER_STREAM_NAME = /^(?<region>[-a-z0-9]+)\$(?<account>\d{12})\$(?<table>[^$]+)\$(?<label>[^$]+)$/;

/** Decodes one raw row of a KCL lease table; never throws. */
export function parseKclRow(raw: Record<string, AttributeValue>): KclRow {
  const leaseKey = raw.leaseKey?.S;
  if (leaseKey === undefined)
    return { kind: 'invalid', leaseKey: JSON.stringify(raw.leaseKey), problem: 'no leaseKey' };
  const entityType = raw.entityType?.S;
  if (entityType !== undefined && entityType !== 'LEASE')
    return { kind: 'skipped', leaseKey, reason: `KCL ${entityType} item` };
  const coordinator = KCL_COORDINATOR_KEYS[leaseKey];
  if (coordinator !== undefined && entityType === undefined) return { kind: 'skipped', leaseKey, reason: coordinator };
  // KCL always writes leaseCounter and checkpoint on a lease: a row without them is something else.
  if (raw.leaseCounter?.N === undefined || raw.checkpoint?.S === undefined)
    return { kind: 'skipped', leaseKey, reason: 'not a lease (no leaseCounter or checkpoint)' };

  const key = parseKclLeaseKey(leaseKey, raw.streamName?.S, raw.shardId?.S);
  if ('problem' in key) return { kind: 'invalid', leaseKey, problem: key.problem };
  const number = (name: string): number | undefined | 'bad' => {
    const value = raw[name];
    if (value === undefined || value.NULL) return undefined;
    if (value.N === undefined) return 'bad';
    const n = Number(value.N);
    return Number.isSafeInteger(n) && n >= 0 ? n : 'bad';
  };
  const counter = number('leaseCounter');
  const sub = number('checkpointSubSequenceNumber');
  const pendingSub = number('pendingCheckpointSubSequenceNumber');
  const switches = number('ownerSwitchesSinceCheckpoint');
  for (const [name, value] of Object.entries({
    leaseCounter: counter,
    checkpointSubSequenceNumber: sub,
    pendingCheckpointSubSequenceNumber: pendingSub,
    ownerSwitchesSinceCheckpoint: switches,
  }))
    if (value === 'bad') return { kind: 'invalid', leaseKey, problem: `${name} is not a non-negative integer` };
  const sets: Record<string, string[]> = {};
  for (const name of ['parentShardId', 'childShardIds']) {
    const value = raw[name];
    // The serializer writes both as string sets (`DynamoUtils.createAttributeValue(Collection)`).
    if (value !== undefined && value.SS === undefined)
      return { kind: 'invalid', leaseKey, problem: `${name} is not a string set` };
    sets[name] = [...(value?.SS ?? [])].sort();
  }
  return {
    kind: 'lease',
    lease: {
      leaseKey,
      shardId: key.shardId,
      streamArn: key.streamArn,
      leaseOwner: raw.leaseOwner?.S,
      leaseCounter: counter as number,
      checkpoint: raw.checkpoint.S,
      checkpointSubSequenceNumber: (sub as number | undefined) ?? 0,
      pendingCheckpoint: raw.pendingCheckpoint?.S || undefined,
      pendingCheckpointSubSequenceNumber: pendingSub as number | undefined,
      ownerSwitchesSinceCheckpoint: (switches as number | undefined) ?? 0,
      parentShardIds: sets.parentShardId ?? [],
      childShardIds: sets.childShardIds ?? [],
      checkpointOwner: raw.checkpointOwner?.S,
    },
  };
}

/**
 * A KCL lease key: a plain shard id (single-stream mode), or `streamIdentifier:shardId`
 * (multi-stream mode), whose stream name the adapter builds from the stream ARN. The
 * multi-stream serializer also writes `streamName` and `shardId`; when present they must agree.
 */
export function parseKclLeaseKey(
  leaseKey: string,
  streamNameAttr?: string,
  shardIdAttr?: string,
): { shardId: string; streamArn?: string | undefined } | { problem: string } {
  const multi = MULTI_STREAM_KEY.exec(leaseKey)?.groups;
  if (multi) {
    const { account, streamName, epoch, shardId } = multi as Record<string, string>;
    const identifier = `${account}:${streamName}:${epoch}`;
    if (streamNameAttr !== undefined && streamNameAttr !== identifier)
      return { problem: `streamName ${streamNameAttr} does not match the key's ${identifier}` };
    if (shardIdAttr !== undefined && shardIdAttr !== shardId)
      return { problem: `shardId ${shardIdAttr} does not match the key's ${shardId}` };
    const streamArn = streamArnFromAdapterName(streamName!);
    if (streamArn === undefined)
      return { problem: `stream ${streamName} is not a DynamoDB stream (expected region$account$table$label)` };
    return { shardId: shardId!, streamArn };
  }
  if (!PLAIN_KEY.test(leaseKey)) return { problem: 'neither a shard id nor a multi-stream key' };
  return { shardId: leaseKey };
}

/** The inverse of the adapter's `createKinesisStreamIdentifierFromDynamoDBStreamsArn`. */
export function streamArnFromAdapterName(streamName: string): string | undefined {
  const parts = ADAPTER_STREAM_NAME.exec(streamName)?.groups;
  if (!parts) return undefined;
  const { region, account, table, label } = parts as Record<string, string>;
  return `arn:${partitionOf(region!)}:dynamodb:${region}:${account}:table/${table}/stream/${label!.replaceAll('_', ':')}`;
}

/** The adapter's stream name for a stream ARN (for tests and for the operator's dry run). */
export function adapterStreamName(streamArn: string): string {
  const match = /^arn:[^:]+:dynamodb:([^:]+):(\d{12}):table\/([^/]+)\/stream\/(.+)$/.exec(streamArn);
  if (!match) throw new TypeError(`not a DynamoDB stream ARN: ${streamArn}`);
  const [, region, account, table, label] = match as unknown as [string, string, string, string, string];
  return [region, account, table, label.replaceAll(':', '_')].join('$');
}

function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  return 'aws'; // also DynamoDB Local's `ddblocal`
}

/** core's test, without its type guard (whose `never` else-branch would hide the sentinels). */
const isSequence: (value: string) => boolean = isSequenceNumber;

/** Where a KCL checkpoint puts the shardline lease, and why when it is not the same value. */
export function mapKclCheckpoint(lease: KclLease): { checkpoint: string; note?: string } | { problem: string } {
  const { checkpoint } = lease;
  if (isSequence(checkpoint)) {
    // DynamoDB Streams records are never KPL-aggregated: a sub-sequence only comes from Kinesis.
    if (lease.checkpointSubSequenceNumber !== 0)
      return {
        problem: `checkpointSubSequenceNumber ${lease.checkpointSubSequenceNumber} (aggregated Kinesis records?)`,
      };
    // Both KCL and shardline resume AFTER_SEQUENCE_NUMBER of the checkpoint: the same value.
    return { checkpoint };
  }
  switch (checkpoint) {
    case 'TRIM_HORIZON':
    case 'SHARD_END':
      return { checkpoint };
    case 'LATEST':
    case 'AT_TIMESTAMP':
      // KCL never checkpointed a record of this shard, and where its worker began reading is
      // known only to that worker: LATEST again would skip what arrived since. Read the shard
      // from its oldest record instead (duplicates, never a gap), as shardline does for a
      // LATEST lease that changes owner.
      return {
        checkpoint: 'TRIM_HORIZON',
        note: `KCL ${lease.checkpoint}: no record checkpointed, read from the oldest`,
      };
    default:
      return { problem: `checkpoint ${JSON.stringify(checkpoint)} is neither a sequence number nor a KCL sentinel` };
  }
}

export interface KclImportInput {
  rows: readonly KclRow[];
  /**
   * The stream of plain shard-id keys (single-stream KCL), or the one stream to take from a
   * multi-stream table. Required for plain keys (they do not say their stream).
   */
  streamArn?: string | undefined;
  now: string;
}

export interface KclImportRow {
  kclLeaseKey: string;
  shardId: string;
  parentShardIds: string[];
  /** As KCL stored it (`checkpoint`, with `:sub` when the sub-sequence is not 0). */
  kclCheckpoint: string;
  checkpoint: string;
  notes: string[];
}

export interface KclImportPlan {
  streamArn: string | undefined;
  /** Parents before children. */
  rows: KclImportRow[];
  /** The shardline leases to write, in `rows` order. */
  items: LeaseItem[];
  skipped: Array<{ leaseKey: string; reason: string }>;
  /** Anything here refuses the import. */
  problems: string[];
}

/** Decides the shardline leases for a KCL table's rows (pure). */
export function planKclImport(input: KclImportInput): KclImportPlan {
  const skipped: KclImportPlan['skipped'] = [];
  const problems: string[] = [];
  const leases: KclLease[] = [];
  for (const row of input.rows) {
    if (row.kind === 'skipped') skipped.push({ leaseKey: row.leaseKey, reason: row.reason });
    else if (row.kind === 'invalid') problems.push(`${row.leaseKey}: ${row.problem}`);
    else leases.push(row.lease);
  }
  const plain = leases.filter((l) => l.streamArn === undefined);
  const streams = [...new Set(leases.flatMap((l) => (l.streamArn === undefined ? [] : [l.streamArn])))].sort();
  let streamArn = input.streamArn;
  if (plain.length > 0 && streams.length > 0)
    problems.push('the table mixes plain shard-id keys and multi-stream keys: it is not one KCL application');
  if (plain.length > 0 && streamArn === undefined)
    problems.push(
      'the KCL leases are plain shard ids (single-stream mode): name their stream with --table or --stream-arn',
    );
  if (streams.length > 1 && streamArn === undefined)
    problems.push(
      `the KCL table holds ${streams.length} streams (${streams.join(', ')}): choose one with --table or --stream-arn`,
    );
  if (streams.length === 1 && streamArn === undefined) streamArn = streams[0];

  const chosen: KclLease[] = [];
  for (const lease of leases) {
    if (lease.streamArn !== undefined && streamArn !== undefined && lease.streamArn !== streamArn)
      skipped.push({ leaseKey: lease.leaseKey, reason: `another stream (${lease.streamArn})` });
    else chosen.push(lease);
  }
  if (streamArn !== undefined && plain.length === 0 && streams.length > 0 && !streams.includes(streamArn))
    problems.push(`no KCL lease of stream ${streamArn} (the table has ${streams.join(', ')})`);

  const seen = new Set<string>();
  const byShard = new Map<string, { row: KclImportRow; item: LeaseItem }>();
  for (const lease of chosen) {
    if (seen.has(lease.shardId)) {
      problems.push(`shard ${lease.shardId} has two KCL leases`);
      continue;
    }
    seen.add(lease.shardId);
    const mapped = mapKclCheckpoint(lease);
    if ('problem' in mapped) {
      problems.push(`${lease.leaseKey}: ${mapped.problem}`);
      continue;
    }
    const notes = mapped.note ? [mapped.note] : [];
    if (lease.pendingCheckpoint !== undefined)
      notes.push(
        `pending checkpoint ${lease.pendingCheckpoint} not committed: resumes after the committed one, as KCL would`,
      );
    if (lease.checkpointOwner !== undefined)
      notes.push(`checkpointOwner ${lease.checkpointOwner}: a hand-off is in progress`);
    const row: KclImportRow = {
      kclLeaseKey: lease.leaseKey,
      shardId: lease.shardId,
      parentShardIds: lease.parentShardIds,
      kclCheckpoint:
        lease.checkpointSubSequenceNumber === 0
          ? lease.checkpoint
          : `${lease.checkpoint}:${lease.checkpointSubSequenceNumber}`,
      checkpoint: mapped.checkpoint,
      notes,
    };
    const item: LeaseItem = {
      leaseKey: lease.shardId,
      itemType: 'lease',
      shardId: lease.shardId,
      streamArn: streamArn ?? '',
      leaseCounter: 0,
      checkpoint: mapped.checkpoint,
      parentShardIds: lease.parentShardIds,
      ...(lease.childShardIds.length > 0 ? { childShardIds: lease.childShardIds } : {}),
      ownerSwitchesSinceCheckpoint: 0,
      updatedAt: input.now,
    };
    byShard.set(lease.shardId, { row, item });
  }
  // Parents first: a worker started during the writes never finds a child without its parent.
  const ordered = generations([...byShard.values()].map((v) => v.item)).flat();
  return {
    streamArn,
    rows: ordered.map((item) => byShard.get(item.shardId)!.row),
    items: ordered,
    skipped,
    problems,
  };
}
