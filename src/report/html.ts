/**
 * A self-contained HTML report of training runs: one inline SVG line plot per numeric series of
 * metrics.jsonl (src/run/dir.ts; names in src/run/metric-names.ts), several runs (e.g. GTR and
 * GRPO) drawn on the same axes. It leads with the series a user looks at first (the `lead` list:
 * reward and accuracy with a moving average, held-out pass@k, response length, entropy, clip
 * fraction, penalty), then the other series grouped by their prefix (`actor/`, `timing_s/`, ...);
 * series that never change are folded into one table instead of a plot each. Tables (evaluation)
 * and a browsable sample log (`<details>` per step) follow. No scripts, no external resources: it
 * opens offline in any browser.
 *
 * The reports' one SVG plotting module: `svgPlot` (lines) and `svgBandPlot` (mean lines over
 * shaded intervals, with vertical markers; the transition benchmark's report) share one frame,
 * so every plot looks alike.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../checkpoint/save.js';
import { parseJsonLines } from '../data/jsonl.js';
import {
  interactiveControls,
  interactiveHead,
  interactiveScripts,
  sampleSearch,
  type InteractiveData,
} from './interactive.js';

/** One run's metric rows (one JSON object per line of metrics.jsonl). */
export interface ReportRun {
  name: string;
  rows: Record<string, unknown>[];
}

/**
 * A group of plots: every numeric key of the runs' rows (except `step`) becomes one plot, or one
 * line of the folded table of constant series.
 */
export interface ReportSection {
  title: string;
  runs: ReportRun[];
  /** Keys (exact, or RegExp) plotted first under "Key metrics", in this order. */
  lead?: (string | RegExp)[];
  /** Keys (exact, or RegExp) drawn with a trailing moving average over the raw (faint) line. */
  smooth?: (string | RegExp)[];
  /** Prefix groups (`actor`, `timing_s`, ...) shown in this order; others follow in first-seen order. */
  groupOrder?: string[];
}

