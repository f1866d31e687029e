#!/usr/bin/env node
// Turns bench-report/figures/*.json (written by the bench scripts through bench-figures.mjs)
// into one SVG per chart and bench-report/README.md that shows them. Plain SVG strings: no
// chart library, no browser. `node scripts/bench-report.mjs` re-renders without re-measuring.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { reportDir } from './bench-figures.mjs';

const W = 720;
const COLORS = ['#0969da', '#1a7f37', '#bf3989', '#9a6700', '#8250df', '#cf222e'];
const FONT = 'font-family="system-ui, sans-serif" font-size="12"';

/** @param {string} s */
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
/** @param {number} v */
const fmt = (v) =>
  Math.abs(v) >= 10_000
    ? `${Math.round(v / 1000)}k`
    : Math.abs(v) >= 100
      ? String(Math.round(v))
      : String(Math.round(v * 100) / 100);

/** About five round ticks from 0 (or min) to a round number ≥ max. @param {number} min @param {number} max */
export function ticks(min, max) {
  const span = max - min || Math.abs(max) || 1;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 0.999; v += step) out.push(Math.round(v * 1e9) / 1e9);
  return out;
}

/** @param {string} title @param {number} height @param {string} body @param {string} [note] */
function frame(title, height, body, note) {
  const h = height + (note ? 24 : 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" ${FONT}>`,
    `<rect width="${W}" height="${h}" fill="#fff"/>`,
    `<text class="title" x="16" y="24" font-size="15" font-weight="600">${esc(title)}</text>`,
    body,
    note ? `<text class="note" x="16" y="${h - 10}" fill="#59636e">${esc(note)}</text>` : '',
    '</svg>',
    '',
  ].join('\n');
}

/** @param {import('./bench-figures.mjs').BarChart} c */
function bar(c) {
  const left = 220;
  const right = 90;
  const rowH = 30;
  const top = 44;
  const max = Math.max(...c.bars.map((b) => b.value), 0);
  const axis = ticks(0, max);
  const scale = (v) => left + (v / axis.at(-1)) * (W - left - right);
  const height = top + c.bars.length * rowH + 36;
  const grid = axis
    .map(
      (t) =>
        `<line x1="${scale(t)}" y1="${top - 4}" x2="${scale(t)}" y2="${height - 32}" stroke="#e5e7eb"/><text x="${scale(t)}" y="${height - 18}" text-anchor="middle" fill="#59636e">${fmt(t)}</text>`,
    )
    .join('\n');
  const bars = c.bars
    .map((b, i) => {
      const y = top + i * rowH;
      return [
        `<g class="series" data-series="${esc(b.label)}" data-value="${b.value}">`,
        `<text x="${left - 8}" y="${y + 17}" text-anchor="end">${esc(b.label)}</text>`,
        `<rect x="${left}" y="${y + 4}" width="${Math.max(1, scale(b.value) - left)}" height="${rowH - 10}" fill="${COLORS[i % COLORS.length]}"/>`,
        `<text x="${scale(b.value) + 6}" y="${y + 17}">${esc(fmt(b.value))} ${esc(c.unit)}</text>`,
        '</g>',
      ].join('');
    })
    .join('\n');
  return frame(c.title, height, `${grid}\n${bars}`, c.note);
}

