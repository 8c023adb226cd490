/**
 * The transition experiment's report (docs/TRANSITION.md "Analysis plan"): reads a design's runs
 * (./design.ts), runs the registered analysis (./analysis.ts) and writes <out>/transition.json and a
 * self-contained <out>/transition.html: the headline sentence; the mean exact probability of each
 * mode per arm with every switch marked; the per-switch AUC over cycles; the Kaplan-Meier curves of
 * the time to 0.5; the paired differences per (warm start, seed) for each comparison named in
 * advance, with the Holm-level interval; the comparison tables; the diagnostics; and every arm's
 * full setting (so no page hides what changed).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomicSync } from '../checkpoint/save.js';
import { escapeHtml, svgBandPlot } from '../report/html.js';
import { analyse, ENDPOINTS, type Analysis, type Comparison, type Endpoint } from './analysis.js';
import { ARMS } from './arms.js';
import { loadRuns, stagesOf, type Design } from './design.js';

const ENDPOINT_LABEL: Record<Endpoint, string> = {
  auc: 'AUC: mean p(new mode) over the N steps after each switch (primary)',
  restrictedTime: 'restricted mean steps to p(new) >= 0.5, min(T, N), censored switches = N',
  trend: 'trend: slope of per-switch AUC per cycle',
  aucFirst: 'first-token AUC',
};

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf'];

const fx = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const signed = (x: number, d = 3) => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;

/** The paired differences per (warm start, seed) of each comparison: dots, the mean, the Holm-level interval, zero. */
export function pairedDotPlot(title: string, cs: readonly Comparison[]): string {
  const W = 720,
    rowH = 34,
    L = 170,
    R = 20,
    T = 26,
    H = T + rowH * cs.length + 26;
  const vals = cs.flatMap((c) => [...c.pairs.map((p) => p.diff), c.ciHolm.lo, c.ciHolm.hi, 0]);
  let lo = Math.min(...vals),
    hi = Math.max(...vals);
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const px = (x: number) => L + ((x - lo) / (hi - lo)) * (W - L - R);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="paired" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}">`,
    `<text x="4" y="14" font-size="12" font-family="sans-serif">${escapeHtml(title)}</text>`,
    `<line class="zero" x1="${px(0).toFixed(1)}" y1="${T}" x2="${px(0).toFixed(1)}" y2="${H - 22}" stroke="#999" stroke-dasharray="3,3"/>`,
  ];
  cs.forEach((c, i) => {
    const y = T + rowH * i + rowH / 2;
    parts.push(
      `<text x="4" y="${y + 4}" font-size="11" font-family="sans-serif">${escapeHtml(`${c.a} - ${c.b}`)}${c.holds ? ' *' : ''}</text>`,
    );
    parts.push(
      `<line class="ci" x1="${px(c.ciHolm.lo).toFixed(1)}" y1="${y + 9}" x2="${px(c.ciHolm.hi).toFixed(1)}" y2="${y + 9}" stroke="#000" stroke-width="2"/>`,
    );
    parts.push(`<circle class="mean" cx="${px(c.mean).toFixed(1)}" cy="${y + 9}" r="4" fill="#000"/>`);
    c.pairs.forEach((p) => {
      parts.push(
        `<circle class="pair" cx="${px(p.diff).toFixed(1)}" cy="${(y - 5 + 2 * p.warm).toFixed(1)}" r="2.5" fill="${COLORS[p.warm % COLORS.length]}" fill-opacity="0.7"><title>warm ${p.warm} seed ${p.seed}: ${p.diff.toFixed(4)}</title></circle>`,
      );
    });
  });
  for (const t of [lo, (lo + hi) / 2, hi, 0])
    parts.push(
      `<text x="${px(t).toFixed(1)}" y="${H - 6}" font-size="10" text-anchor="middle" font-family="sans-serif" fill="#666">${t.toFixed(3)}</text>`,
    );
  parts.push('</svg>');
  return parts.join('');
}

