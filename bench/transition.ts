/**
 * The behavior-transition experiment (docs/TRANSITION.md "Analysis plan"; src/transition/design.ts):
 * every arm from three SFT warm starts x ten seeds through six alternating mode switches, on CPU,
 * with the exact mode probability from the logits after every step.
 *
 * Run: npx tsx bench/transition.ts [--smoke] [--design amended|registered] [--out DIR] [--deadline HH:MM (UTC)] [--no-report]
 *      npx tsx bench/transition.ts --report DIR      (analysis and report of the runs in DIR only)
 *      npx tsx bench/transition.ts --rerender-legacy FILE.json [--baseline BASE.json]
 *        (re-reads a 2026-11-29 results file's measures from its curves with the fixed labels,
 *        src/transition/legacy.ts, and rewrites it and the .html beside it; nothing is trained)
 * The runs go to DIR/runs/<arm>-w<warm>-s<seed>.json as each completes (DIR default
 * runs/transition-<design>, or runs/transition-smoke; the default design is the amended one of
 * docs/TRANSITION.md "Amendments"); a second call resumes. The analysis
 * (src/transition/analysis.ts) and report are written to DIR/transition.{json,html} and, unless
 * --out is given, copied to bench/results/transition-<date>-cpu[-smoke].{json,html}.
 * Single-threaded torch is expected (OMP_NUM_THREADS=1): each run is small.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AMENDED, REGISTERED, SMOKE, runDesign } from '../src/transition/design.js';
import { recomputeSummaries, withBaseline, type TransitionResults } from '../src/transition/legacy.js';
import { pairedMarkdown, summaryMarkdown, writeTransitionReport } from '../src/transition/legacy-report.js';
import { writeFileAtomicSync } from '../src/checkpoint/save.js';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    out: { type: 'string' },
    report: { type: 'string' },
    deadline: { type: 'string' },
    design: { type: 'string', default: 'amended' },
    'no-report': { type: 'boolean', default: false },
    'rerender-legacy': { type: 'string' },
    baseline: { type: 'string' },
  },
});

if (values['rerender-legacy']) {
  const file = values['rerender-legacy'];
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

const designs = { amended: AMENDED, registered: REGISTERED };
if (!(values.design! in designs))
  throw new Error(`--design: unknown design "${values.design}"; valid: ${Object.keys(designs).join(', ')}`);
const d = values.smoke ? SMOKE : designs[values.design as keyof typeof designs];
const out = values.report ?? values.out ?? join('runs', `transition-${d.name}`);
if (!values.report) {
  let deadline: number | undefined;
  if (values.deadline) {
    const m = /^(\d\d):(\d\d)$/.exec(values.deadline);
    if (!m) throw new Error(`--deadline: expected HH:MM (UTC), got "${values.deadline}"`);
    const t = new Date();
    t.setUTCHours(Number(m[1]), Number(m[2]), 0, 0);
    deadline = t.getTime();
  }
  await runDesign(out, d, (l) => console.log(`${new Date().toISOString().slice(11, 19)} ${l}`), { deadline });
}
if (!values['no-report']) {
  const { armsMarkdown, comparisonsMarkdown, writeExperimentReport } = await import('../src/transition/report.js');
  const r = writeExperimentReport(out);
  if (!values.out && !values.report) {
    const name = `transition-${r.date.slice(0, 10)}-cpu-${d.name}`;
    mkdirSync(join('bench', 'results'), { recursive: true });
    copyFileSync(join(out, 'transition.json'), join('bench', 'results', `${name}.json`));
    copyFileSync(join(out, 'transition.html'), join('bench', 'results', `${name}.html`));
  }
  console.log(`${r.headline}\n\n${armsMarkdown(r)}\n\n${comparisonsMarkdown(r)}`);
}
