/**
 * The staleness experiment (issue 29; not a test): GTR against GRPO on the demo's world (src/demo:
 * arithmetic, the small tokenizer, a small Qwen3) at rollout.max_staleness 0, 1, 2, 4, several
 * seeds each, on CPU.
 *
 * - one SFT warm-up (the demo's, seed 0, stopping at validation greedy accuracy 0.5), shared by every run;
 * - per seed, staleness s and algorithm: a shortened RL phase (`--steps` steps of `--prompts` x
 *   `--group`, the demo's learning rate, epochs and mini-batches) with the in-process pipeline of
 *   depth s (src/rl/rollout-source.ts) and, for s > 0, the decoupled objective with truncated IS
 *   (algorithm.loss.rollout_is_threshold `--tis-cap`); a checkpoint every `--eval-every` steps;
 * - every checkpoint is evaluated on the held-out split (`--held-out` problems x `--eval-n` samples
 *   at temperature 1, mean accuracy = mean@n); the curve gives the final accuracy, the first
 *   step (and the RL wall time up to it) where it reaches `--target` (default: the warm-up's
 *   held-out accuracy + `--target-gain`);
 * - per s: paired differences GTR - GRPO over seeds (same seed = same prompts order, sampling seeds,
 *   held-out problems and starting model) with 95% t intervals; and per algorithm, each s against
 *   s = 0 (the cost of staleness).
 *
 * Run (single-threaded, beside other work): OMP_NUM_THREADS=1 nice -n 10 npx tsx bench/staleness.ts
 *   [--seeds 0,1,2,3,4] [--staleness 0,1,2,4] [--steps 48] [--prompts 16] [--group 8] [--eval-every 12]
 *   [--held-out 400] [--eval-n 4] [--work runs/staleness] [--out-dir bench/results] [--device NAME]
 *   [--lr X] [--target-gain 0.07] [--quiet-window HH:MM-HH:MM]
 *   [--profile]  (one GTR run at the first --staleness, timed, then stop)
 * Writes <out-dir>/staleness-<date>-<device>.{json,md,html} after every run (partial results survive).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { demoWarmUp, rlRecipe, SIZES, writeDemoInitModel, type DemoSizes } from '../src/demo/run.js';
import { evaluateDemo, type DemoEvalSettings } from '../src/demo/eval.js';
import { generateTask, writeTaskJsonl } from '../src/demo/task.js';
import { nativeEngines } from '../src/rl/adapters.js';
import { train } from '../src/rl/loop.js';
import { M } from '../src/run/metric-names.js';
import { RunDir } from '../src/run/dir.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2,3,4' },
    staleness: { type: 'string', default: '0,1,2,4' },
    steps: { type: 'string', default: '48' },
    prompts: { type: 'string', default: '16' },
    group: { type: 'string', default: '8' },
    'eval-every': { type: 'string', default: '12' },
    'held-out': { type: 'string', default: '400' },
    'eval-n': { type: 'string', default: '4' },
    'tis-cap': { type: 'string', default: '2' },
    lr: { type: 'string' },
    'target-gain': { type: 'string', default: '0.07' },
    target: { type: 'string' },
    work: { type: 'string', default: 'runs/staleness' },
    'out-dir': { type: 'string', default: join(import.meta.dirname ?? '.', 'results') },
    device: { type: 'string' },
    profile: { type: 'boolean', default: false },
    /** UTC HH:MM-HH:MM during which no run starts (another benchmark on the machine needs the cores). */
    'quiet-window': { type: 'string' },
  },
});
const ints = (flag: string, v: string) =>
  v.split(',').map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag}: "${x}" is not a non-negative integer`);
    return n;
  });
const seeds = ints('seeds', values.seeds!);
const stalenesses = ints('staleness', values.staleness!);
const [steps] = ints('steps', values.steps!);
const [evalEvery] = ints('eval-every', values['eval-every']!);
const tisCap = Number(values['tis-cap']);
const sizes: DemoSizes = {
  ...SIZES.full,
  prompts: ints('prompts', values.prompts!)[0]!,
  group: ints('group', values.group!)[0]!,
  heldOut: ints('held-out', values['held-out']!)[0]!,
  ...(values.lr !== undefined ? { rlLr: Number(values.lr) } : {}),
};
const evalN = ints('eval-n', values['eval-n']!)[0]!;
const algos = ['gtr', 'grpo'] as const;
const work = resolve(values.work!);
const base = join(work, 'base');
const cpu = cpus();
const device = values.device ?? `${cpu[0]?.model.trim() ?? 'cpu'} x${cpu.length}, 1 thread`;
const slug = device
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '-')
  .replace(/^-|-$/g, '');
const date = new Date().toISOString().slice(0, 10);
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

/** Student t quantile t_{0.975, df} (df 1..30; beyond, the normal 1.96). */
function t975(df: number): number {
  const t = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
    2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
  ];
  return df >= 1 && df <= 30 ? t[df - 1]! : 1.96;
}

/** Mean and 95% t interval of paired differences. */
function interval(d: number[]): { n: number; mean: number; lo: number; hi: number; sd: number } {
  const n = d.length;
  const mean = n ? d.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(d.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : NaN;
  const h = n > 1 ? (t975(n - 1) * sd) / Math.sqrt(n) : NaN;
  return { n, mean, lo: mean - h, hi: mean + h, sd };
}

interface RunResult {
  algo: (typeof algos)[number];
  staleness: number;
  seed: number;
  /** Held-out mean accuracy (mean@evalN) at each evaluated checkpoint. */
  curve: { step: number; accuracy: number; rlSeconds: number }[];
  finalAccuracy: number;
  /** First evaluated step reaching the target, and the RL wall time up to it (null: not reached). */
  stepsToTarget: number | null;
  secondsToTarget: number | null;
  rlSeconds: number;
  evalSeconds: number;
  meanStaleness: number;
  rolloutIsClipFrac: number | null;
  finalReward: number;
}

// 1. The shared world and warm-up (kept in <work>/base between invocations).
const task = generateTask({ train: sizes.sftRows + sizes.rlRows + sizes.devRows, heldOut: sizes.heldOut, seed: 0 });
const dev = task.train.slice(sizes.sftRows + sizes.rlRows);
const sftModel = join(base, 'sft', 'model');
let sftInfo: { steps: number; seconds: number; reused: boolean } = { steps: 0, seconds: 0, reused: true };
if (!existsSync(join(sftModel, 'config.json'))) {
  mkdirSync(base, { recursive: true });
  writeTaskJsonl(join(base, 'data', 'sft.jsonl'), task.train.slice(0, sizes.sftRows));
  writeTaskJsonl(join(base, 'data', 'rl.jsonl'), task.train.slice(sizes.sftRows, sizes.sftRows + sizes.rlRows));
  writeTaskJsonl(join(base, 'data', 'heldout.jsonl'), task.heldOut);
  await writeDemoInitModel(base, sizes.hidden, sizes.layers, 0);
  const t = performance.now();
  const w = await demoWarmUp(base, dev, sizes, 0, 1200, log);
  sftInfo = { steps: w.sft.steps, seconds: (performance.now() - t) / 1000, reused: false };
  writeFileSync(join(base, 'sft-info.json'), JSON.stringify(sftInfo));
} else if (existsSync(join(base, 'sft-info.json'))) {
  sftInfo = { ...JSON.parse(readFileSync(join(base, 'sft-info.json'), 'utf8')), reused: true };
}
const evalSettings = (seed: number): DemoEvalSettings => ({
  n: evalN,
  k: [1],
  temperature: 1,
  maxNewTokens: 16,
  seed: 7919 + seed,
});
const before = await evaluateDemo(sftModel, task.heldOut, evalSettings(0));
const target =
  values.target !== undefined ? Number(values.target) : before.meanAccuracy + Number(values['target-gain']);
log(
  `warm-up: ${sftInfo.steps} SFT steps (${sftInfo.reused ? 'reused' : `${sftInfo.seconds.toFixed(0)} s`}); held-out mean@${evalN} before RL ${before.meanAccuracy.toFixed(3)}; target ${target.toFixed(3)}`,
);

// 2. The runs.
const results: RunResult[] = [];
const t0 = performance.now();
async function runOne(algo: RunResult['algo'], s: number, seed: number): Promise<RunResult> {
  const recipe = rlRecipe(base, algo, steps, sizes, seed);
  const dir = join(work, 'runs', `${algo}-s${s}-seed${seed}`);
  recipe.rollout.max_staleness = s;
  recipe.algorithm.loss.rollout_is_threshold = s > 0 ? tisCap : null;
  recipe.checkpoint.every_steps = evalEvery;
  recipe.checkpoint.keep_last = Math.ceil(steps / evalEvery) + 1;
  recipe.run.dir = dir;
  recipe.run.report = false;
  recipe.run.tensorboard = false;
  const tr = performance.now();
  rmSync(dir, { recursive: true, force: true });
  await train(recipe, { engines: nativeEngines, log: () => {} });
  const rlSeconds = (performance.now() - tr) / 1000;
  const rows = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>)
    .filter((r) => (r.kind as unknown) === 'train');
  // RL wall time at the end of each step (timing_s/step: the step up to logging).
  const cum: number[] = [];
  rows.forEach((r, i) => cum.push((i ? cum[i - 1]! : 0) + r[M.timeStep]!));
  const te = performance.now();
  const curve: RunResult['curve'] = [];
  for (const c of new RunDir(dir).checkpoints()) {
    const r = await evaluateDemo(join(c.dir, 'policy'), task.heldOut, evalSettings(seed));
    curve.push({ step: c.step, accuracy: r.meanAccuracy, rlSeconds: cum[c.step - 1] ?? NaN });
  }
  curve.sort((a, b) => a.step - b.step);
  const hit = curve.find((p) => p.accuracy >= target);
  const tail = rows.slice(-5);
  const avg = (k: string) => tail.reduce((a, r) => a + (r[k] ?? 0), 0) / Math.max(1, tail.length);
  return {
    algo,
    staleness: s,
    seed,
    curve,
    finalAccuracy: curve.at(-1)!.accuracy,
    stepsToTarget: hit?.step ?? null,
    secondsToTarget: hit?.rlSeconds ?? null,
    rlSeconds,
    evalSeconds: (performance.now() - te) / 1000,
    meanStaleness: rows.reduce((a, r) => a + (r[M.stalenessMean] ?? 0), 0) / rows.length,
    rolloutIsClipFrac:
      s > 0 ? rows.reduce((a, r) => a + (r['rollout_corr/rollout_is_clip_frac'] ?? 0), 0) / rows.length : null,
    finalReward: avg(M.scoreMean),
  };
}

function summarize() {
  const by = (a: string, s: number) => results.filter((r) => r.algo === a && r.staleness === s);
  const paired = (xs: RunResult[], ys: RunResult[], f: (r: RunResult) => number | null) => {
    const d: number[] = [];
    for (const x of xs) {
      const y = ys.find((r) => r.seed === x.seed);
      const fx = f(x),
        fy = y ? f(y) : null;
      if (y && fx !== null && fy !== null) d.push(fx - fy);
    }
    return interval(d);
  };
  // Not reaching the target counts as reaching it one evaluation after the last (a censored lower bound).
  const stepsOrCensored = (r: RunResult) => r.stepsToTarget ?? steps + evalEvery;
  const perS = stalenesses.map((s) => {
    const g = by('gtr', s),
      p = by('grpo', s);
    const mean = (xs: RunResult[], f: (r: RunResult) => number) => xs.reduce((a, r) => a + f(r), 0) / xs.length;
    return {
      staleness: s,
      seeds: g.length,
      gtr: {
        finalAccuracy: mean(g, (r) => r.finalAccuracy),
        reached: g.filter((r) => r.stepsToTarget !== null).length,
        stepsToTarget: mean(g, stepsOrCensored),
        rlSeconds: mean(g, (r) => r.rlSeconds),
      },
      grpo: {
        finalAccuracy: mean(p, (r) => r.finalAccuracy),
        reached: p.filter((r) => r.stepsToTarget !== null).length,
        stepsToTarget: mean(p, stepsOrCensored),
        rlSeconds: mean(p, (r) => r.rlSeconds),
      },
      gtrMinusGrpo: {
        finalAccuracy: paired(g, p, (r) => r.finalAccuracy),
        stepsToTarget: paired(g, p, stepsOrCensored),
        secondsToTarget: paired(g, p, (r) => r.secondsToTarget),
      },
      vsOnPolicy: {
        gtr: paired(g, by('gtr', 0), (r) => r.finalAccuracy),
        grpo: paired(p, by('grpo', 0), (r) => r.finalAccuracy),
      },
    };
  });
  return perS;
}

function write() {
  const perS = summarize();
  mkdirSync(values['out-dir']!, { recursive: true });
  const file = join(values['out-dir']!, `staleness-${date}-${slug}`);
  const settings = {
    steps,
    promptsPerStep: sizes.prompts,
    samplesPerPrompt: sizes.group,
    lr: sizes.rlLr,
    epochsPerStep: sizes.epochs,
    miniBatchesPerEpoch: sizes.miniBatches,
    evalEvery,
    heldOut: sizes.heldOut,
    evalN,
    tisCap,
    target,
    heldOutBefore: before.meanAccuracy,
    sft: sftInfo,
    model: { hidden: sizes.hidden, layers: sizes.layers },
  };
  const json = { date, device, settings, summary: perS, runs: results, seconds: (performance.now() - t0) / 1000 };
  writeFileSync(file + '.json.tmp', JSON.stringify(json, null, 2) + '\n');
  renameSync(file + '.json.tmp', file + '.json');
  const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const ci = (x: { mean: number; lo: number; hi: number; n: number }, d = 3) =>
    `${f(x.mean, d)} [${f(x.lo, d)}, ${f(x.hi, d)}] (n ${x.n})`;
  const md = [
    `# Staleness experiment, ${date}, ${device}`,
    '',
    `The demo's world (arithmetic, ${sizes.hidden}-wide ${sizes.layers}-layer Qwen3), one SFT warm-up shared by all runs ` +
      `(${sftInfo.steps} steps; held-out mean@${evalN} ${f(before.meanAccuracy)} before RL), then ${steps} RL steps of ` +
      `${sizes.prompts} prompts x ${sizes.group} samples (lr ${sizes.rlLr}, ${sizes.epochs} epochs x ${sizes.miniBatches} mini-batches), ` +
      `in-process pipeline of depth s (rollout.max_staleness), truncated IS cap ${tisCap} for s > 0. Held-out: ${sizes.heldOut} problems x ${evalN} samples at temperature 1 ` +
      `(mean accuracy), every ${evalEvery} steps. Target ${f(target)}; a run that never reaches it counts as ${steps + evalEvery} steps (censored). ` +
      'Intervals: 95% t over seeds of the paired (same seed) differences.',
    '',
    '| s | seeds | GTR final acc | GRPO final acc | GTR - GRPO final acc | GTR reached | GRPO reached | GTR - GRPO steps to target | GTR - GRPO RL s to target (both reached) | GTR(s) - GTR(0) | GRPO(s) - GRPO(0) |',
    '| ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | --- | --- |',
    ...perS.map(
      (p) =>
        `| ${p.staleness} | ${p.seeds} | ${f(p.gtr.finalAccuracy)} | ${f(p.grpo.finalAccuracy)} | ${ci(p.gtrMinusGrpo.finalAccuracy)} | ` +
        `${p.gtr.reached}/${p.seeds} | ${p.grpo.reached}/${p.seeds} | ${ci(p.gtrMinusGrpo.stepsToTarget, 1)} | ${ci(p.gtrMinusGrpo.secondsToTarget, 1)} | ` +
        `${p.staleness === 0 ? '' : ci(p.vsOnPolicy.gtr)} | ${p.staleness === 0 ? '' : ci(p.vsOnPolicy.grpo)} |`,
    ),
    '',
    '## Runs',
    '',
    '| algo | s | seed | final acc | steps to target | RL s | mean staleness | IS clip frac | reward (last 5 steps) | curve (step: acc) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.map(
      (r) =>
        `| ${r.algo} | ${r.staleness} | ${r.seed} | ${f(r.finalAccuracy)} | ${r.stepsToTarget ?? '-'} | ${f(r.rlSeconds, 0)} | ${f(r.meanStaleness, 2)} | ${r.rolloutIsClipFrac === null ? '' : f(r.rolloutIsClipFrac, 4)} | ${f(r.finalReward)} | ${r.curve.map((c) => `${c.step}: ${f(c.accuracy)}`).join(', ')} |`,
    ),
    '',
  ].join('\n');
  writeFileSync(file + '.md', md);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  // A plain HTML page of the same tables (markdown tables rendered as HTML tables).
  const html = md
    .split('\n\n')
    .map((block) => {
      const lines = block.split('\n');
      if (lines[0]!.startsWith('# ')) return `<h1>${esc(lines[0]!.slice(2))}</h1>`;
      if (lines[0]!.startsWith('## ')) return `<h2>${esc(lines[0]!.slice(3))}</h2>`;
      if (lines[0]!.startsWith('|')) {
        const cells = (l: string) =>
          l
            .split('|')
            .slice(1, -1)
            .map((c) => esc(c.trim()));
        const head = cells(lines[0]!)
          .map((c) => `<th>${c}</th>`)
          .join('');
        const body = lines
          .slice(2)
          .map(
            (l) =>
              `<tr>${cells(l)
                .map((c) => `<td>${c}</td>`)
                .join('')}</tr>`,
          )
          .join('\n');
        return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
      }
      return `<p>${esc(block)}</p>`;
    })
    .join('\n');
  writeFileSync(
    file + '.html',
    `<!doctype html><html><head><meta charset="utf-8"><title>Staleness experiment ${date}</title>` +
      '<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}</style>' +
      `</head><body>${html}</body></html>\n`,
  );
  return file;
}

