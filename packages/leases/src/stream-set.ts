import type { LeaseStream, ShardLister } from './options.js';

/**
 * The streams one coordinator works on, each with its shard lister: which leases of the table
 * are this application's (the others are left alone) and where the leader lists each stream.
 */
export class StreamSet {
  readonly #listers = new Map<string, ShardLister>();

  constructor(streams: readonly LeaseStream[]) {
    for (const stream of streams) this.#listers.set(stream.streamArn, stream.shardLister);
  }

  /** In the order given. */
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
}
