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

export interface KeyOrderViolation {
  key: string;
  /** A record first delivered after a record of the same key written later (in any shard). */
  shardId: string;
  sequenceNumber: string;
  /** The later-written record of that key first-delivered before it. */
  deliveredAfter: { shardId: string; sequenceNumber: string };
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
  /** Per item key, across shards and lineage: first deliveries in the order the manifest wrote them. */
  keyOrderViolations: KeyOrderViolation[];
  childBeforeParent: ChildBeforeParent[];
  /** Deliveries of records the manifest does not hold (a reader that invents or mislabels records). */
  unknown: DeliveredRecord[];
}

/**
 * Checks deliveries against the manifest of records written, using first deliveries only
 * (redeliveries after a crash are expected):
 * - lost: a manifest record never delivered;
 * - order: within a shard, first deliveries must come in sequence-number order;
 * - key order: per item key, first deliveries must come in manifest (write) order, whatever shard
 *   of the lineage held each record;
 * - lineage (needs `lineage`, e.g. `sim.shards()`): no record of a child shard may be first
 *   delivered before the last manifest record of each parent was; a parent with no records
 *   passes the rule on to its own parents.
 * Sequence numbers are compared as integers (BigInt). O(n log n) in the number of records.
 */
export function audit(
  manifest: readonly ManifestEntry[],
  delivered: readonly DeliveredRecord[],
  lineage?: readonly ShardInfo[],
): AuditReport {
  // shard → sequence number → deliveries; nested maps, so no composite string keys.
  const tracked = new Map<string, Map<string, Tracked>>();
  const track = (shardId: string, sequenceNumber: string, entry: ManifestEntry | undefined): Tracked => {
    let shard = tracked.get(shardId);
    if (!shard) tracked.set(shardId, (shard = new Map<string, Tracked>()));
    let record = shard.get(sequenceNumber);
    if (!record)
      shard.set(sequenceNumber, (record = { shardId, sequenceNumber, entry, count: 0, first: -1, written: -1 }));
    return record;
  };
  const manifestRecords = manifest.map((entry, written) => {
    const record = track(entry.shardId, entry.sequenceNumber, entry);
    if (record.written < 0) record.written = written;
    return record;
  });
  const keyOrderViolations: KeyOrderViolation[] = [];
  const latestOfKey = new Map<string, Tracked>();

  const unknown: DeliveredRecord[] = [];
  const orderViolations: OrderViolation[] = [];
  const highest = new Map<string, { seq: bigint; sequenceNumber: string }>();
  const extra: Tracked[] = [];
  delivered.forEach((delivery, index) => {
    const known = tracked.get(delivery.shardId)?.get(delivery.sequenceNumber);
    const record = known ?? track(delivery.shardId, delivery.sequenceNumber, undefined);
    if (++record.count > 1) return;
    record.first = index;
    if (!record.entry) {
      extra.push(record);
      unknown.push({ shardId: delivery.shardId, sequenceNumber: delivery.sequenceNumber });
    } else {
      const latest = latestOfKey.get(record.entry.key);
      if (latest && latest.written > record.written)
        keyOrderViolations.push({
          key: record.entry.key,
          shardId: record.shardId,
          sequenceNumber: record.sequenceNumber,
          deliveredAfter: { shardId: latest.shardId, sequenceNumber: latest.sequenceNumber },
          index,
        });
      else latestOfKey.set(record.entry.key, record);
    }
    const seq = BigInt(delivery.sequenceNumber);
    const top = highest.get(delivery.shardId);
    if (top && seq < top.seq) {
      orderViolations.push({
        shardId: delivery.shardId,
        sequenceNumber: delivery.sequenceNumber,
        deliveredAfter: top.sequenceNumber,
        index,
      });
    } else {
      highest.set(delivery.shardId, { seq, sequenceNumber: delivery.sequenceNumber });
    }
  });

  const lost: ManifestEntry[] = [];
  const duplicates: DuplicateDelivery[] = [];
  const seen = new Set<Tracked>();
  for (const record of [...manifestRecords, ...extra]) {
    if (record.entry && record.first < 0 && !seen.has(record)) lost.push(record.entry);
    if (record.count > 1 && !seen.has(record))
      duplicates.push({ shardId: record.shardId, sequenceNumber: record.sequenceNumber, count: record.count });
    seen.add(record);
  }
  duplicates.sort(
    (a, b) =>
      tracked.get(a.shardId)!.get(a.sequenceNumber)!.first - tracked.get(b.shardId)!.get(b.sequenceNumber)!.first,
  );

  const firstIndex = (shardId: string, sequenceNumber: string): number | undefined => {
    const first = tracked.get(shardId)?.get(sequenceNumber)?.first;
    return first === undefined || first < 0 ? undefined : first;
  };
  const childBeforeParent = lineage ? checkLineage(manifest, delivered, lineage, firstIndex) : [];
  return {
    ok:
      lost.length === 0 &&
      orderViolations.length === 0 &&
      keyOrderViolations.length === 0 &&
      childBeforeParent.length === 0 &&
      unknown.length === 0,
    lost,
    duplicates,
    orderViolations,
    keyOrderViolations,
    childBeforeParent,
    unknown,
  };
}

interface Tracked {
  shardId: string;
  sequenceNumber: string;
  entry: ManifestEntry | undefined;
  count: number;
  /** Index of the first delivery; -1 while never delivered. */
  first: number;
  /** Position in the manifest (write order); -1 for a record the manifest does not hold. */
  written: number;
}

function checkLineage(
  manifest: readonly ManifestEntry[],
  delivered: readonly DeliveredRecord[],
  lineage: readonly ShardInfo[],
  firstIndex: (shardId: string, sequenceNumber: string) => number | undefined,
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
        at = firstIndex(id, top.sequenceNumber) ?? Infinity;
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
    if (firstIndex(record.shardId, record.sequenceNumber) !== index) return;
    if (finishedAt(parent) > index) {
      reported.add(record.shardId);
      violations.push({
        shardId: record.shardId,
        sequenceNumber: record.sequenceNumber,
        parentShardId: parent,
        parentLastSequenceNumber: last.get(parent)?.sequenceNumber,
        index,
      });
    }
  });
  return violations;
}