/** One logged sample (a line of samples.jsonl) with the run it belongs to. */
export interface ReportSample {
  run: string;
  step: number;
  id?: string;
  prompt?: string;
  response: string;
  gold?: string;
  extracted?: string | null;
  reward?: number;
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
  /** The sample log, shown newest step first, one collapsible block per step. */
  samples?: ReportSample[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * Reads metrics.jsonl into rows; blank lines are skipped.
 * @throws Error naming the file and line of a line that is not a JSON object.
 */
export function readMetricsJsonl(path: string): Record<string, unknown>[] {
  return parseJsonLines(readFileSync(path, 'utf8'), path).map(({ line, value: v }) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${path}:${line}: expected a JSON object`);
    return v as Record<string, unknown>;
  });
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

/**
 * Trailing moving average of a series (window `w` points: the mean of the point and the w - 1
 * before it; the first points average what there is).
 */
export function movingAverage(points: readonly [number, number][], w: number): [number, number][] {
  let sum = 0;
  return points.map(([x, y], i) => {
    sum += y;
    if (i >= w) sum -= points[i - w][1];
    return [x, sum / Math.min(i + 1, w)];
  });
}

/** The moving-average window for a series of n points: about a tenth of the run, 2..25 points. */
export function smoothingWindow(n: number): number {
  return Math.max(2, Math.min(25, Math.round(n / 10)));
}

/** Short axis label of a number. */
function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(1);
  return Number(x.toPrecision(3)).toString();
}

/** One line of a plot; `smooth` > 1 draws the raw points faint and their moving average solid. */
export interface PlotLine {
  name: string;
  points: [number, number][];
  smooth?: number;
}

/** Margins of every plot (px): room for the y tick labels (left), the title (top), the x ticks (bottom). */
const MARGIN = { L: 48, R: 10, T: 22, B: 28 };

/** The shared frame of every plot: data ranges, tick values and the x axis' name. */
interface PlotAxes {
  width: number;
  height: number;
  x: [number, number];
  y: [number, number];
  xTicks: number[];
  yTicks: number[];
  xLabel: string;
}

/**
 * Opens an SVG plot the way every plot of the reports looks: white background, centred title,
 * axis lines, faint horizontal grid lines at the y ticks, x tick labels, the x axis' name at the
 * bottom right. Returns the parts so far (the caller appends its marks and `</svg>`) and the
 * data-to-pixel maps.
 */
function plotFrame(
  title: string,
  label: string,
  a: PlotAxes,
): { parts: string[]; px: (x: number) => number; py: (y: number) => number } {
  const { width: W, height: H } = a;
  const { L, R, T, B } = MARGIN;
  const [x0, x1] = a.x;
  const [y0, y1] = a.y;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">`,
    `<title>${escapeHtml(title)}</title>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="14" text-anchor="middle" font-size="12" font-family="sans-serif">${escapeHtml(label)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/>`,
  ];
  for (const y of a.yTicks) {
    parts.push(
      `<text x="${L - 4}" y="${py(y) + 4}" text-anchor="end" font-size="10" font-family="sans-serif">${fmt(y)}</text>`,
    );
    parts.push(`<line x1="${L}" y1="${py(y)}" x2="${W - R}" y2="${py(y)}" stroke="#eee"/>`);
  }
  for (const x of a.xTicks)
    parts.push(
      `<text x="${px(x)}" y="${H - B + 14}" text-anchor="middle" font-size="10" font-family="sans-serif">${fmt(x)}</text>`,
    );
  parts.push(
    `<text x="${W - R}" y="${H - 3}" text-anchor="end" font-size="10" font-family="sans-serif" fill="#666">${escapeHtml(a.xLabel)}</text>`,
  );
  return { parts, px, py };
}

/** A data range widened when empty (a constant series gets a unit-wide or +-50% range around its value). */
function padRange(lo: number, hi: number, unitWideX = false): [number, number] {
  if (hi !== lo) return [lo, hi];
  if (unitWideX) return [lo - 1, hi + 1];
  const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.5 : 0.5;
  return [lo - d, hi + d];
}

/** A series' legend entry: its name in its colour, stacked at the top left. */
const legendEntry = (name: string, i: number, c: string) =>
  `<text x="${MARGIN.L + 6}" y="${MARGIN.T + 12 + 12 * i}" font-size="10" font-family="sans-serif" fill="${c}">${escapeHtml(name)}</text>`;

/**
 * One SVG line plot (320 x 190 px) of a series for several runs (one colour each, legend inside).
 * Single points are drawn as dots; a constant series gets a unit-wide y range around its value.
 */
export function svgPlot(title: string, lines: PlotLine[]): string {
  const all = lines.flatMap((l) => l.points);
  const [x0, x1] = padRange(Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0])), true);
  const [y0, y1] = padRange(Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1])));
  const smoothed = lines.some((l) => (l.smooth ?? 0) > 1 && l.points.length > 2);
  const label = smoothed ? `${title} (avg of ${Math.max(...lines.map((l) => l.smooth ?? 0))})` : title;
  const { parts, px, py } = plotFrame(title, label, {
    width: 320,
    height: 190,
    x: [x0, x1],
    y: [y0, y1],
    xTicks: [x0, x1],
    yTicks: [y0, (y0 + y1) / 2, y1],
    xLabel: 'step',
  });
  const poly = (pts: [number, number][], c: string, extra: string) =>
    `<polyline fill="none" stroke="${c}" stroke-width="1.5"${extra} points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`;
  lines.forEach((l, i) => {
    const c = COLORS[i % COLORS.length];
    const smooth = (l.smooth ?? 0) > 1 && l.points.length > 2;
    if (l.points.length > 1) parts.push(poly(l.points, c, smooth ? ' stroke-opacity="0.3" class="raw"' : ''));
    if (smooth) parts.push(poly(movingAverage(l.points, l.smooth!), c, ' class="avg"'));
    if (l.points.length <= 20)
      for (const [x, y] of l.points)
        parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2" fill="${c}"/>`);
    if (lines.length > 1) parts.push(legendEntry(l.name, i, c));
  });
  parts.push('</svg>');
  return parts.join('');
}

/** One point of a band series: the mean at `x` and its interval [lo, hi] (e.g. a 95% CI over seeds). */
export interface BandPoint {
  x: number;
  mean: number;
  lo: number;
  hi: number;
}

/** One series of a band plot (e.g. one algorithm's mean over seeds), points in x order. */
export interface BandSeries {
  name: string;
  points: BandPoint[];
}

