/**
 * The 2026-11-29 transition benchmark's HTML report (re-renders its committed results; the
 * experiment of issue #30 has its own, ./report.ts): per mode, one plot of held-out accuracy against RL step
 * with each algorithm's mean over seeds and its 95% Student-t band (./stats.ts), the phase
 * switches marked by dashed vertical lines (drawn by src/report/html.ts's svgBandPlot); then the
 * summary table (mean ± half-width per measure and switch) and the settings. Self-contained (inline
 * SVG, no scripts); written atomically.
 */
import { escapeHtml, svgBandPlot } from '../report/html.js';
import { meanCi } from './stats.js';
import { ALGORITHMS, type AlgoKey, type TransitionResults } from './legacy-results.js';
import { FULL_CONFIG } from './legacy.js';
import type { Mode } from './task.js';
import { writeFileAtomicSync } from '../checkpoint/save.js';

/** Mean and band per eval step of one algorithm's runs for one mode. */
export function meanBand(
  results: TransitionResults,
  algo: AlgoKey,
  mode: Mode,
): { step: number; mean: number; lo: number; hi: number }[] {
  const runs = results.runs.filter((r) => r.algo === algo);
  const steps = [...new Set(runs.flatMap((r) => r.curve.map((p) => p.step)))].sort((a, b) => a - b);
  return steps.flatMap((step) => {
    const xs = runs
      .map((r) => r.curve.find((p) => p.step === step)?.[mode])
      .filter((v): v is number => typeof v === 'number');
    if (xs.length === 0) return [];
    const ci = meanCi(xs);
    return [
      {
        step,
        mean: ci.mean,
        lo: Number.isFinite(ci.lo) ? Math.max(0, ci.lo) : ci.mean,
        hi: Number.isFinite(ci.hi) ? Math.min(1, ci.hi) : ci.mean,
      },
    ];
  });
}

/**
 * One mode's plot: per algorithm, the mean over seeds and its 95% t band at each eval step, the
 * target as a dotted line, and the phase switches as dashed markers at the last step before each.
 */
function plot(results: TransitionResults, mode: Mode): string {
  const total = results.config.phases.reduce((s, p) => s + p.steps, 0);
  const algos = [...new Set(results.runs.map((r) => r.algo))];
  const xTicks: number[] = [];
  for (let s = 0; s <= total; s += Math.max(1, Math.ceil(total / 8))) xTicks.push(s);
  return svgBandPlot(
    `Held-out accuracy, mode ${mode} (${mode === 'A' ? '"Answer: N"' : '"#### N"'}); mean and 95% t band over seeds`,
    algos.map((algo) => ({
      name: ALGORITHMS[algo].label,
      points: meanBand(results, algo, mode).map((p) => ({ x: p.step, mean: p.mean, lo: p.lo, hi: p.hi })),
    })),
    {
      width: 640,
      height: 300,
      xRange: [0, Math.max(1, total)],
      yRange: [0, 1],
      xTicks,
      yTicks: [0, 0.25, 0.5, 0.75, 1],
      xLabel: 'RL step',
      markers: results.switches.map((sw) => ({ x: sw.atStep - 1, label: `${sw.from}→${sw.to}` })),
      reference: results.config.target,
    },
  );
}

/**
 * Steps after switch i at which the fixed-point columns were read (the last eval at or before
 * fixedSteps after it), and where a missed target is recorded (the phase's last eval).
 */
function readSteps(r: TransitionResults, i: number): { readAt: number; lastObservable: number } {
  const m = r.runs[0]?.switches[i];
  return { readAt: m?.readAt ?? r.config.fixedSteps, lastObservable: m?.lastObservable ?? r.switches[i]!.phaseSteps };
}

/** The settings a results file changed from the full sweep's (algos and seeds aside), as "sigma 0.1, epochs 8". */
export function variantOf(r: TransitionResults): string {
  const c = r.config as unknown as Record<string, unknown>;
  const f = FULL_CONFIG as unknown as Record<string, unknown>;
  return Object.keys(c)
    .filter((k) => k !== 'algos' && k !== 'seeds' && JSON.stringify(c[k]) !== JSON.stringify(f[k]))
    .map((k) => `${k} ${JSON.stringify(c[k])}`)
    .join(', ');
}

const ci = (m: { mean: number; halfWidth: number }, d = 2) =>
  `${m.mean.toFixed(d)} ± ${Number.isFinite(m.halfWidth) ? m.halfWidth.toFixed(d) : 'n/a'}`;

/**
 * The summary as a Markdown table (the README's results): one row per algorithm, mean ± 95%
 * half-width per measure and switch.
 */
