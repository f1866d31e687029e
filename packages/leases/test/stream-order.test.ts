import { describe, expect, it } from 'vitest';
import { replacesAStream, streamLabelOf, tableOfStream, waitingStreams } from '../src/stream-order.js';

const arn = (table: string, label: string) => `arn:aws:dynamodb:us-east-1:000000000000:table/${table}/stream/${label}`;
const OLD = arn('orders', '2026-01-01T00:00:00.000');
const NEW = arn('orders', '2026-01-02T00:00:00.000');
const NEWER = arn('orders', '2026-01-03T00:00:00.000');
const OTHER = arn('payments', '2026-01-01T00:00:00.000');

describe("the order of a table's streams", () => {
  it('reads table and label from the ARN', () => {
    expect(tableOfStream(NEW)).toBe('orders');
    expect(streamLabelOf(NEW)).toBe('2026-01-02T00:00:00.000');
    expect(tableOfStream('not-an-arn')).toBeUndefined();
  });

  it('holds a later stream back while an earlier stream of its table has an unfinished lease', () => {
    const leases = [
      { streamArn: OLD, checkpoint: 'SHARD_END' },
      { streamArn: OLD, checkpoint: '1234' },
      { streamArn: NEW, checkpoint: 'TRIM_HORIZON' },
      { streamArn: NEWER, checkpoint: 'TRIM_HORIZON' },
      { streamArn: OTHER, checkpoint: 'TRIM_HORIZON' },
    ];
    expect(waitingStreams(leases)).toEqual(new Set([NEW, NEWER]));
    // Every old lease finished: the new stream goes; the newest still waits for it.
    leases[1]!.checkpoint = 'SHARD_END';
    expect(waitingStreams(leases)).toEqual(new Set([NEWER]));
    // An old stream without leases (retired, or trimmed away) holds nothing back.
    expect(waitingStreams(leases.filter((l) => l.streamArn !== OLD && l.streamArn !== NEW))).toEqual(new Set());
  });

  it('tells a replacing stream from a first one', () => {
    expect(replacesAStream(NEW, [OLD, NEW, OTHER])).toBe(true);
    expect(replacesAStream(OLD, [OLD, NEW])).toBe(false);
    expect(replacesAStream(OTHER, [OLD, NEW, OTHER])).toBe(false);
  });
});