function curvePlot(a: Analysis, mode: 'A' | 'B', arms: readonly string[], what: string): string {
  const total = a.design.run.phases.reduce((s, p) => s + p.steps, 0);
  return svgBandPlot(
    `p(mode ${mode} format | held-out prompt), exact, mean over runs: ${what}`,
    Object.entries(a.curves)
      .filter(([arm]) => arms.includes(arm))
      .map(([arm, pts]) => ({
        name: arm,
        points: pts.map((p) => {
          const v = mode === 'A' ? p.seqA : p.seqB;
          return { x: p.step, mean: v, lo: v, hi: v };
        }),
      })),
    {
      width: 720,
      height: 300,
      xRange: [0, total],
      yRange: [0, 1],
      xTicks: a.switches.map((s) => s.atStep - 1).concat([0, total]),
      yTicks: [0, 0.25, 0.5, 0.75, 1],
      xLabel: 'RL step',
      markers: a.switches.map((s) => ({ x: s.atStep - 1, label: `${s.from}→${s.to}` })),
      reference: 0.5,
    },
  );
}

function kmPlot(a: Analysis): string {
  const n = a.design.phaseSteps;
  return svgBandPlot(
    'Kaplan-Meier: P(p(new mode) still < 0.5) against steps after a switch (censored at N)',
    a.arms.map((s) => {
      const pts: { x: number; mean: number; lo: number; hi: number }[] = [{ x: 0, mean: 1, lo: 1, hi: 1 }];
      let prev = 1;
      for (const k of s.km) {
        pts.push({ x: k.time, mean: prev, lo: prev, hi: prev });
        pts.push({ x: k.time, mean: k.survival, lo: k.survival, hi: k.survival });
        prev = k.survival;
      }
      return { name: s.arm, points: pts };
    }),
    { width: 720, height: 260, xRange: [0, n], yRange: [0, 1], xLabel: 'steps after the switch' },
  );
}

function cyclePlot(a: Analysis): string {
  return svgBandPlot(
    'AUC per switch (mean over runs): does switching get faster or slower over cycles?',
    a.arms.map((s) => ({
      name: s.arm,
      points: s.aucBySwitch.map((v, j) => ({ x: j + 1, mean: v, lo: v, hi: v })),
    })),
    {
      width: 720,
      height: 260,
      xRange: [1, a.switches.length],
      yRange: [0, 1],
      xTicks: a.switches.map((s) => s.index + 1),
      xLabel: 'switch',
    },
  );
}

