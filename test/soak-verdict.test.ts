import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cli-process.js';

interface Sample {
  minute: number;
  rssMiB: number;
  heapMiB: number;
  handles: number;
}
interface Verdict {
  verdict: string;
  rssSlope?: number;
  heapSlope?: number;
  handlesSlope?: number;
}
interface SoakVerdict {
  stayerVerdict: (samples: Sample[], runMinutes: number) => Verdict;
  runVerdict: (verdicts: Verdict[]) => string;
  slope: (points: Array<{ x: number; y: number }>) => number;
  TOO_SHORT: string;
}
// @ts-expect-error: a plain .mjs script, no type declarations
const { stayerVerdict, runVerdict, slope, TOO_SHORT } = (await import('../scripts/soak-verdict.mjs')) as SoakVerdict;

/** A sample every half minute over `minutes`, RSS growing by `rssPerMin`. */
const run = (minutes: number, rssPerMin: number): Sample[] =>
  Array.from({ length: minutes * 2 + 1 }, (_, i) => ({
    minute: i / 2,
    rssMiB: 100 + (i / 2) * rssPerMin,
    heapMiB: 30,
    handles: 3,
  }));

describe('the soak verdict', () => {
  it('is too short to judge when half the run is under 5 minutes, however the samples look', () => {
    expect(TOO_SHORT).toBe('too short to judge');
    expect(stayerVerdict(run(1, 0), 1)).toEqual({ verdict: TOO_SHORT });
    expect(stayerVerdict(run(9, 50), 9)).toEqual({ verdict: TOO_SHORT });
    expect(stayerVerdict(run(10, 0), 10).verdict).toBe('flat');
  });

  it('judges the slope over the last half only: early warm-up growth is not growth', () => {
    const warmUp = run(30, 0).map((s) => (s.minute < 15 ? { ...s, rssMiB: 40 + s.minute * 4 } : s));
    expect(stayerVerdict(warmUp, 30)).toMatchObject({ verdict: 'flat', rssSlope: 0 });
    const growing = stayerVerdict(run(30, 2), 30);
    expect(growing.verdict).toBe('grows');
    expect(growing.rssSlope).toBeCloseTo(2, 10);
    expect(slope([{ x: 1, y: 5 }])).toBe(0);
  });

  it('the run: grows if any stayer grows, else too short if any is, else flat', () => {
    expect(runVerdict([{ verdict: 'flat' }, { verdict: 'grows' }])).toBe('grows');
    expect(runVerdict([{ verdict: 'flat' }, { verdict: TOO_SHORT }])).toBe(TOO_SHORT);
    expect(runVerdict([{ verdict: 'flat' }, { verdict: 'flat' }])).toBe('flat');
  });

  it.for<[string[], Record<string, string>, string]>([
    [['--minutes', 'ten'], {}, 'soak: --minutes must be a number above 0, got "ten"'],
    [['--minutes'], {}, 'soak: --minutes needs a value'],
    [['--minuts', '3'], {}, 'soak: unknown argument "--minuts"'],
    [[], { RATE: '0' }, 'soak: RATE must be a number above 0, got "0"'],
  ])('npm run soak refuses %j %j with one line and exit 2, before starting anything', ([args, env, message]) => {
    const soak = spawnSync(process.execPath, ['scripts/soak.mjs', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(soak.status).toBe(2);
    expect(soak.stderr.startsWith(message)).toBe(true);
    expect(soak.stderr.trim().split('\n')).toHaveLength(1);
    expect(soak.stdout).toBe('');
  });
});
