import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cli-process.js';

type Column = { key: string; heading: string; means?: string; align?: 'left' | 'right' };
interface TextTable {
  textTable: (rows: Array<Record<string, unknown>>, columns: Column[], options?: { maxWidth?: number }) => string[];
  legend: (columns: Column[]) => string;
}
interface Chaos {
  renderChaos: (rows: Array<Record<string, unknown>>) => string[];
  ALL_SCENARIOS: string[];
}
// @ts-expect-error: a plain .mjs script, no type declarations
const { textTable, legend } = (await import('../scripts/text-table.mjs')) as TextTable;
// @ts-expect-error: a plain .mjs script, no type declarations
const { renderChaos, ALL_SCENARIOS } = (await import('../scripts/chaos.mjs')) as Chaos;

describe('scripts/text-table.mjs', () => {
  it('aligns text left and numbers right under short headings, with a legend for the abbreviations', () => {
    const columns: Column[] = [
      { key: 'name', heading: 'name', align: 'left' },
      { key: 'n', heading: 'n' },
      { key: 'cp', heading: 'c<p', means: 'child before parent' },
    ];
    expect(
      textTable(
        [
          { name: 'kill9', n: 5420, cp: 0 },
          { name: 'lossy', n: 12, cp: undefined },
        ],
        columns,
      ),
    ).toEqual(['name       n  c<p', '-----  -----  ---', 'kill9  5,420    0', 'lossy     12    -']);
    expect(legend(columns)).toBe('(c<p = child before parent)');
    expect(() => textTable([{ name: 'x'.repeat(120) }], columns)).toThrow(/the table is 1\d\d columns, over 98/);
  });

  it('the chaos report of every scenario, with its longest figures, fits in 98 columns', () => {
    const base = { records: 12_345, shards: 19, lost: 0, orderViolations: 0, keyOrderViolations: 0 };
    const rows = ALL_SCENARIOS.map((scenario) => ({
      ...base,
      scenario,
      childBeforeParent: 0,
      duplicates: 1_275,
      duplicateCause: 'records after the killed worker’s last checkpoint (≤ 200 ms interval)',
      handOffDuplicates: 1_000,
      sameProcessDuplicates: 275,
      drainMs: 59_999,
      kills: 20,
      victimShards: 12,
      takenDuringCut: 0,
      overlapMs: 0,
      takeoverMs: 4_200,
      victimStoppedMs: 2_900,
      resumeMs: 2_500,
    }));
    const lines = renderChaos(rows);
    expect(lines[0]).toMatch(/^scenario +records +shards +lost +order s\/k +c<p +dups +hand-off +re-read +drain s$/);
    expect(lines.some((l) => l.startsWith('(order s/k = per shard / per key; c<p = child before parent'))).toBe(true);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(98);
  });

  it.for<[Record<string, string>, string[], string]>([
    [{ SCENARIOS: 'kill9,bogus' }, [], 'chaos: SCENARIOS: unknown bogus; one of kill9, sigterm'],
    [{ SECONDS_PER_SCENARIO: '10s' }, [], 'chaos: SECONDS_PER_SCENARIO must be a number above 0, got "10s"'],
    [{}, ['--seconds', '5'], 'chaos: unknown argument "--seconds"'],
  ])('npm run chaos refuses %j %j with one line and exit 2, before starting anything', ([env, args, message]) => {
    const run = spawnSync(process.execPath, ['scripts/chaos.mjs', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr.startsWith(message)).toBe(true);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stdout).toBe('');
  });
});
