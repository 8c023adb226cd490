/**
 * The behavior-transition benchmark (docs/TRANSITION.md; src/transition/bench.ts): GTR, plain GRPO,
 * the KL, Pearson and SPO penalties from one SFT warm start through the phase schedule A, B, A on
 * several seeds, on CPU.
 *
 * Run: npx tsx bench/transition.ts [--smoke] [--out DIR] [--seeds 1,2,3,4,5] [--algos gtr,grpo,kl,pearson,spo]
 *        [--sigma 0.2] [--beta 1] [--epochs 2] [--lr 1e-4] [--schedule A:4,B:16,A:12] [--tag NAME]
 * Writes DIR/transition.json and DIR/report.html, with the warm start under DIR/world and every
 * run's metrics under DIR/runs (DIR default runs/transition-<date>-cpu<tag>), and copies the JSON
 * and the report to bench/results/transition-<date>-cpu<tag>.{json,html} (the committed results).
 *
 * npx tsx bench/transition.ts --rerender FILE.json [--baseline BASE.json]: recomputes the summaries
 * (per algorithm, and paired by seed against GTR) from the runs in FILE.json, rewrites it and the
 * .html beside it, and prints the tables; nothing is trained. With --baseline, a GTR-only FILE
 * (e.g. --algos gtr --sigma 0.1) takes the other algorithms' runs from BASE (same warm start and
 * seeds; only GTR's own settings may differ).
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ALGORITHMS,
  FULL_CONFIG,
  SMOKE_CONFIG,
  recomputeSummaries,
  runTransitionBench,
  withBaseline,
  type AlgoKey,
  type TransitionResults,
  type TransitionConfig,
} from '../src/transition/bench.js';
import type { Mode } from '../src/transition/task.js';
import { pairedMarkdown, summaryMarkdown, writeTransitionReport } from '../src/transition/report.js';
import { writeFileAtomicSync } from '../src/checkpoint/save.js';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    rerender: { type: 'string' },
    baseline: { type: 'string' },
    out: { type: 'string' },
    seeds: { type: 'string' },
    algos: { type: 'string' },
    sigma: { type: 'string' },
    beta: { type: 'string' },
    epochs: { type: 'string' },
    lr: { type: 'string' },
    schedule: { type: 'string' },
    tag: { type: 'string', default: '' },
  },
});

if (values.rerender) {
  const file = values.rerender;
  const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as TransitionResults;
  let loaded = read(file);
  if (values.baseline) {
    if (loaded.baseline) throw new Error(`--baseline: ${file} already borrows runs from ${loaded.baseline.file}`);
    loaded = withBaseline(loaded, read(values.baseline), values.baseline);
  }
  const r = recomputeSummaries(loaded);
  writeFileAtomicSync(file, JSON.stringify(r, null, 2) + '\n');
  writeTransitionReport(file.replace(/\.json$/, '.html'), r);
  console.log(`transition: ${file} and its .html rewritten\n\n${summaryMarkdown(r)}\n\n${pairedMarkdown(r)}`);
  process.exit(0);
}

const num = (flag: string, v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x)) throw new Error(`--${flag}: expected a number, got "${v}"`);
  return x;
};
const c: TransitionConfig = { ...(values.smoke ? SMOKE_CONFIG : FULL_CONFIG) };
if (values.seeds) c.seeds = values.seeds.split(',').map((s) => num('seeds', s));
if (values.algos) {
  c.algos = values.algos.split(',').map((a) => {
    if (!(a in ALGORITHMS))
      throw new Error(`--algos: unknown algorithm "${a}"; valid: ${Object.keys(ALGORITHMS).join(', ')}`);
    return a as AlgoKey;
  });
}
if (values.sigma) c.sigma = num('sigma', values.sigma);
if (values.beta) c.beta = num('beta', values.beta);
if (values.epochs) c.epochs = num('epochs', values.epochs);
if (values.lr) c.lr = num('lr', values.lr);
if (values.schedule) {
  c.phases = values.schedule.split(',').map((p) => {
    const [mode, steps] = p.split(':');
    if ((mode !== 'A' && mode !== 'B') || !steps)
      throw new Error(`--schedule: expected MODE:STEPS with MODE A or B, got "${p}"`);
    return { mode: mode as Mode, steps: num('schedule', steps) };
  });
}
const name = `transition-${new Date().toISOString().slice(0, 10)}-cpu${values.smoke ? '-smoke' : ''}${values.tag ? `-${values.tag}` : ''}`;
const out = values.out ?? join('runs', name);
const r = await runTransitionBench(out, c);
if (!values.out) {
  mkdirSync(join('bench', 'results'), { recursive: true });
  copyFileSync(join(out, 'transition.json'), join('bench', 'results', `${name}.json`));
  copyFileSync(join(out, 'report.html'), join('bench', 'results', `${name}.html`));
}
console.log(
  `transition: done in ${(r.seconds / 60).toFixed(1)} min; ${join(out, 'transition.json')}, ${join(out, 'report.html')}${values.out ? '' : ` (copied to bench/results/${name}.{json,html})`}`,
);
for (const [algo, ss] of Object.entries(r.summary)) {
  console.log(
    `  ${ALGORITHMS[algo as AlgoKey].label}: ${ss.map((s) => `${s.switch.from}->${s.switch.to} steps ${s.stepsToTarget.mean.toFixed(1)} ± ${s.stepsToTarget.halfWidth.toFixed(1)} (not reached ${s.notReached}), new ${s.newAccuracy.mean.toFixed(2)} ± ${s.newAccuracy.halfWidth.toFixed(2)}, old ${s.retention.mean.toFixed(2)} ± ${s.retention.halfWidth.toFixed(2)}`).join('; ')}`,
  );
}
console.log(summaryMarkdown(r));
console.log(`\nDifference from GTR, paired by seed (* = 95% interval excludes 0):\n${pairedMarkdown(r)}`);
