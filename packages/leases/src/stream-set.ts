import type { LeaseStream, ShardLister, StreamFollowing } from './options.js';
import { streamLabelOf, tableOfStream } from './stream-order.js';

/**
 * The streams one coordinator works on, each with its shard lister: which leases of the table
 * are this application's (the others are left alone) and where the leader lists each stream.
 * Streams of followed tables come and go at run time: a re-enabled stream is added (by the
 * leader when it notices it, by the others when they see its leases), a drained one retired.
 */
export class StreamSet {
  readonly #listers = new Map<string, ShardLister>();
  readonly #followed = new Set<string>();
  readonly #following: StreamFollowing | undefined;

  constructor(streams: readonly LeaseStream[], following?: StreamFollowing) {
    this.#following = following;
    for (const stream of streams) {
      this.#listers.set(stream.streamArn, stream.shardLister);
      const table = tableOfStream(stream.streamArn);
      if (stream.followTable && table !== undefined) this.#followed.add(table);
    }
  }

  /** In the order given, streams found at run time last. */
  get arns(): string[] {
    return [...this.#listers.keys()];
  }

  has(streamArn: string): boolean {
    return this.#listers.has(streamArn);
  }

  lister(streamArn: string): ShardLister {
    const lister = this.#listers.get(streamArn);
    if (!lister) throw new TypeError(`stream ${streamArn} is not one of this application's`);
    return lister;
  }

  /** Tables whose re-enabled streams are followed. */
  get followedTables(): string[] {
    return [...this.#followed];
  }

  get following(): StreamFollowing | undefined {
    return this.#following;
  }

  /** This application's streams of `tableName`, oldest first. */
  streamsOf(tableName: string): string[] {
    return this.arns
      .filter((arn) => tableOfStream(arn) === tableName)
      .sort((a, b) => streamLabelOf(a).localeCompare(streamLabelOf(b)));
  }

  /** Adds a stream of a followed table (found in the lease table or by the leader); false when not one or known. */
  adopt(streamArn: string): boolean {
    const table = tableOfStream(streamArn);
    if (this.has(streamArn) || !this.#following || table === undefined || !this.#followed.has(table)) return false;
    this.#listers.set(streamArn, this.#following.shardListerFor(streamArn));
    return true;
  }

  /** A drained, replaced stream: no longer listed or consumed. */
  retire(streamArn: string): void {
    this.#listers.delete(streamArn);
  }
}