const table = (head: string[], rows: string[][]) =>
  `<table><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`).join('')}</table>`;

/** The comparisons of one endpoint as table rows. */
export function comparisonRows(a: Analysis, endpoint: Endpoint): string[][] {
  return a.comparisons
    .filter((c) => c.endpoint === endpoint)
    .map((c) => [
      `${c.a} - ${c.b}`,
      String(c.n),
      signed(c.mean),
      `[${fx(c.ci95.lo)}, ${fx(c.ci95.hi)}]`,
      `[${fx(c.ciHolm.lo)}, ${fx(c.ciHolm.hi)}] (${(100 * c.ciHolm.level).toFixed(2)}%)`,
      fx(c.dz, 2),
      `${c.p.toPrecision(3)}${c.pExact ? ' (exact)' : ''}`,
      c.pHolm.toPrecision(3),
      c.holds ? 'holds' : 'not shown',
    ]);
}

const md = (head: string[], rows: string[][]) =>
  [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');

/** The columns of a comparison table (Markdown and HTML alike). */
const COMPARISON_HEAD = [
  'comparison',
  'pairs',
  'mean diff',
  '95% bootstrap',
  'Holm-level bootstrap',
  'd_z',
  'sign-flip p',
  'Holm p',
  'verdict',
];

/** The comparisons of every endpoint as Markdown tables (README, the CLI's output). */
export function comparisonsMarkdown(a: Analysis): string {
  return ENDPOINTS.map((e) => `${ENDPOINT_LABEL[e]}:\n\n${md(COMPARISON_HEAD, comparisonRows(a, e))}`).join('\n\n');
}

/** Per arm: each endpoint's mean ± 95% t half-width, KM median, censored switches, collapses (Markdown). */
export function armsMarkdown(a: Analysis): string {
  return md(
    [
      'arm',
      'runs',
      'AUC (primary)',
      'restricted steps to 0.5',
      'trend per cycle',
      'first-token AUC',
      'trend into B / into A (exploratory)',
      'KM median',
      'censored',
      'collapsed',
    ],
    a.arms.map((s) => [
      s.arm,
      String(s.runs),
      ...ENDPOINTS.map((e) => `${fx(s.endpoints[e].mean)} ± ${fx(s.endpoints[e].halfWidth)}`),
      `${signed(s.trendToB.mean)} ± ${fx(s.trendToB.halfWidth)} / ${signed(s.trendToA.mean)} ± ${fx(s.trendToA.halfWidth)}`,
      s.kmMedian === null ? `> ${a.design.phaseSteps}` : String(s.kmMedian),
      `${s.switchesCensored}/${s.switchesTotal}`,
      `${s.collapsed}/${s.runs}`,
    ]),
  );
}

/** The report as an HTML string. */
export function renderExperimentReport(a: Analysis): string {
  const d = a.design;
  const settings = d.arms.map((k) => {
    const s = ARMS[k]!;
    const hi = s.regime === 'hi';
    return [
      k,
      s.label,
      s.penalty,
      s.penalty === 'none' ? '-' : s.anchor,
      s.penalty === 'gtr' ? String(s.sigma) : '-',
      s.penalty === 'none' ? '0' : String(s.beta),
      `${s.clipLow} / ${s.clipHigh}`,
      String(hi ? d.run.hi.epochs : d.run.epochs),
      String(hi ? d.run.hi.lr : d.run.lr),
    ];
  });
  const armRows = a.arms.map((s) => [
    s.arm,
    String(s.runs),
    ...ENDPOINTS.map((e) => `${fx(s.endpoints[e].mean)} ± ${fx(s.endpoints[e].halfWidth)}`),
    `${signed(s.trendToB.mean)} ± ${fx(s.trendToB.halfWidth)} / ${signed(s.trendToA.mean)} ± ${fx(s.trendToA.halfWidth)}`,
    s.kmMedian === null ? `> ${d.phaseSteps}` : String(s.kmMedian),
    `${s.switchesCensored}/${s.switchesTotal}`,
    `${s.collapsed}/${s.runs}`,
    String(s.skippedSteps),
  ]);
  const diagKeys = [
    'ratio_p01',
    'ratio_p05',
    'ratio_p50',
    'ratio_p95',
    'ratio_p99',
    'ratio_max',
    'tail02',
    'tailArm',
    'penaltyShare',
    'clipFrac',
    'updateRatioMax',
    'invalid',
  ];
  const diagRows = a.arms.map((s) => [s.arm, ...diagKeys.map((k) => fx(s.diagnostics[k] ?? NaN, 4))]);
  return [
    '<!doctype html><html><head><meta charset="utf-8"><title>GTR-RL behavior-transition experiment</title>',
    '<style>body{font-family:sans-serif;max-width:1150px;margin:1em auto}table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px}pre{background:#f6f6f6;padding:6px;font-size:11px}.headline{font-size:15px;background:#f3f7ff;padding:8px}</style></head><body>',
    '<h1>Behavior-transition experiment (docs/TRANSITION.md "Analysis plan")</h1>',
    `<p class="headline">${escapeHtml(a.headline)}</p>`,
    `<p>${escapeHtml(`${a.date}; ${a.device.cpus} x ${a.device.model} (${a.device.note}). ${a.completePairs} of ${a.plannedPairs} planned (warm start, seed) pairs complete, ${d.arms.length} arms; schedule ${d.run.phases.map((p) => `${p.mode} ${p.steps}`).join(', ')} steps (${a.switches.length} switches, N = ${d.phaseSteps}). The measure is exact: the probability of each mode's format prefix from the policy's softmax on ${d.warm.heldOut} held-out prompts, after every step.`)}</p>`,
    '<h2>Arms (every setting that differs is listed)</h2>',
    table(['arm', 'label', 'penalty', 'anchor', 'sigma', 'beta', 'clip low / high', 'epochs', 'lr'], settings),
    // One pair of plots per stage: the palette repeats past 8 series, so stages are drawn apart.
    ...stagesOf(d).flatMap((st, i) => [
      curvePlot(a, 'B', st, i === 0 ? 'base arms' : `stage ${i + 1}`),
      curvePlot(a, 'A', st, i === 0 ? 'base arms' : `stage ${i + 1}`),
    ]),
    '<h2>Paired differences per (warm start, seed)</h2>',
    `<p>${escapeHtml('One dot per (warm start, seed) pair: the first arm minus the second (dot colour = warm start); the black dot is the mean and the bar its bootstrap interval at the Holm level; * = the difference holds after Holm. Hover a dot for its pair and value.')}</p>`,
    ...ENDPOINTS.map((e) =>
      pairedDotPlot(
        ENDPOINT_LABEL[e],
        a.comparisons.filter((c) => c.endpoint === e),
      ),
    ),
    '<h2>Comparisons named in advance (Holm within each endpoint, m = 7)</h2>',
    ...ENDPOINTS.flatMap((e) => [
      `<h3>${escapeHtml(ENDPOINT_LABEL[e])}</h3>`,
      table(COMPARISON_HEAD, comparisonRows(a, e)),
    ]),
    '<h2>Per arm (mean ± 95% Student-t half-width over runs)</h2>',
    table(
      [
        'arm',
        'runs',
        ...ENDPOINTS.map((e) => ENDPOINT_LABEL[e]),
        'exploratory (not registered): trend over the switches into B / into A',
        'KM median steps to 0.5',
        'switches censored at N',
        'collapsed runs',
        'skipped updates',
      ],
      armRows,
    ),
    kmPlot(a),
    cyclePlot(a),
    '<h2>Diagnostics (mean over every step of every run)</h2>',
    `<p>${escapeHtml("End-of-step ratio r = pi_new / pi_behaviour over the step's response tokens: quantiles; tail02 = share with |r - 1| > 0.4 (2 sigma at sigma 0.2); tailArm = share beyond 2 x the arm's own sigma (GTR arms); penaltyShare = sum |beta f(r)| / (sum |surrogate grad| + sum |beta f(r)|) per token w.r.t. logp, behaviour anchor; clipFrac and updateRatioMax from the trainer's updates; invalid = share of rollouts in neither format.")}</p>`,
    table(['arm', ...diagKeys], diagRows),
    '<h2>Design</h2>',
    `<pre>${escapeHtml(JSON.stringify(d, null, 1))}</pre>`,
    '</body></html>',
  ].join('\n');
}

/**
 * Analyses the runs in `outDir` (design.json and runs/) and writes transition.json and
 * transition.html there. Returns the analysis.
 * @throws Error when outDir has no design.json
 */
export function writeExperimentReport(
  outDir: string,
  note = 'shared 2-core machine, one core, OMP_NUM_THREADS=1, nice 10',
): Analysis {
  const out = resolve(outDir);
  const d = JSON.parse(readFileSync(join(out, 'design.json'), 'utf8')) as Design;
  const a = analyse(d, loadRuns(out), {
    kind: 'cpu',
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    note,
  });
  writeFileAtomicSync(join(out, 'transition.json'), JSON.stringify(a, null, 1) + '\n');
  writeFileAtomicSync(join(out, 'transition.html'), renderExperimentReport(a));
  return a;
}
