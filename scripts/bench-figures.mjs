// Benchmarks write their figures here as JSON (bench-report/figures/<bench>.json), chart-ready:
// bench-report.mjs turns them into SVG. One file per bench script; a run replaces the charts it
// measured and keeps the others, so a partial run (BENCH_ONLY, one script) refreshes only its own.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the report lives: BENCH_REPORT_DIR, else bench-report/ at the repository root. */
export function reportDir() {
  return process.env.BENCH_REPORT_DIR ?? fileURLToPath(new URL('../bench-report', import.meta.url));
}

/**
 * @typedef {{ type: 'bar', id: string, title: string, unit: string, bars: Array<{ label: string, value: number }>, note?: string }} BarChart
 * @typedef {{ type: 'line', id: string, title: string, x: { label: string }, y: { label: string }, series: Array<{ name: string, points: Array<[number, number]> }>, note?: string }} LineChart
 * @typedef {{ type: 'timeline', id: string, title: string, unit: string, lanes: Array<{ label: string, spans?: Array<{ from: number, to: number, label?: string }>, marks?: Array<{ at: number, label: string }> }>, note?: string }} TimelineChart
 * @typedef {BarChart | LineChart | TimelineChart} Chart
 */

/**
 * Records a bench script's charts, with when and on what they were measured.
 * @param {string} bench  the script's short name (`e2e`, `leases`, `scale`)
 * @param {Chart[]} charts
 * @param {Record<string, unknown>} [settings]  the knobs of this run (records, rounds…)
 */
export function writeFigures(bench, charts, settings = {}) {
  const dir = join(reportDir(), 'figures');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${bench}.json`);
  const measured = new Set(charts.map((chart) => chart.id));
  /** @type {{ measuredAt?: string, charts?: Array<Chart & { measuredAt?: string }> }} */
  const before = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  // A chart this run did not measure keeps the date of the run that did.
  const kept = (before.charts ?? [])
    .filter((chart) => !measured.has(chart.id))
    .map((chart) => ({ ...chart, measuredAt: chart.measuredAt ?? before.measuredAt }));
  const figures = {
    bench,
    measuredAt: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    settings,
    charts: [...kept, ...charts],
  };
  writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
}