export function summaryMarkdown(r: TransitionResults): string {
  const c = r.config;
  const head = [
    'algorithm',
    ...r.switches.flatMap((sw, i) => [
      `${sw.from}→${sw.to}: steps to ${c.target} (not reached, counted as ${readSteps(r, i).lastObservable})`,
      `${sw.to} acc. ${readSteps(r, i).readAt} steps after`,
      `${sw.from} retained`,
    ]),
  ];
  const rows = Object.entries(r.summary).map(([algo, ss]) => [
    ALGORITHMS[algo as AlgoKey].label,
    ...ss.flatMap((s) => [
      `${ci(s.stepsToTarget, 1)} (${s.notReached}/${s.stepsToTarget.n})`,
      ci(s.newAccuracy),
      ci(s.retention),
    ]),
  ]);
  return [head, head.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

/**
 * Each algorithm's difference from GTR paired by seed as a Markdown table (README): mean ± 95%
 * half-width of (algorithm - GTR) per measure and switch; empty when the results have none.
 */
export function pairedMarkdown(r: TransitionResults): string {
  if (!r.pairedVsGtr) return '';
  const c = r.config;
  const head = [
    'algorithm - GTR',
    ...r.switches.flatMap((sw, i) => [
      `${sw.from}→${sw.to}: steps to ${c.target}`,
      `${sw.to} acc. ${readSteps(r, i).readAt} steps after`,
      `${sw.from} retained`,
    ]),
  ];
  const rows = Object.entries(r.pairedVsGtr).map(([algo, ps]) => [
    ALGORITHMS[algo as AlgoKey].label,
    ...ps.flatMap((p) => [signedCi(p.stepsToTarget, 1), signedCi(p.newAccuracy), signedCi(p.retention)]),
  ]);
  return [head, head.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

/** mean ± half-width with the mean's sign, and a * when the interval excludes 0. */
function signedCi(m: { mean: number; halfWidth: number; lo: number; hi: number }, d = 2): string {
  const rounded = Number(m.mean.toFixed(d)); // no "-0.00": a mean that rounds to 0 is printed as 0
  const sign = rounded > 0 ? '+' : '';
  const excl = m.lo > 0 || m.hi < 0 ? ' *' : '';
  return `${sign}${(rounded === 0 ? 0 : rounded).toFixed(d)} ± ${Number.isFinite(m.halfWidth) ? m.halfWidth.toFixed(d) : 'n/a'}${excl}`;
}

/** The report as an HTML string. */
export function renderTransitionReport(r: TransitionResults): string {
  const c = r.config;
  const head = [
    'algorithm',
    ...r.switches.flatMap((sw, i) => [
      `switch ${sw.index + 1} ${sw.from}→${sw.to} (step ${sw.atStep}): steps to ${c.target} [not reached; counted as ${readSteps(r, i).lastObservable}, the last observed]`,
      `${sw.to} ${readSteps(r, i).readAt} steps after (last eval at or before ${c.fixedSteps})`,
      `${sw.from} retained`,
    ]),
  ];
  const rows = Object.entries(r.summary).map(([algo, ss]) => [
    ALGORITHMS[algo as AlgoKey].label,
    ...ss.flatMap((s) => [
      `${ci(s.stepsToTarget, 1)} [${s.notReached}/${s.stepsToTarget.n}]`,
      ci(s.newAccuracy),
      ci(s.retention),
    ]),
  ]);
  const table = `<table><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>${rows.map((row) => `<tr>${row.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`).join('')}</table>`;
  return [
    `<!doctype html><html><head><meta charset="utf-8"><title>GTR-RL behavior-transition benchmark${variantOf(r) ? ` (${escapeHtml(variantOf(r))})` : ''}</title>`,
    '<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px}pre{background:#f6f6f6;padding:6px;font-size:11px}</style></head><body>',
    `<h1>Behavior-transition benchmark, 2026-11-29 design${variantOf(r) ? `; variant: ${escapeHtml(variantOf(r))}` : ''}</h1>`,
    `<p>${escapeHtml('Superseded by the experiment of docs/TRANSITION.md "Analysis plan" (issue #30): this design measures sampled accuracy every 3 steps, one switch and back, one warm start and 5 seeds, and no correction for multiple comparisons.')}</p>`,
    `<p>${escapeHtml(`${r.date}, ${r.device.cpus} × ${r.device.model}, ${(r.seconds / 60).toFixed(1)} min. Schedule ${c.phases.map((p) => `${p.mode} ${p.steps}`).join(', ')} steps; ${c.seeds.length} seeds per algorithm from one warm start (mode A ${r.warmStart.A.toFixed(2)}, mode B ${r.warmStart.B.toFixed(2)} held-out accuracy). Intervals: mean ± 95% Student-t half-width over seeds. A run that never reached the target counts as the phase's last observed step (censored there).`)}</p>`,
    ...(r.baseline
      ? [
          `<p>${escapeHtml(`The runs of ${r.baseline.algos.map((a) => ALGORITHMS[a as AlgoKey].label).join(', ')} are those of ${r.baseline.file} (same warm start and seeds; only GTR's own settings differ).`)}</p>`,
        ]
      : []),
    plot(r, 'A'),
    plot(r, 'B'),
    '<h2>Summary</h2>',
    table,
    ...(r.pairedVsGtr
      ? [
          '<h2>Difference from GTR, paired by seed</h2>',
          `<p>${escapeHtml("Per seed, the algorithm's measure minus GTR's (same warm start, prompt order and sampling streams), mean ± 95% Student-t half-width over seeds; * marks an interval that excludes 0. Steps to target > 0: GTR reached it sooner. Intervals are not corrected for the several comparisons.")}</p>`,
          markdownTableHtml(pairedMarkdown(r)),
        ]
      : []),
    '<h2>Settings</h2>',
    `<pre>${escapeHtml(JSON.stringify(c, null, 1))}</pre>`,
    '</body></html>',
  ].join('\n');
}

/** A Markdown table (as pairedMarkdown writes it) as an HTML table. */
function markdownTableHtml(md: string): string {
  const [head, , ...rows] = md.split('\n').map((l) => l.slice(2, -2).split(' | '));
  return `<table><tr>${head!.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>${rows.map((row) => `<tr>${row.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`).join('')}</table>`;
}

/** Writes the report to `path` atomically (src/checkpoint/save.ts). */
export function writeTransitionReport(path: string, r: TransitionResults): void {
  writeFileAtomicSync(path, renderTransitionReport(r));
}
