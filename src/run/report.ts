/**
 * The report of one or more `gtr train` run directories (`gtr report`, and the loop's own
 * <run.dir>/report.html refreshed after every step): metrics.jsonl's train and eval rows plotted
 * per step (several runs overlaid, named by their directory), the evaluation per benchmark at each
 * eval point as a table, and the sample log (samples.jsonl).
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { METRICS_FILE, SAMPLES_FILE } from './dir.js';
import { M } from './metric-names.js';
import {
  readMetricsJsonl,
  writeReport,
  type ReportInput,
  type ReportRun,
  type ReportSample,
  type ReportSection,
  type ReportTable,
} from '../report/html.js';

/** The series a user looks at first, in this order (GTR.md's quantities: reward, pass@k, the penalty). */
export const LEAD_SERIES: (string | RegExp)[] = [
  M.scoreMean,
  M.accuracy,
  /^val\/mean\/pass@/,
  M.responseLengthMean,
  M.responseLengthClipRatio,
  'actor/entropy',
  'actor/pg_clipfrac',
  'actor/penalty/mean',
];

/** Noisy per-step series drawn with a moving average. */
export const SMOOTHED_SERIES: (string | RegExp)[] = [M.scoreMean, M.accuracy];

/** Order of the series groups after the key metrics: outcomes, then the update's mechanics, then costs. */
export const GROUP_ORDER = [
  'critic',
  'reward',
  'response_length',
  'prompt_length',
  'val',
  'actor',
  'training',
  'batch',
  'timing_s',
];

/** Most recent logged samples per run kept in a report. */
const MAX_SAMPLES_PER_RUN = 400;

/** A run directory's rows and samples, named for the legend. */
export interface LoadedRun extends ReportRun {
  dir: string;
  samples: ReportSample[];
}

/**
 * Reads a run directory's metrics.jsonl (and samples.jsonl when present).
 * @throws Error naming the directory when it holds no metrics.jsonl, or the file and line of a bad row.
 */
export function loadRun(dir: string, name = basename(resolve(dir))): LoadedRun {
  const mf = join(dir, METRICS_FILE);
  if (!existsSync(mf)) throw new Error(`${dir}: no ${METRICS_FILE} (is this a gtr train run directory?)`);
  const rows = readMetricsJsonl(mf);
  const sf = join(dir, SAMPLES_FILE);
  const raw = existsSync(sf) ? readMetricsJsonl(sf) : [];
  const samples: ReportSample[] = raw.slice(-MAX_SAMPLES_PER_RUN).map((r) => ({
    run: name,
    step: Number(r.step),
    id: str(r.id),
    prompt: str(r.prompt),
    response: str(r.response) ?? '',
    gold: str(r.gold),
    extracted: r.extracted === null ? null : str(r.extracted),
    reward: typeof r.reward === 'number' ? r.reward : undefined,
  }));
  return { dir, name, rows, samples };
}

const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

/** Legend names: directory base names, or the full paths when two runs share a base name. */
function runNames(dirs: string[]): string[] {
  const base = dirs.map((d) => basename(resolve(d)));
  return base.map((b, i) => (base.indexOf(b) !== base.lastIndexOf(b) ? resolve(dirs[i]) : b));
}

/** One table row per (run, eval step, benchmark) from the eval rows' `val/<benchmark>/<metric>` keys. */
export function evalTable(runs: ReportRun[]): ReportTable | undefined {
  const metrics: string[] = [];
  const rows: { run: string; step: number; bench: string; values: Map<string, number> }[] = [];
  for (const r of runs) {
    for (const row of r.rows.filter((x) => x.kind === 'eval')) {
      const byBench = new Map<string, Map<string, number>>();
      for (const [k, v] of Object.entries(row)) {
        const m = /^val\/([^/]+)\/(.+)$/.exec(k);
        if (!m || typeof v !== 'number') continue;
        if (!metrics.includes(m[2])) metrics.push(m[2]);
        if (!byBench.has(m[1])) byBench.set(m[1], new Map());
        byBench.get(m[1])!.set(m[2], v);
      }
      for (const [bench, values] of byBench) rows.push({ run: r.name, step: Number(row.step), bench, values });
    }
  }
  if (rows.length === 0) return undefined;
  return {
    title: 'Held-out evaluation per benchmark (val/<benchmark>/..., val/mean/... is the mean over benchmarks)',
    columns: ['run', 'step', 'benchmark', ...metrics],
    rows: rows.map((r) => [r.run, r.step, r.bench, ...metrics.map((m) => r.values.get(m) ?? '')]),
  };
}

/** The training section of a report: every train and eval row of the runs, key metrics first. */
export function trainingSection(runs: ReportRun[], title = 'Training (per step)'): ReportSection {
  return { title, runs, lead: LEAD_SERIES, smooth: SMOOTHED_SERIES, groupOrder: GROUP_ORDER };
}

/**
 * The report of run directories (see the module doc).
 * @throws Error when `dirs` is empty, or what {@link loadRun} throws.
 */
export function runReport(dirs: string[], title?: string): ReportInput {
  if (dirs.length === 0) throw new Error('gtr report: give at least one run directory');
  const names = runNames(dirs);
  const runs = dirs.map((d, i) => loadRun(d, names[i]));
  const table = evalTable(runs);
  const steps = runs.map((r) => `${r.name}: ${r.rows.filter((x) => x.kind !== 'eval').length} steps`);
  return {
    title: title ?? `gtr train: ${names.join(' vs ')}`,
    notes: [
      steps.join('; ') + '.',
      "Metric names and meanings: the README's metric table. Faint lines are raw values, solid lines their smoothing (the slider: TensorBoard's debiased moving average; without JavaScript, a trailing moving average of the reward and accuracy).",
    ],
    tables: table ? [table] : [],
    sections: [trainingSection(runs)],
    samples: runs.flatMap((r) => r.samples),
  };
}

/** Writes the report of `dirs` to `out` (atomically). */
export function writeRunReport(dirs: string[], out: string, title?: string): void {
  writeReport(out, runReport(dirs, title));
}
