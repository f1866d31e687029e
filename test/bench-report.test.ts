import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterEach, describe, expect, it } from 'vitest';

interface Chart {
  type: string;
  id: string;
  title: string;
}
interface Report {
  renderChart: (chart: Chart) => string;
  writeReport: (dir: string) => string[];
  ticks: (min: number, max: number) => number[];
}
// @ts-expect-error: a plain .mjs script (the bench report), no type declarations
const { renderChart, writeReport, ticks } = (await import('../scripts/bench-report.mjs')) as Report;
const FIXTURE = fileURLToPath(new URL('./fixtures/bench-figures.json', import.meta.url));
const figures = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { charts: Chart[] };
const chart = (id: string) => figures.charts.find((c) => c.id === id)!;

type Node = Record<string, unknown>;
const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'g' });
function parse(svg: string): Node {
  expect(XMLValidator.validate(svg)).toBe(true);
  return (parser.parse(svg) as { svg: Node }).svg;
}
const seriesOf = (svg: Node) => (svg.g as Node[]).filter((g) => g.class === 'series');

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('bench report charts', () => {
  it('draws a bar chart as valid SVG with one series per bar, its value, and the title escaped', () => {
    const svg = renderChart(chart('throughput'));
    const root = parse(svg);
    expect(root.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(svg).toContain('Throughput, one shard &lt;vs&gt; the bare loop');
    expect(seriesOf(root).map((g) => [g['data-series'], g['data-value']])).toEqual([
      ['bare GetRecords loop', '41000'],
      ['Worker, first→last', '38500'],
    ]);
    // The longer bar is the larger value.
    const widths = seriesOf(root).map((g) => Number((g.rect as Node).width));
    expect(widths[0]).toBeGreaterThan(widths[1]!);
  });

  it('draws a line chart with a path through every point of each series, and a timeline with its lanes', () => {
    const line = parse(renderChart(chart('latency')));
    const [series] = seriesOf(line);
    expect(series).toMatchObject({ 'data-series': '100 writes/s', 'data-points': '4' });
    expect(String((series!.path as Node).d).match(/[ML]/g)).toHaveLength(4);
    expect(series!.circle).toHaveLength(4);

    const timeline = parse(renderChart(chart('hand-off')));
    expect(seriesOf(timeline).map((g) => g['data-series'])).toEqual(['owner', 'successor']);
    expect(renderChart(chart('hand-off'))).toMatch(/SIGTERM<\/text>.*first record<\/text>/s);
  });

  it('writes an SVG per chart and a README showing them, from the figures files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'figures'));
    writeFileSync(join(dir, 'figures', 'e2e.json'), readFileSync(FIXTURE));
    expect(writeReport(dir)).toEqual(['e2e-throughput.svg', 'e2e-latency.svg', 'e2e-hand-off.svg']);
    expect(readdirSync(dir).sort()).toEqual([
      'README.md',
      'e2e-hand-off.svg',
      'e2e-latency.svg',
      'e2e-throughput.svg',
      'figures',
    ]);
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).toContain('![SIGTERM hand-off](e2e-hand-off.svg)');
    expect(readme).toContain('on 2 CPU(s), Node v20.20.2; records 20000, rounds 5');
  });

  it('a partial run replaces the charts it measured and keeps the others with their own date', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-figures-'));
    dirs.push(dir);
    const previous = process.env.BENCH_REPORT_DIR;
    process.env.BENCH_REPORT_DIR = dir;
    try {
      // @ts-expect-error: a plain .mjs script (the bench figures), no type declarations
      const { writeFigures } = (await import('../scripts/bench-figures.mjs')) as {
        writeFigures: (bench: string, charts: Chart[], settings?: Record<string, unknown>) => void;
      };
      const file = join(dir, 'figures', 'e2e.json');
      writeFigures('e2e', [chart('throughput'), chart('latency')]);
      const first = JSON.parse(readFileSync(file, 'utf8')) as { measuredAt: string };
      writeFigures('e2e', [{ ...chart('latency'), title: 'latency, again' }]);
      const second = JSON.parse(readFileSync(file, 'utf8')) as { charts: Array<Chart & { measuredAt?: string }> };
      expect(second.charts.map((c) => [c.id, c.title, c.measuredAt])).toEqual([
        ['throughput', chart('throughput').title, first.measuredAt],
        ['latency', 'latency, again', undefined],
      ]);
      writeReport(dir);
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(
        `(measured ${first.measuredAt}, by an earlier run)`,
      );
    } finally {
      if (previous === undefined) delete process.env.BENCH_REPORT_DIR;
      else process.env.BENCH_REPORT_DIR = previous;
    }
  });

  it('picks round axis ticks that cover the data', () => {
    expect(ticks(0, 41_000)).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000]);
    expect(ticks(0, 0.9)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(() => renderChart({ type: 'pie', id: 'x', title: 'x' })).toThrow(/unknown chart type "pie"/);
  });
});
