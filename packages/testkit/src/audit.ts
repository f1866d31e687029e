import type { ShardInfo } from '@shardline/core';
import type { ManifestEntry } from './simulator/types.js';

/** One delivery of a record to a processor, in the order deliveries happened. */
export interface DeliveredRecord {
  shardId: string;
  sequenceNumber: string;
}

export interface DuplicateDelivery {
  shardId: string;
  sequenceNumber: string;
  /** How many times it was delivered (≥ 2). */
  count: number;
}

export interface OrderViolation {
  shardId: string;
  /** A record first delivered after a record of the same shard with a higher sequence number. */
  sequenceNumber: string;
  /** The highest sequence number of the shard first-delivered before it. */
  deliveredAfter: string;
  /** Index in `delivered` of the offending first delivery. */
  index: number;
}

export interface ChildBeforeParent {
  /** The child shard and its first record delivered too early. */
  shardId: string;
  sequenceNumber: string;
  /** The parent whose last record was not yet delivered at that point. */
  parentShardId: string;
  /** That parent's last record (of the manifest); undefined when it has none but an ancestor does. */
  parentLastSequenceNumber: string | undefined;
  index: number;
}

export interface AuditReport {
  /** No record lost, none out of order, no child before its parents, nothing unknown delivered. Duplicates are allowed (at-least-once). */
  ok: boolean;
  /** Manifest records never delivered. */
  lost: ManifestEntry[];
  /** Records delivered more than once: reported, not a failure on their own. */
  duplicates: DuplicateDelivery[];
  orderViolations: OrderViolation[];
  childBeforeParent: ChildBeforeParent[];
  /** Deliveries of records the manifest does not hold (a reader that invents or mislabels records). */
  unknown: DeliveredRecord[];
}

/**
 * Checks deliveries against the manifest of records written, using first deliveries only
 * (redeliveries after a crash are expected):
 * - lost: a manifest record never delivered;
 * - order: within a shard, first deliveries must come in sequence-number order;
 * - lineage (needs `lineage`, e.g. `sim.shards()`): no record of a child shard may be first
 *   delivered before the last manifest record of each parent was; a parent with no records
 *   passes the rule on to its own parents.
 * Sequence numbers are compared as integers (BigInt). O(n log n) in the number of records.
 */
export function audit(manifest: readonly ManifestEntry[], delivered: readonly DeliveredRecord[], lineage?: readonly ShardInfo[]): AuditReport {
  const keyOf = (shardId: string, sequenceNumber: string): string => `${shardId}\u0000${sequenceNumber}`;
  const known = new Map<string, ManifestEntry>();
  for (const entry of manifest) known.set(keyOf(entry.shardId, entry.sequenceNumber), entry);

  const firstIndex = new Map<string, number>();
  const counts = new Map<string, number>();
  const unknown: DeliveredRecord[] = [];
  const orderViolations: OrderViolation[] = [];
  const highest = new Map<string, { seq: bigint; sequenceNumber: string }>();

  delivered.forEach((record, index) => {
    const key = keyOf(record.shardId, record.sequenceNumber);
    const count = (counts.get(key) ?? 0) + 1;
    counts.set(key, count);
    if (count > 1) return;
    firstIndex.set(key, index);
    if (!known.has(key)) unknown.push({ shardId: record.shardId, sequenceNumber: record.sequenceNumber });
    const seq = BigInt(record.sequenceNumber);
    const top = highest.get(record.shardId);
    if (top && seq < top.seq) {
      orderViolations.push({ shardId: record.shardId, sequenceNumber: record.sequenceNumber, deliveredAfter: top.sequenceNumber, index });
    } else {
      highest.set(record.shardId, { seq, sequenceNumber: record.sequenceNumber });
    }
  });

  const lost = manifest.filter((entry) => !firstIndex.has(keyOf(entry.shardId, entry.sequenceNumber)));
  const duplicates: DuplicateDelivery[] = [];
  for (const [key, count] of counts) {
    if (count < 2) continue;
    const [shardId, sequenceNumber] = key.split('\u0000') as [string, string];
    duplicates.push({ shardId, sequenceNumber, count });
  }

  const childBeforeParent = lineage ? checkLineage(manifest, delivered, lineage, firstIndex, keyOf) : [];
  return {
    ok: lost.length === 0 && orderViolations.length === 0 && childBeforeParent.length === 0 && unknown.length === 0,
    lost,
    duplicates,
    orderViolations,
    childBeforeParent,
    unknown,
  };
}

function checkLineage(
  manifest: readonly ManifestEntry[],
  delivered: readonly DeliveredRecord[],
  lineage: readonly ShardInfo[],
  firstIndex: ReadonlyMap<string, number>,
  keyOf: (shardId: string, sequenceNumber: string) => string,
): ChildBeforeParent[] {
  const parentOf = new Map<string, string | undefined>(lineage.map((shard) => [shard.shardId, shard.parentShardId]));
  const last = new Map<string, { seq: bigint; sequenceNumber: string }>();
  for (const entry of manifest) {
    const seq = BigInt(entry.sequenceNumber);
    const top = last.get(entry.shardId);
    if (!top || seq > top.seq) last.set(entry.shardId, { seq, sequenceNumber: entry.sequenceNumber });
  }

  // When a shard is finished from a reader's view: the first delivery of its last record, or
  // for a shard without records, when its own parents were finished. Infinity: never.
  const finished = new Map<string, number>();
  const finishedAt = (shardId: string): number => {
    // Walk up through record-less ancestors iteratively: lineage chains can be thousands deep.
    const chain: string[] = [];
    let at = -1;
    for (let id: string | undefined = shardId; id !== undefined && parentOf.has(id); id = parentOf.get(id)) {
      const cached = finished.get(id);
      if (cached !== undefined) {
        at = cached;
        break;
      }
      chain.push(id);
      if (chain.length > parentOf.size) break; // a cycle: malformed lineage, give up on it
      const top = last.get(id);
      if (top) {
        at = firstIndex.get(keyOf(id, top.sequenceNumber)) ?? Infinity;
        break;
      }
    }
    for (const id of chain) finished.set(id, at);
    return at;
  };

  const violations: ChildBeforeParent[] = [];
  const reported = new Set<string>();
  delivered.forEach((record, index) => {
    if (reported.has(record.shardId)) return;
    const parent = parentOf.get(record.shardId);
    if (parent === undefined || !parentOf.has(parent)) return;
    if (firstIndex.get(keyOf(record.shardId, record.sequenceNumber)) !== index) return;
    if (finishedAt(parent) > index) {
      reported.add(record.shardId);
      violations.push({ shardId: record.shardId, sequenceNumber: record.sequenceNumber, parentShardId: parent, parentLastSequenceNumber: last.get(parent)?.sequenceNumber, index });
    }
  });
  return violations;
}
