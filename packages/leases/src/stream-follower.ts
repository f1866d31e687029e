import type { TableSnapshot } from './items.js';
import type { CoordinatorParts } from './parts.js';
import { streamLabelOf } from './stream-order.js';

export type StreamFollowerDeps = Pick<CoordinatorParts, 'streams' | 'options' | 'log' | 'events'>;

/**
 * Re-enabled streams, the noticing half (the gate that holds the new stream back until the old
 * one drained is `waitingStreams`, applied by assignment; retirement is the leader's shard
 * sync). The leader asks each followed table for its latest stream on a slow cadence
 * (`streamCheckIntervalMs`, one DescribeTable per table); every worker adopts the streams of
 * followed tables it finds in the lease table, so a worker started after the switch still
 * drains the old stream and one started before it reads the new one.
 */
export class StreamFollower {
  readonly #d: StreamFollowerDeps;
  #lastCheckAt = Number.NEGATIVE_INFINITY;

  constructor(deps: StreamFollowerDeps) {
    this.#d = deps;
  }

  /** After each full read: streams of followed tables named by leases join the set. */
  adoptFrom(snapshot: TableSnapshot): void {
    const { streams, log } = this.#d;
    for (const arn of new Set(snapshot.leases.map((lease) => lease.streamArn)))
      if (streams.adopt(arn))
        log.info({ streamArn: arn }, 'following a stream of a followed table found in the lease table');
  }

  /** The leader's check, at most once per interval; true when a new stream was added (sync it now). */
  async check(now: number): Promise<boolean> {
    const { streams, options, log, events } = this.#d;
    const following = streams.following;
    if (!following || now < this.#lastCheckAt + options.streamCheckIntervalMs) return false;
    this.#lastCheckAt = now;
    let added = false;
    for (const tableName of streams.followedTables) {
      let latest: string | undefined;
      try {
        latest = await following.latestStreamArn(tableName);
      } catch (err) {
        log.warn(
          { err, tableName },
          'asking for the latest stream of a followed table failed; asked again next interval',
        );
        continue;
      }
      const known = streams.streamsOf(tableName);
      const newest = known.at(-1);
      if (latest === undefined || streams.has(latest)) continue;
      // An older stream than ours (a stale answer) is never taken for a replacement.
      if (newest !== undefined && streamLabelOf(latest) <= streamLabelOf(newest)) continue;
      streams.adopt(latest);
      added = true;
      log.warn(
        { tableName, streamArn: latest, previousStreamArns: known },
        'stream replaced: the table has a new stream (disabled and re-enabled); it starts once every shard of the old one is finished',
      );
      events.emit('stream:replaced', { tableName, streamArn: latest, previousStreamArns: known });
    }
    return added;
  }
}
