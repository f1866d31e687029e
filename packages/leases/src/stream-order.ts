/**
 * The order of a table's streams (pure). Disabling and re-enabling a table's stream gives it a
 * new stream (new ARN and label; the old one stays readable, DISABLED, for 24 h): records of one
 * item may be in both, the older ones in the old stream. So a later stream of a table waits until
 * every lease of its earlier streams is finished, whatever keys its shards hold: per-item order
 * holds across the switch (docs/architecture.md, "Re-enabled streams").
 */

const STREAM_ARN = /:table\/([^/]+)\/stream\/(.+)$/;

/** The table of a DynamoDB stream ARN (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`). */
export function tableOfStream(streamArn: string): string | undefined {
  return STREAM_ARN.exec(streamArn)?.[1];
}

/**
 * A stream as people read it, in logs and on the status page: `<table>/<label>` (the ARN itself
 * when it is not a DynamoDB stream ARN). With several streams a bare shard id is ambiguous (the
 * same id can occur in two streams); the label tells a re-enabled table's streams apart.
 */
export function streamNameOf(streamArn: string): string {
  const match = STREAM_ARN.exec(streamArn);
  return match ? `${match[1]}/${match[2]}` : streamArn;
}

/** The stream label: an ISO-8601 time, so later streams of a table sort later. */
export function streamLabelOf(streamArn: string): string {
  return STREAM_ARN.exec(streamArn)?.[2] ?? streamArn;
}

interface StreamLease {
  streamArn: string;
  checkpoint: string;
}

/**
 * The streams whose leases must wait: those with an earlier stream of the same table (by label)
 * that still has a lease not at SHARD_END. A stream with no lease left counts as drained (its
 * finished leases are deleted when it is retired, or it was trimmed away).
 */
export function waitingStreams(leases: readonly StreamLease[], extraStreams: readonly string[] = []): Set<string> {
  const unfinished = new Set<string>();
  const byTable = new Map<string, Set<string>>();
  for (const arn of [...leases.map((l) => l.streamArn), ...extraStreams]) {
    const table = tableOfStream(arn);
    if (table === undefined) continue;
    let streams = byTable.get(table);
    if (!streams) byTable.set(table, (streams = new Set()));
    streams.add(arn);
  }
  for (const lease of leases) if (lease.checkpoint !== 'SHARD_END') unfinished.add(lease.streamArn);
  const waiting = new Set<string>();
  for (const streams of byTable.values()) {
    if (streams.size < 2) continue;
    const ordered = [...streams].sort((a, b) => streamLabelOf(a).localeCompare(streamLabelOf(b)));
    let earlierUnfinished = false;
    for (const arn of ordered) {
      if (earlierUnfinished) waiting.add(arn);
      if (unfinished.has(arn)) earlierUnfinished = true;
    }
  }
  return waiting;
}

/** True when `streamArn` has an earlier stream of its table among `streams`: it replaced one. */
export function replacesAStream(streamArn: string, streams: Iterable<string>): boolean {
  const table = tableOfStream(streamArn);
  const label = streamLabelOf(streamArn);
  for (const other of streams)
    if (other !== streamArn && tableOfStream(other) === table && streamLabelOf(other) < label) return true;
  return false;
}
