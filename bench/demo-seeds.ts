/**
 * `gtr demo` on five seeds (not a test): runs the default demo (GTR, or --compare for GTR and
 * GRPO) for each seed in turn, one after another on this machine, and writes the table the README
 * quotes: per seed the warm-up (SFT steps, validation greedy accuracy at the stop), held-out
 * pass@1 / pass@4 with standard errors before and after RL, the paired pass@1 gain with its
 * standard error and z, and the wall time of each phase; then the mean and spread (sample sd,
 * min..max) over seeds.
 *
 * Run: npx tsx bench/demo-seeds.ts [--seeds 0,1,2,3,4] [--compare] [--out-dir bench/results]
 *      [--work runs/demo-seeds] [--fast]
 *      (measure alone: `flock /tmp/gtr-cpu.lock npx tsx bench/demo-seeds.ts` on a shared machine)
 * Writes <out-dir>/demo-seeds-<date>-<device>.json and .md (date: UTC day; device: CPU model and
 * core count, or the name given by --device).
 */
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_DEFAULTS, formatPaired, runDemo, SIZES, type DemoSummary } from '../src/demo/run.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2,3,4' },
    compare: { type: 'boolean', default: false },
    'out-dir': { type: 'string', default: join(import.meta.dirname ?? '.', 'results') },
    work: { type: 'string', default: 'runs/demo-seeds' },
    device: { type: 'string' },
    /** The --fast demo per seed: checks this script in seconds, measures nothing. */
    fast: { type: 'boolean', default: false },
  },
});
const seeds = values.seeds!.split(',').map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--seeds: "${x}" is not a non-negative integer`);
  return n;
});
const algos: ('gtr' | 'grpo')[] = values.compare ? ['gtr', 'grpo'] : ['gtr'];
const cpu = cpus();
const device = values.device ?? `${cpu[0]?.model.trim() ?? 'cpu'} x${cpu.length}`;
const slug = device
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '-')
  .replace(/^-|-$/g, '');
const date = new Date().toISOString().slice(0, 10);

/** Mean, sample sd, min and max. */
function stats(xs: number[]): { mean: number; sd: number; min: number; max: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}

const rows: { seed: number; loadBefore: number; summary: DemoSummary }[] = [];
const write = () => {
  mkdirSync(values['out-dir']!, { recursive: true });
  const base = join(values['out-dir']!, `demo-seeds-${date}-${slug}`);
  const f = (x: number, d = 3) => x.toFixed(d);
  const ks = rows.length > 0 ? Object.keys(rows[0]!.summary.before.passAt) : [];
  const md: string[] = [
    `# gtr demo on ${rows.length} seed(s), ${date}, ${device}`,
    '',
    `${values.fast ? "--fast demo (a check of this script; the sizes below are the default run's, not used)" : 'Default demo'} (${algos.join(' + ')}; SFT warm-up up to ${DEMO_DEFAULTS.sftSteps} steps until validation greedy accuracy >= ${SIZES.full.sftTarget}; ` +
      `${DEMO_DEFAULTS.steps} RL steps of ${SIZES.full.prompts} x ${SIZES.full.group}; ${SIZES.full.heldOut} held-out problems x ${SIZES.full.evalN} samples at temperature 1). ` +
      '± is one standard error over held-out problems; the gain is paired over problems (after - before), z = gain / SE.',
    '',
    `| seed | SFT steps | val. greedy acc | ${ks.map((k) => `before ${k}`).join(' | ')} | ${algos.map((a) => `${ks.map((k) => `after ${a.toUpperCase()} ${k}`).join(' | ')} | ${a.toUpperCase()} pass@1 gain`).join(' | ')} | wall time (s) | load avg before |`,
    `| ---: | ---: | ---: | ${ks.map(() => '---:').join(' | ')} | ${algos.map(() => [...ks, 'g'].map(() => '---:').join(' | ')).join(' | ')} | ---: | ---: |`,
  ];
  for (const { seed, loadBefore, summary: s } of rows) {
    const last = s.sft.checks.at(-1);
    md.push(
      `| ${seed} | ${s.sft.steps} | ${last ? f(last.accuracy, 2) : ''} | ${ks.map((k) => `${f(s.before.passAt[k]!)} ± ${f(s.before.stdErr[k]!)}`).join(' | ')} | ` +
        s.runs
          .map(
            (r) =>
              `${ks.map((k) => `${f(r.after.passAt[k]!)} ± ${f(r.after.stdErr[k]!)}`).join(' | ')} | ${formatPaired(r.gain)}`,
          )
          .join(' | ') +
        ` | ${f(s.seconds, 0)} | ${f(loadBefore, 2)} |`,
    );
  }
  const agg: Record<string, ReturnType<typeof stats>> = {};
  if (rows.length > 0) {
    agg.sft_steps = stats(rows.map((r) => r.summary.sft.steps));
    for (const k of ks) agg[`before/${k}`] = stats(rows.map((r) => r.summary.before.passAt[k]!));
    for (const [i, a] of algos.entries()) {
      for (const k of ks) agg[`after_${a}/${k}`] = stats(rows.map((r) => r.summary.runs[i]!.after.passAt[k]!));
      agg[`gain_${a}/pass@1`] = stats(rows.map((r) => r.summary.runs[i]!.gain.diff));
      agg[`gain_${a}/z`] = stats(rows.map((r) => r.summary.runs[i]!.gain.z));
    }
    if (algos.length === 2) agg['grpo_minus_gtr/pass@1'] = stats(rows.map((r) => r.summary.compare!.diff));
    agg.seconds = stats(rows.map((r) => r.summary.seconds));
    md.push(
      '',
      `Over the ${rows.length} seeds (mean ± sample sd, [min, max]):`,
      '',
      '| quantity | mean | sd | min | max |',
      '| --- | ---: | ---: | ---: | ---: |',
    );
    for (const [k, v] of Object.entries(agg))
      md.push(`| ${k} | ${f(v.mean)} | ${f(v.sd)} | ${f(v.min)} | ${f(v.max)} |`);
    const phases = Object.keys(rows[0]!.summary.timings);
    md.push(
      '',
      'Wall time per phase (s, mean over seeds): ' +
        phases.map((p) => `${p} ${f(stats(rows.map((r) => r.summary.timings[p] ?? 0)).mean, 0)}`).join(', ') +
        '.',
    );
  }
  const json = {
    date,
    device,
    cores: cpu.length,
    algos,
    seeds: rows.map((r) => r.seed),
    settings: { sizes: SIZES.full, defaults: DEMO_DEFAULTS },
    aggregate: agg,
    runs: rows.map(({ seed, loadBefore, summary: s }) => ({
      seed,
      loadBefore,
      sft: s.sft,
      before: { passAt: s.before.passAt, stdErr: s.before.stdErr },
      runs: s.runs.map((r) => ({
        algo: r.algo,
        passAt: r.after.passAt,
        stdErr: r.after.stdErr,
        gain: r.gain,
        firstReward: r.firstReward,
        lastReward: r.lastReward,
      })),
      compare: s.compare,
      timings: s.timings,
      seconds: s.seconds,
    })),
  };
  // Atomic: a temporary then rename, so a killed run leaves the previous table whole.
  for (const [ext, text] of [
    ['json', JSON.stringify(json, null, 2) + '\n'],
    ['md', md.join('\n') + '\n'],
  ] as const) {
    writeFileSync(`${base}.${ext}.tmp`, text);
    renameSync(`${base}.${ext}.tmp`, `${base}.${ext}`);
  }
  console.log(md.join('\n'));
  return base;
};

for (const seed of seeds) {
  const loadBefore = loadavg()[0]!;
  console.log(`== seed ${seed} (load average ${loadBefore.toFixed(2)})`);
  const summary = await runDemo({
    out: join(values.work!, `seed-${seed}`),
    seed,
    algos,
    fast: values.fast!,
    steps: values.fast ? DEMO_DEFAULTS.fastSteps : DEMO_DEFAULTS.steps,
    sftSteps: values.fast ? DEMO_DEFAULTS.fastSftSteps : DEMO_DEFAULTS.sftSteps,
    log: (l) => console.log(`[seed ${seed}] ${l}`),
  });
  rows.push({ seed, loadBefore, summary });
  console.log(`wrote ${write()}.{json,md}`);
}
