import { readFileSync } from 'node:fs';
import type { DescribeStreamCommandOutput } from '@aws-sdk/client-dynamodb-streams';
import type { ShardInfo } from '@shardline/core';
import { toShardInfo } from '../../src/describe.js';

export interface DescribeFixture {
  description: string;
  shardCount: number;
  pages: DescribeStreamCommandOutput[];
}

export type FixtureName = 'rollover-chain' | 'split' | 'deep-history' | 'missing-parents' | 'duplicate-pages';

export function loadFixture(name: FixtureName): DescribeFixture {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8')) as DescribeFixture;
}

/** Every shard of every page, as listed (duplicates kept: the graph must cope). */
export function shardsOf(fixture: DescribeFixture): ShardInfo[] {
  return fixture.pages.flatMap((page) => (page.StreamDescription?.Shards ?? []).map((s) => toShardInfo(s)!));
}
