/**
 * Side-by-side comparison of eval reports (the logic behind `gtr eval compare a.json b.json ...`).
 */
import { formatMetric, mdCell, type FormatOptions } from './writers.js';
import type { EvalReport } from './types.js';

/** One compared quantity: a (benchmark, metric) pair across reports. */
export interface ComparisonRow {
  /** Benchmark name, or `macro` for the macro average. */
  benchmark: string;
  /** Metric name (`pass@4`, ...) or `meanResponseTokens`. */
  metric: string;
  /** `fraction` for metrics in [0, 1], `tokens` for mean response length. */
  unit: 'fraction' | 'tokens';
  /** Value in each report (null where that report lacks it), in report order. */
  values: (number | null)[];
  /** `values[i] - values[0]` (null where either is missing); `deltas[0]` is 0 when present. */
  deltas: (number | null)[];
}

/** JSON form of a comparison. */
export interface ComparisonJson {
  names: string[];
  models: string[];
  rows: ComparisonRow[];
}

export interface Comparison {
  json: ComparisonJson;
  markdown: string;
}

/** Name used for macro-average rows; a benchmark of this name would be ambiguous. */
export const MACRO_ROW = 'macro';

function pushUnique(list: string[], v: string): void {
  if (!list.includes(v)) list.push(v);
}

function row(benchmark: string, metric: string, unit: ComparisonRow['unit'], values: (number | null)[]): ComparisonRow {
  const base = values[0] ?? null;
  const deltas = values.map((v) => (v === null || base === null ? null : v - base));
  return { benchmark, metric, unit, values, deltas };
}

function signed(delta: number, unit: ComparisonRow['unit'], opts: FormatOptions): string {
  const s = unit === 'tokens' ? delta.toFixed(1) : formatMetric(delta, opts);
  return delta > 0 || (delta === 0 && !s.startsWith('-')) ? `+${s}` : s;
}

/**
 * Lines up reports side by side. Rows: for each benchmark (in order of first appearance across
 * reports), each metric any report has for it (in order of first appearance), then its mean
 * response tokens; then the macro rows (each report's own macro average, so macros over different
 * benchmark sets are not like for like). One column per report; columns after the first show the
 * delta against the first report, e.g. `47.5 (+2.5)`. Fractions render as percentages unless
 * `format` says otherwise; the JSON form keeps raw fractions.
 * @throws Error when `names` and `reports` differ in length or no report is given.
 */
export function compareReports(
  reports: readonly EvalReport[],
  names: readonly string[],
  format: FormatOptions = {},
): Comparison {
  if (reports.length === 0) throw new Error('compareReports: no reports given');
  if (names.length !== reports.length) {
    throw new Error(`compareReports: ${reports.length} reports but ${names.length} names`);
  }
  const benchmarks: string[] = [];
  for (const r of reports) for (const b of r.benchmarks) pushUnique(benchmarks, b.name);
  const rows: ComparisonRow[] = [];
  for (const name of benchmarks) {
    const found = reports.map((r) => r.benchmarks.find((b) => b.name === name) ?? null);
    const metrics: string[] = [];
    for (const b of found) if (b) for (const m of Object.keys(b.metrics)) pushUnique(metrics, m);
    for (const m of metrics)
      rows.push(
        row(
          name,
          m,
          'fraction',
          found.map((b) => (b && m in b.metrics ? b.metrics[m]! : null)),
        ),
      );
    rows.push(
      row(
        name,
        'meanResponseTokens',
        'tokens',
        found.map((b) => (b ? b.meanResponseTokens : null)),
      ),
    );
  }
  const macroMetrics: string[] = [];
  for (const r of reports) for (const m of Object.keys(r.macro)) pushUnique(macroMetrics, m);
  for (const m of macroMetrics)
    rows.push(
      row(
        MACRO_ROW,
        m,
        'fraction',
        reports.map((r) => (m in r.macro ? r.macro[m]! : null)),
      ),
    );

  const json: ComparisonJson = { names: [...names], models: reports.map((r) => r.model), rows };
  return { json, markdown: comparisonToMarkdown(json, format) };
}

/** Renders a {@link ComparisonJson} as a markdown table (see {@link compareReports}). */
export function comparisonToMarkdown(c: ComparisonJson, format: FormatOptions = {}): string {
  const lines: string[] = [];
  lines.push(`| benchmark | metric | ${c.names.map(mdCell).join(' | ')} |`);
  lines.push(`| --- | --- | ${c.names.map(() => '---:').join(' | ')} |`);
  for (const r of c.rows) {
    const cells = r.values.map((v, i) => {
      if (v === null) return '—';
      const text = r.unit === 'tokens' ? v.toFixed(1) : formatMetric(v, format);
      const d = r.deltas[i];
      return i === 0 || d === null || d === undefined ? text : `${text} (${signed(d, r.unit, format)})`;
    });
    const bench = r.benchmark === MACRO_ROW ? '**macro**' : mdCell(r.benchmark);
    const metric = r.metric === 'meanResponseTokens' ? 'mean tokens' : r.metric;
    lines.push(`| ${bench} | ${metric} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