/** @param {import('./bench-figures.mjs').LineChart} c */
function line(c) {
  const [left, right, top, bottom] = [64, 170, 44, 48];
  const height = 320;
  const points = c.series.flatMap((s) => s.points);
  const xs = ticks(Math.min(...points.map((p) => p[0]), 0), Math.max(...points.map((p) => p[0])));
  const ys = ticks(0, Math.max(...points.map((p) => p[1])));
  const sx = (v) => left + ((v - xs[0]) / (xs.at(-1) - xs[0] || 1)) * (W - left - right);
  const sy = (v) => height - bottom - (v / (ys.at(-1) || 1)) * (height - top - bottom);
  const grid = [
    ...ys.map(
      (t) =>
        `<line x1="${left}" y1="${sy(t)}" x2="${W - right}" y2="${sy(t)}" stroke="#e5e7eb"/><text x="${left - 6}" y="${sy(t) + 4}" text-anchor="end" fill="#59636e">${fmt(t)}</text>`,
    ),
    ...xs.map(
      (t) => `<text x="${sx(t)}" y="${height - bottom + 16}" text-anchor="middle" fill="#59636e">${fmt(t)}</text>`,
    ),
    `<text x="${(left + W - right) / 2}" y="${height - 12}" text-anchor="middle">${esc(c.x.label)}</text>`,
    `<text transform="translate(16 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(c.y.label)}</text>`,
  ].join('\n');
  const series = c.series
    .map((s, i) => {
      const color = COLORS[i % COLORS.length];
      const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
      const dots = s.points
        .map((p) => `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" fill="${color}"/>`)
        .join('');
      return [
        `<g class="series" data-series="${esc(s.name)}" data-points="${s.points.length}">`,
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>${dots}`,
        `<rect x="${W - right + 12}" y="${top + i * 20}" width="10" height="10" fill="${color}"/>`,
        `<text x="${W - right + 28}" y="${top + i * 20 + 9}">${esc(s.name)}</text>`,
        '</g>',
      ].join('');
    })
    .join('\n');
  return frame(c.title, height, `${grid}\n${series}`, c.note);
}

/** @param {import('./bench-figures.mjs').TimelineChart} c */
function timeline(c) {
  const [left, right, top, laneH] = [170, 30, 48, 56];
  const height = top + c.lanes.length * laneH + 40;
  const times = c.lanes.flatMap((l) => [
    ...(l.spans ?? []).flatMap((s) => [s.from, s.to]),
    ...(l.marks ?? []).map((m) => m.at),
  ]);
  const axis = ticks(Math.min(0, ...times), Math.max(...times));
  const sx = (v) => left + ((v - axis[0]) / (axis.at(-1) - axis[0] || 1)) * (W - left - right);
  const grid = axis
    .map(
      (t) =>
        `<line x1="${sx(t)}" y1="${top - 6}" x2="${sx(t)}" y2="${height - 34}" stroke="#e5e7eb"/><text x="${sx(t)}" y="${height - 20}" text-anchor="middle" fill="#59636e">${fmt(t)} ${esc(c.unit)}</text>`,
    )
    .join('\n');
  const lanes = c.lanes
    .map((l, i) => {
      const y = top + i * laneH;
      const spans = (l.spans ?? [])
        .map(
          (s, j) =>
            `<rect class="span" x="${sx(s.from)}" y="${y + 6}" width="${Math.max(1, sx(s.to) - sx(s.from))}" height="14" fill="${COLORS[j % COLORS.length]}" opacity="0.75"><title>${esc(s.label ?? '')} ${fmt(s.to - s.from)} ${esc(c.unit)}</title></rect>`,
        )
        .join('');
      const marks = (l.marks ?? [])
        .map(
          (m, j) =>
            `<line class="mark" x1="${sx(m.at)}" y1="${y + 2}" x2="${sx(m.at)}" y2="${y + 24}" stroke="#1f2328" stroke-width="2"/><text x="${sx(m.at) + (sx(m.at) > W * 0.75 ? -3 : 3)}" y="${y + 34 + (j % 2) * 13}" text-anchor="${sx(m.at) > W * 0.75 ? 'end' : 'start'}" font-size="11" fill="#59636e">${esc(m.label)}</text>`,
        )
        .join('');
      return `<g class="series" data-series="${esc(l.label)}"><text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(l.label)}</text>${spans}${marks}</g>`;
    })
    .join('\n');
  return frame(c.title, height, `${grid}\n${lanes}`, c.note);
}

/** One chart as an SVG document. @param {import('./bench-figures.mjs').Chart} chart */
export function renderChart(chart) {
  if (chart.type === 'bar') return bar(chart);
  if (chart.type === 'line') return line(chart);
  if (chart.type === 'timeline') return timeline(chart);
  throw new Error(`unknown chart type ${JSON.stringify(/** @type {{type: unknown}} */ (chart).type)}`);
}

/** Renders every figures file in `dir`/figures into `dir`: the SVGs and a README.md showing them. @param {string} dir */
export function writeReport(dir = reportDir()) {
  const figuresDir = join(dir, 'figures');
  if (!existsSync(figuresDir)) return [];
  const written = [];
  const sections = [];
  for (const file of readdirSync(figuresDir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const figures = JSON.parse(readFileSync(join(figuresDir, file), 'utf8'));
    const settings = Object.entries(figures.settings ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    sections.push(
      `## ${figures.bench}`,
      '',
      `Measured ${figures.measuredAt} on ${figures.machine.cpus} CPU(s), Node ${figures.machine.node}${settings ? `; ${settings}` : ''}.`,
      '',
    );
    for (const chart of figures.charts) {
      const name = `${figures.bench}-${chart.id}.svg`;
      writeFileSync(join(dir, name), renderChart(chart));
      written.push(name);
      sections.push(`![${chart.title}](${name})`, '');
      if (chart.measuredAt) sections.push(`(measured ${chart.measuredAt}, by an earlier run)`, '');
    }
  }
  writeFileSync(
    join(dir, 'README.md'),
    [
      '# Benchmark report',
      '',
      'Written by `npm run bench` (`scripts/bench-report.mjs` renders `figures/*.json`; `node scripts/bench-report.mjs` re-renders without measuring).',
      'Figures from a loaded or small machine are slower than on a quiet one: compare charts of one run, not across machines.',
      '',
      ...sections,
    ].join('\n'),
  );
  return written;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const written = writeReport();
  console.log(
    written.length > 0
      ? `bench report: ${written.length} chart(s) in ${reportDir()}`
      : `no figures in ${reportDir()}/figures`,
  );
}