/** How a band plot is framed; every field is optional (ranges default to the data's). */
export interface BandPlotOptions {
  /** Size in px (default 320 x 190, the other plots' size). */
  width?: number;
  height?: number;
  /** Axis ranges (default: the data's, markers included for x). */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Tick values (default: both ends of x; both ends and the middle of y). */
  xTicks?: number[];
  yTicks?: number[];
  /** Name of the x axis (default 'step'). */
  xLabel?: string;
  /** Vertical dashed markers (e.g. the steps where a schedule switches phase), labelled at the top. */
  markers?: { x: number; label: string }[];
  /** A dotted horizontal reference line (e.g. a target accuracy). */
  reference?: number;
}

/**
 * One SVG plot of several series, each a mean line over a shaded band (its interval), in the look
 * of {@link svgPlot}: per series with points, one `<polygon class="band">` (upper edge left to right,
 * then lower edge back) and one `<polyline class="mean">` (a `<circle class="mean">` for a single
 * point); one `<line class="marker">` and its label per marker. A series without points is left
 * out but keeps its colour, so colours stay tied to the series' order.
 * @throws Error naming the series and x of a point whose mean, lo or hi is not finite, or whose
 *   lo > mean or mean > hi
 */
export function svgBandPlot(title: string, series: BandSeries[], options: BandPlotOptions = {}): string {
  for (const s of series) {
    for (const p of s.points) {
      if (![p.x, p.mean, p.lo, p.hi].every(Number.isFinite))
        throw new Error(`svgBandPlot "${title}": series "${s.name}" at x=${p.x}: x, mean, lo and hi must be finite`);
      if (p.lo > p.mean || p.mean > p.hi)
        throw new Error(
          `svgBandPlot "${title}": series "${s.name}" at x=${p.x}: need lo <= mean <= hi, got ${p.lo}, ${p.mean}, ${p.hi}`,
        );
    }
  }
  const all = series.flatMap((s) => s.points);
  const markers = options.markers ?? [];
  const xs = [...all.map((p) => p.x), ...markers.map((m) => m.x)];
  const [x0, x1] = options.xRange ?? padRange(Math.min(...xs, Infinity), Math.max(...xs, -Infinity), true);
  const [y0, y1] =
    options.yRange ??
    padRange(
      Math.min(...all.map((p) => p.lo), options.reference ?? Infinity),
      Math.max(...all.map((p) => p.hi), options.reference ?? -Infinity),
    );
  if (![x0, x1, y0, y1].every(Number.isFinite))
    throw new Error(`svgBandPlot "${title}": nothing to plot (no points and no ranges given)`);
  const H = options.height ?? 190;
  const { parts, px, py } = plotFrame(title, title, {
    width: options.width ?? 320,
    height: H,
    x: [x0, x1],
    y: [y0, y1],
    xTicks: options.xTicks ?? [x0, x1],
    yTicks: options.yTicks ?? [y0, (y0 + y1) / 2, y1],
    xLabel: options.xLabel ?? 'step',
  });
  const xy = (x: number, y: number) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`;
  const { L, R, T, B } = MARGIN;
  if (options.reference !== undefined) {
    parts.push(
      `<line class="reference" x1="${L}" y1="${py(options.reference).toFixed(1)}" x2="${(options.width ?? 320) - R}" y2="${py(options.reference).toFixed(1)}" stroke="#999" stroke-dasharray="2,3"/>`,
    );
  }
  for (const m of markers) {
    const mx = px(m.x).toFixed(1);
    parts.push(
      `<line class="marker" x1="${mx}" y1="${T}" x2="${mx}" y2="${H - B}" stroke="#555" stroke-dasharray="5,4"/>`,
    );
    parts.push(
      `<text x="${(px(m.x) + 3).toFixed(1)}" y="${T + 10}" font-size="10" font-family="sans-serif">${escapeHtml(m.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const c = COLORS[i % COLORS.length];
    const band = [...s.points.map((p) => xy(p.x, p.hi)), ...[...s.points].reverse().map((p) => xy(p.x, p.lo))].join(
      ' ',
    );
    parts.push(`<polygon class="band" points="${band}" fill="${c}" fill-opacity="0.15" stroke="none"/>`);
    parts.push(
      s.points.length > 1
        ? `<polyline class="mean" fill="none" stroke="${c}" stroke-width="1.5" points="${s.points.map((p) => xy(p.x, p.mean)).join(' ')}"/>`
        : `<circle class="mean" cx="${px(s.points[0]!.x).toFixed(1)}" cy="${py(s.points[0]!.mean).toFixed(1)}" r="2" fill="${c}"/>`,
    );
    parts.push(legendEntry(s.name, i, c));
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Formats a table cell: integers as is, other numbers with 3 decimals (or 3 significant digits when tiny). */
function cellText(v: string | number): string {
  if (typeof v !== 'number') return v;
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(3) : v.toExponential(2);
}

/** An HTML table; numbers are shown with 3 decimals. */
function htmlTable(t: ReportTable): string {
  return (
    `<h2>${escapeHtml(t.title)}</h2><table><thead><tr>${t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>` +
    `<tbody>${t.rows.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(cellText(v))}</td>`).join('')}</tr>`).join('')}</tbody></table>`
  );
}

const matches = (k: string, pats: readonly (string | RegExp)[] | undefined) =>
  (pats ?? []).some((p) => (typeof p === 'string' ? p === k : p.test(k)));

/** True when a series has at least two points and every point of every run has the same value. */
function isConstant(lines: PlotLine[]): boolean {
  const ys = lines.flatMap((l) => l.points.map((p) => p[1]));
  return ys.length > 1 && ys.every((y) => y === ys[0]);
}

/** A section: key metrics first, then the rest grouped by prefix, constant series folded into a table. */
function renderSection(sec: ReportSection, plots: InteractiveData['plots'] = {}): string[] {
  const perRun = sec.runs.map((r) => ({ name: r.name, series: numericSeries(r.rows) }));
  const keys: string[] = [];
  for (const r of perRun) for (const k of r.series.keys()) if (!keys.includes(k)) keys.push(k);
  const linesOf = (k: string): PlotLine[] =>
    perRun
      .filter((r) => r.series.has(k))
      .map((r) => {
        const points = r.series.get(k)!;
        return { name: r.name, points, smooth: matches(k, sec.smooth) ? smoothingWindow(points.length) : undefined };
      });
  const constant = keys.filter((k) => isConstant(linesOf(k)));
  const plotted = keys.filter((k) => !constant.includes(k));
  const lead: string[] = [];
  for (const p of sec.lead ?? []) for (const k of plotted) if (matches(k, [p]) && !lead.includes(k)) lead.push(k);
  const groups = new Map<string, string[]>();
  for (const k of plotted) {
    if (lead.includes(k)) continue;
    const g = k.includes('/') ? k.slice(0, k.indexOf('/')) : 'other';
    groups.set(g, [...(groups.get(g) ?? []), k]);
  }
  const rank = (g: string) => {
    const i = (sec.groupOrder ?? []).indexOf(g);
    return i < 0 ? Infinity : i;
  };
  const ordered = [...groups].sort((a, b) => rank(a[0]) - rank(b[0])); // stable: unknown groups keep their order
  // Each figure names its plot for the interactive layer (./interactive.ts), which draws it again
  // with uPlot from `plots`; the SVG is what a page without scripts shows.
  const figure = (k: string) => {
    const id = `p${Object.keys(plots).length}`;
    plots[id] = linesOf(k).map((l) => ({ name: l.name, points: l.points }));
    return `<figure data-plot="${id}" data-title="${escapeHtml(k)}">${svgPlot(k, linesOf(k))}</figure>`;
  };
  const grid = (ks: string[]) => `<div class="grid">${ks.map(figure).join('')}</div>`;
  const out = [`<h2>${escapeHtml(sec.title)}</h2>`];
  if (lead.length) out.push('<h3>Key metrics</h3>', grid(lead));
  for (const [g, ks] of ordered) out.push(`<h3>${escapeHtml(g)}</h3>`, grid(ks));
  if (constant.length) {
    const rows = constant.map(
      (k) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(cellText(linesOf(k)[0].points[0][1]))}</td></tr>`,
    );
    out.push(
      `<details class="constant"><summary>${constant.length} constant series (not plotted)</summary>` +
        `<table><thead><tr><th>series</th><th>value</th></tr></thead><tbody>${rows.join('')}</tbody></table></details>`,
    );
  }
  return out;
}

/** Longest text shown per sample field; the rest is cut with a note (a report stays small). */
const MAX_SAMPLE_CHARS = 4000;

function sampleText(s: string | null | undefined): string {
  if (s === undefined || s === null) return '';
  return s.length > MAX_SAMPLE_CHARS
    ? `${s.slice(0, MAX_SAMPLE_CHARS)} [... ${s.length - MAX_SAMPLE_CHARS} more characters]`
    : s;
}

/** The sample log: one collapsible block per (step), newest first; rows per run. */
function renderSamples(samples: ReportSample[]): string[] {
  const steps = [...new Set(samples.map((s) => s.step))].sort((a, b) => b - a);
  const out = [
    `<h2>Samples</h2><p>${samples.length} logged responses over ${steps.length} steps (newest first; open a step to read them).</p>`,
    sampleSearch(),
  ];
  for (const step of steps) {
    const rows = samples
      .filter((s) => s.step === step)
      .map(
        (s) =>
          '<tr>' +
          [
            s.run,
            s.id ?? '',
            sampleText(s.prompt),
            sampleText(s.response),
            s.gold ?? '',
            sampleText(s.extracted),
            s.reward === undefined ? '' : cellText(s.reward),
          ]
            .map((c, i) => `<td${i >= 2 && i <= 3 ? ' class="text"' : ''}>${escapeHtml(String(c))}</td>`)
            .join('') +
          '</tr>',
      );
    out.push(
      `<details class="samples"><summary>step ${step} (${rows.length})</summary><table><thead><tr>` +
        ['run', 'id', 'prompt', 'response', 'gold', 'extracted', 'reward'].map((c) => `<th>${c}</th>`).join('') +
        `</tr></thead><tbody>${rows.join('')}</tbody></table></details>`,
    );
  }
  return out;
}

/**
 * Per run, [step, cumulative `timing_s/step`] for the wall-time axis (time spent in steps; runs
 * without step times are left out).
 */
function stepTimes(sections: ReportSection[]): InteractiveData['time'] {
  const out: InteractiveData['time'] = {};
  for (const sec of sections)
    for (const r of sec.runs) {
      if (out[r.name]) continue;
      let t = 0;
      const pts: [number, number][] = [];
      for (const row of r.rows) {
        const dt = row['timing_s/step'];
        if (typeof row.step !== 'number' || typeof dt !== 'number' || !Number.isFinite(dt)) continue;
        t += dt;
        pts.push([row.step, t]);
      }
      if (pts.length) out[r.name] = pts;
    }
  return out;
}

/**
 * The report as one HTML document. Inline CSS and SVG, and, when it has plots, uPlot and the
 * page script inlined (./interactive.ts): nothing is fetched, it opens offline.
 */
export function renderReport(input: ReportInput): string {
  const body: string[] = [`<h1>${escapeHtml(input.title)}</h1>`];
  for (const n of input.notes ?? []) body.push(`<p>${escapeHtml(n)}</p>`);
  for (const t of input.tables ?? []) body.push(htmlTable(t));
  const plots: InteractiveData['plots'] = {};
  const sections = input.sections.flatMap((sec) => renderSection(sec, plots));
  const interactive = Object.keys(plots).length > 0;
  if (interactive) body.push(interactiveControls());
  body.push(...sections);
  if (input.samples?.length) body.push(...renderSamples(input.samples));
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(input.title)}</title>`,
    '<style>body{font-family:sans-serif;margin:16px 24px;color:#222}table{border-collapse:collapse;margin:8px 0 16px}' +
      'th,td{border:1px solid #ccc;padding:4px 10px;text-align:right;vertical-align:top}th:first-child,td:first-child{text-align:left}' +
      'td.text{text-align:left;white-space:pre-wrap;font-family:monospace;max-width:40em}details{margin:4px 0}summary{cursor:pointer}' +
      '.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}figure{margin:0;border:1px solid #eee;padding:4px;min-width:0}figure svg{max-width:100%;height:auto}</style>',
    interactive ? interactiveHead() : '',
    '</head><body>',
    ...body,
    interactive ? interactiveScripts({ plots, time: stepTimes(input.sections) }) : '',
    '</body></html>',
    '',
  ].join('\n');
}

/** Renders the report and writes it to `path` atomically (a reader never sees half a report). */
export function writeReport(path: string, input: ReportInput): void {
  writeFileAtomicSync(path, renderReport(input));
}
