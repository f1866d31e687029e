import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { WorkerMetrics } from '../packages/worker/src/metrics.js';
import { ROOT } from './cli-process.js';

/**
 * The alert rules and the Grafana dashboard of deploy/ may use only metrics a worker serves: the
 * names are read from the exposition text of the registry behind a worker's /metrics (with
 * process metrics on, as `shardline run --health-port` has them), histograms with their
 * _bucket/_sum/_count series.
 */
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description?: string };
}
interface Panel {
  id: number;
  title: string;
  type: string;
  targets: Array<{ refId: string; expr: string }>;
}

async function servedMetricNames(): Promise<Set<string>> {
  const metrics = new WorkerMetrics({ defaultMetrics: true });
  const text = await metrics.metrics();
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (!type) continue;
    names.add(type[1]!);
    if (type[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${type[1]}${suffix}`);
  }
  return names;
}

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or label values. */
function metricsIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const withoutLabels = withoutStrings
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, '');
  return [...withoutLabels.matchAll(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()/g)]
    .map((m) => m[0])
    .filter((name) => !['and', 'or', 'unless', 'offset', 'bool'].includes(name) && !/^\d/.test(name))
    .filter((name) => !/^[smhdwy]$/.test(name));
}

function balanced(expr: string): boolean {
  let depth = 0;
  for (const c of expr) {
    if ('({['.includes(c)) depth++;
    if (')}]'.includes(c)) depth--;
    if (depth < 0) return false;
  }
  return depth === 0;
}

describe('deploy/prometheus/shardline-alerts.yaml', () => {
  const doc = parseDocument(readFileSync(join(ROOT, 'deploy/prometheus/shardline-alerts.yaml'), 'utf8'));
  const rules = ((doc.toJS() as { groups: Array<{ name: string; rules: Rule[] }> }).groups ?? []).flatMap(
    (g) => g.rules,
  );

  it('parses as a Prometheus rule file: named groups, unique alerts with expr, severity, summary', () => {
    expect(doc.errors).toEqual([]);
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'ShardlineLagHigh',
        'ShardlineShardStalled',
        'ShardlineFailedRecords',
        'ShardlineWorkerFenced',
        'ShardlineLeaseTableWritesFailing',
      ]),
    );
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(rule.expr.trim(), rule.alert).not.toBe('');
      expect(balanced(rule.expr), rule.alert).toBe(true);
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toEqual(expect.any(String));
      if (rule.for !== undefined) expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
    }
  });

  it('uses only metrics a worker serves at /metrics', async () => {
    const served = await servedMetricNames();
    for (const rule of rules) {
      const used = metricsIn(rule.expr);
      expect(used.length, rule.alert).toBeGreaterThan(0);
      expect(
        used.filter((name) => !served.has(name)),
        rule.alert,
      ).toEqual([]);
    }
  });
});

describe('deploy/grafana/shardline-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/shardline-dashboard.json'), 'utf8')) as {
    uid: string;
    panels: Panel[];
    templating: { list: Array<{ name: string; query: string }> };
  };

  it('is a dashboard with unique panel ids, each with a query', () => {
    expect(dashboard.uid).toBe('shardline');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) expect(balanced(target.expr), panel.title).toBe(true);
    }
  });

  it('queries only metrics a worker serves at /metrics', async () => {
    const served = await servedMetricNames();
    const exprs = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, expr: t.expr }))),
      ...dashboard.templating.list
        .filter((v) => v.query.startsWith('label_values('))
        .map((v) => ({ where: `variable ${v.name}`, expr: v.query.replace(/^label_values\((.*),[^,]*\)$/, '$1') })),
    ];
    for (const { where, expr } of exprs) {
      const used = metricsIn(expr);
      expect(used.length, where).toBeGreaterThan(0);
      expect(
        used.filter((name) => !served.has(name)),
        where,
      ).toEqual([]);
    }
    // Every shardline metric is on the dashboard.
    const shown = new Set(
      exprs.flatMap(({ expr }) => metricsIn(expr)).map((n) => n.replace(/_(bucket|sum|count)$/, '')),
    );
    expect(
      [...served].filter((n) => n.startsWith('shardline_') && !/_(bucket|sum|count)$/.test(n) && !shown.has(n)),
    ).toEqual([]);
  });
});
