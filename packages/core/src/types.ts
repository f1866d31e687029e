/** Where a new lease of a root shard starts reading. Children always start at TRIM_HORIZON. */
export type InitialPosition = 'TRIM_HORIZON' | 'LATEST';

export const INITIAL_POSITIONS: readonly InitialPosition[] = ['TRIM_HORIZON', 'LATEST'];

/** One shard as DescribeStream reports it, reduced to what lineage needs. */
export interface ShardInfo {
  shardId: string;
  parentShardId?: string | undefined;
  startingSequenceNumber?: string | undefined;
  /** Present once the shard is closed: no records are added after it. */
  endingSequenceNumber?: string | undefined;
}