if (values.profile) {
  const s = stalenesses[0]!;
  const t = performance.now();
  const r = await runOne('gtr', s, seeds[0]!);
  log(
    `profile: gtr s=${s} seed ${seeds[0]}: RL ${r.rlSeconds.toFixed(1)} s, eval ${r.evalSeconds.toFixed(1)} s, total ${((performance.now() - t) / 1000).toFixed(1)} s; final acc ${r.finalAccuracy.toFixed(3)}; curve ${r.curve.map((c) => `${c.step}:${c.accuracy.toFixed(3)}`).join(' ')}`,
  );
  process.exit(0);
}
/** Waits until the end of --quiet-window when a run started now would overlap it (runs take about a minute). */
async function respectQuietWindow(): Promise<void> {
  const w = values['quiet-window'];
  if (!w) return;
  const m = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(w);
  if (!m) throw new Error(`--quiet-window: "${w}" is not HH:MM-HH:MM (UTC)`);
  const at = (h: string, mi: string) => {
    const d = new Date();
    d.setUTCHours(Number(h), Number(mi), 0, 0);
    return d.getTime();
  };
  const start = at(m[1]!, m[2]!),
    end = at(m[3]!, m[4]!);
  const now = Date.now();
  if (now >= start - 75_000 && now < end) {
    log(`quiet window ${w}: waiting ${((end - now) / 1000).toFixed(0)} s`);
    await new Promise((r) => setTimeout(r, end - now));
  }
}

for (const seed of seeds)
  for (const s of stalenesses)
    for (const algo of algos) {
      await respectQuietWindow();
      const r = await runOne(algo, s, seed);
      results.push(r);
      log(
        `${algo} s=${s} seed ${seed}: final ${r.finalAccuracy.toFixed(3)}, to target ${r.stepsToTarget ?? '-'} steps, RL ${r.rlSeconds.toFixed(0)} s + eval ${r.evalSeconds.toFixed(0)} s`,
      );
      write();
    }
log(`wrote ${write()}.{json,md,html}`);
