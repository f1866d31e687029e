/**
 * The lease-key format (pure): how a lease's `leaseKey` names its stream and shard when several
 * streams share one lease table (docs/architecture.md, "Lease keys").
 *
 * - `plain`: the bare shard id, as every single-stream table written before multi-stream
 *   support has it (and KCL's single-stream mode). A stream keyed this way stays keyed this way.
 * - `qualified`: `<streamArn>#<shardId>`. A stream ARN never contains `#`, and a shard id never
 *   does either, so the last `#` splits the two; the key starts with `arn:`, never with the `_`
 *   of the table's own items. KCL's multi-stream keys (`StreamIdentifier:shardId`) qualify the
 *   same way; the full ARN is kept (not KCL's account/name/epoch triple) because DynamoDB
 *   Streams' `StreamIdentifier` needs the account and region anyway and the ARN is what every
 *   other attribute and tool shows.
 *
 * Every lease item also carries `streamArn` and `shardId`, so nothing parses keys to learn
 * them: the key only has to be unique and deterministic, so two writers creating the same
 * lease race on one conditional put.
 */

export type LeaseKeyStyle = 'plain' | 'qualified';

const SEPARATOR = '#';

export function qualifiedLeaseKey(streamArn: string, shardId: string): string {
  return `${streamArn}${SEPARATOR}${shardId}`;
}

export function leaseKeyFor(style: LeaseKeyStyle, streamArn: string, shardId: string): string {
  return style === 'plain' ? shardId : qualifiedLeaseKey(streamArn, shardId);
}

/** What a key names: the stream only when qualified (a plain key does not say its stream). */
export function parseLeaseKey(leaseKey: string): { streamArn?: string | undefined; shardId: string } {
  const at = leaseKey.lastIndexOf(SEPARATOR);
  if (at <= 0 || !leaseKey.startsWith('arn:')) return { shardId: leaseKey };
  return { streamArn: leaseKey.slice(0, at), shardId: leaseKey.slice(at + 1) };
}

interface KeyedLease {
  leaseKey: string;
  shardId: string;
  streamArn: string;
}

export function keyStyleOf(lease: KeyedLease): LeaseKeyStyle {
  return lease.leaseKey === lease.shardId ? 'plain' : 'qualified';
}

/** The key of another shard of the lease's stream (a parent, a child), in the lease's style. */
export function relatedLeaseKey(lease: KeyedLease, shardId: string): string {
  return leaseKeyFor(keyStyleOf(lease), lease.streamArn, shardId);
}

/**
 * The style of a stream's new leases: the style its leases already have (plain wins when both
 * exist, so a table written before multi-stream support keeps its keys); for a stream without
 * leases, plain only when it is the application's only stream and no other stream's leases are
 * in the table, so a single-stream application's table looks as it always did.
 */
export function keyStyleFor(
  streamArn: string,
  leases: readonly KeyedLease[],
  applicationStreams: readonly string[],
): LeaseKeyStyle {
  let own = false;
  let others = false;
  for (const lease of leases) {
    if (lease.streamArn !== streamArn) others = true;
    else if (keyStyleOf(lease) === 'plain') return 'plain';
    else own = true;
  }
  if (own || others) return 'qualified';
  return applicationStreams.length <= 1 ? 'plain' : 'qualified';
}

/** A key for maps over several streams' shards: (stream, shard) is the identity of a shard. */
export function shardRef(streamArn: string, shardId: string): string {
  return `${streamArn}\u0000${shardId}`;
}
