/**
 * A self-contained HTML report of training runs: one inline SVG line plot per numeric series of
 * metrics.jsonl (src/rl/run-dir.ts; reward, accuracy, response length, every `train/...` key the
 * trainer reported such as entropy, ratio, clip and penalty statistics, timings), with several runs
 * (e.g. GTR and GRPO) drawn on the same axes, plus tables (the before/after evaluation). No
 * scripts, no external resources: it opens offline in any browser.
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** One run's metric rows (one JSON object per line of metrics.jsonl). */
export interface ReportRun {
  name: string;
  rows: Record<string, unknown>[];
}

/** A group of plots: every numeric key of the runs' rows (except `step`) becomes one plot. */
export interface ReportSection {
  title: string;
  runs: ReportRun[];
}

/** A plain table (cells already formatted, or numbers shown with 3 decimals). */
export interface ReportTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

/** What {@link renderReport} draws. */
export interface ReportInput {
  title: string;
  /** Paragraphs shown under the title (plain text, escaped). */
  notes?: string[];
  tables?: ReportTable[];
  sections: ReportSection[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * Reads metrics.jsonl into rows; blank lines are skipped.
 * @throws Error naming the file and line of a line that is not a JSON object.
 */
export function readMetricsJsonl(path: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(`${path}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${path}:${i + 1}: expected a JSON object`);
    out.push(v as Record<string, unknown>);
  });
  return out;
}

/**
 * The numeric series of some rows: key -> [step, value] points, in row order. `step` itself and
 * non-numeric / non-finite values are left out; keys keep their first-seen order.
 */
export function numericSeries(rows: readonly Record<string, unknown>[]): Map<string, [number, number][]> {
  const series = new Map<string, [number, number][]>();
  rows.forEach((row, i) => {
    const step = typeof row.step === 'number' ? row.step : i + 1;
    for (const [k, v] of Object.entries(row)) {
      if (k === 'step' || typeof v !== 'number' || !Number.isFinite(v)) continue;
      let s = series.get(k);
      if (!s) series.set(k, (s = []));
      s.push([step, v]);
    }
  });
  return series;
}

/** Short axis label of a number. */
function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(1);
  return Number(x.toPrecision(3)).toString();
}

/**
 * One SVG line plot (320 x 190 px) of a series for several runs (one colour each, legend inside).
 * Single points are drawn as dots; a constant series gets a unit-wide y range around its value.
 */
export function svgPlot(title: string, lines: { name: string; points: [number, number][] }[]): string {
  const W = 320, H = 190, L = 48, R = 10, T = 22, B = 28;
  const all = lines.flatMap((l) => l.points);
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { const d = Math.abs(y0) > 0 ? Math.abs(y0) * 0.5 : 0.5; y0 -= d; y1 += d; }
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">`,
    `<title>${escapeHtml(title)}</title>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="14" text-anchor="middle" font-size="12" font-family="sans-serif">${escapeHtml(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/>`,
  ];
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    parts.push(`<text x="${L - 4}" y="${py(y) + 4}" text-anchor="end" font-size="10" font-family="sans-serif">${fmt(y)}</text>`);
    parts.push(`<line x1="${L}" y1="${py(y)}" x2="${W - R}" y2="${py(y)}" stroke="#eee"/>`);
  }
  for (const x of [x0, x1]) parts.push(`<text x="${px(x)}" y="${H - B + 14}" text-anchor="middle" font-size="10" font-family="sans-serif">${fmt(x)}</text>`);
  parts.push(`<text x="${W - R}" y="${H - 3}" text-anchor="end" font-size="10" font-family="sans-serif" fill="#666">step</text>`);
  lines.forEach((l, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = l.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    if (l.points.length > 1) parts.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    if (l.points.length <= 20) for (const p of pts) { const [cx, cy] = p.split(','); parts.push(`<circle cx="${cx}" cy="${cy}" r="2" fill="${c}"/>`); }
    if (lines.length > 1) parts.push(`<text x="${L + 6}" y="${T + 12 + 12 * i}" font-size="10" font-family="sans-serif" fill="${c}">${escapeHtml(l.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** An HTML table; numbers are shown with 3 decimals. */
function htmlTable(t: ReportTable): string {
  const cell = (v: string | number) => escapeHtml(typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v);
  return `<h2>${escapeHtml(t.title)}</h2><table><thead><tr>${t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>`
    + `<tbody>${t.rows.map((r) => `<tr>${r.map((v) => `<td>${cell(v)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** The report as one HTML document (inline CSS and SVG, nothing fetched). */
export function renderReport(input: ReportInput): string {
  const body: string[] = [`<h1>${escapeHtml(input.title)}</h1>`];
  for (const n of input.notes ?? []) body.push(`<p>${escapeHtml(n)}</p>`);
  for (const t of input.tables ?? []) body.push(htmlTable(t));
  for (const sec of input.sections) {
    const perRun = sec.runs.map((r) => ({ name: r.name, series: numericSeries(r.rows) }));
    const keys: string[] = [];
    for (const r of perRun) for (const k of r.series.keys()) if (!keys.includes(k)) keys.push(k);
    body.push(`<h2>${escapeHtml(sec.title)}</h2><div class="grid">`);
    for (const k of keys) {
      const lines = perRun.filter((r) => r.series.has(k)).map((r) => ({ name: r.name, points: r.series.get(k)! }));
      body.push(`<figure>${svgPlot(k, lines)}</figure>`);
    }
    body.push('</div>');
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(input.title)}</title>`,
    '<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 16px}'
      + 'th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}th:first-child,td:first-child{text-align:left}'
      + '.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;border:1px solid #eee}</style>',
    '</head><body>',
    ...body,
    '</body></html>',
    '',
  ].join('\n');
}

/** Renders the report and writes it to `path`. */
export function writeReport(path: string, input: ReportInput): void {
  writeFileSync(path, renderReport(input));
}
