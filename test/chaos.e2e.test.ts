import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectTestDynamoDB } from '@shardline/testkit';
import { ROOT } from './cli-process.js';

/**
 * The short version of `npm run chaos`: real `shardline run` processes (the built CLI, which
 * `npm test` builds first) through a kill -9 loop and a lease-table blackhole, each scenario
 * audited against the simulator's manifest by the same runner the long script uses.
 */
type RunChaos = (options: {
  scenarios: string[];
  seconds: number;
  dynamodbEndpoint: string;
  accessKeyId: string;
}) => Promise<ChaosRow[]>;
const db = connectTestDynamoDB();
afterAll(() => db.close());

interface ChaosRow {
  scenario: string;
  records: number;
  lost: number;
  orderViolations: number;
  keyOrderViolations: number;
  childBeforeParent: number;
  overlapMs?: number;
}

describe('npm run chaos, short', () => {
  it('loses nothing and keeps order and lineage through kill -9 and a lease-table blackhole', async () => {
    expect(existsSync(join(ROOT, 'apps/shardline/dist/cli.js')), 'build the CLI first (npm test does)').toBe(true);
    // @ts-expect-error: a plain .mjs script (the chaos suite), no type declarations
    const { runChaos } = (await import('../scripts/chaos.mjs')) as { runChaos: RunChaos };
    const rows = await runChaos({
      scenarios: ['kill9', 'lease-blackhole'],
      seconds: 10,
      dynamodbEndpoint: db.endpoint,
      accessKeyId: db.credentials.accessKeyId,
    });
    expect(rows.map((r) => r.scenario)).toEqual(['kill9', 'lease-blackhole']);
    for (const row of rows) {
      expect(row.records, row.scenario).toBeGreaterThan(500);
      expect({
        scenario: row.scenario,
        lost: row.lost,
        order: row.orderViolations,
        keyOrder: row.keyOrderViolations,
        lineage: row.childBeforeParent,
      }).toEqual({
        scenario: row.scenario,
        lost: 0,
        order: 0,
        keyOrder: 0,
        lineage: 0,
      });
    }
    expect(rows[1]!.overlapMs).toBe(0);
  }, 150_000);
});
