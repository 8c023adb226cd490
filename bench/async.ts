/**
 * Asynchronous against synchronous RL on a 2-core CPU (not a test; issue 29): the demo's RL phase
 * (src/demo/run.ts: synthetic arithmetic, the tiny demo Qwen3 after its SFT warm-up, GTR, 32
 * prompts x 8 samples per step) run for the same wall time two ways, each as its own `gtr train`
 * process with its torch threads set explicitly:
 *
 * - sync: rollout.placement colocated, max_staleness 0, one process with OMP_NUM_THREADS = cores
 *   (generation, then the update, each with every core);
 * - async: rollout.placement separate, max_staleness 1, the trainer with 1 thread and one rollout
 *   worker with 1 thread (GTR_ROLLOUT_THREADS): the worker generates step k + 1's batch while the
 *   trainer trains step k; weights go to the worker over c10d (gloo) after each step.
 *
 * Each run gets `--wall` seconds from its process start and is then stopped with SIGINT (it saves a
 * checkpoint of its last step). Reported: steps, steps per hour of loop time (the sum of
 * timing_s/step) and of process wall time, the phase times, the wait and weight-sync times, and the
 * held-out accuracy of each final checkpoint (the demo's evaluation, paired over problems, with
 * standard errors) against the warm-up's. The machine's load average before and after each run is
 * recorded, because the measurement needs both cores.
 *
 * Run: npx tsx bench/async.ts [--seed 4] [--wall 200] [--sft-steps 600] [--held-out 500] [--eval-n 4]
 *      [--work runs/async-bench] [--out-dir bench/results] [--prepare-only] [--fast]
 * The SFT warm-up is cached in <work>/seed-<seed> (a second run reuses it; --prepare-only stops
 * there). Writes <out-dir>/async-<date>-<device>.json and .md.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { demoWarmUp, rlRecipe, SIZES, writeDemoInitModel, type DemoSizes } from '../src/demo/run.js';
import { evaluateDemo, pairedDiff, type DemoEvalResult, type DemoEvalSettings } from '../src/demo/eval.js';
import { generateTask, writeTaskJsonl } from '../src/demo/task.js';
import { M } from '../src/run/metric-names.js';
import { RunDir } from '../src/run/dir.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '4' },
    wall: { type: 'string', default: '200' },
    'sft-steps': { type: 'string', default: '600' },
    'held-out': { type: 'string', default: '500' },
    'eval-n': { type: 'string', default: '4' },
    work: { type: 'string', default: 'runs/async-bench' },
    'out-dir': { type: 'string', default: join(import.meta.dirname ?? '.', 'results') },
    device: { type: 'string' },
    'prepare-only': { type: 'boolean', default: false },
    /** Which runs, in order (sync first for the speed-up): sync, async (1 + 1 threads), async-t2 (trainer 2 threads + worker 1). */
    modes: { type: 'string', default: 'sync,async' },
    /** Tiny sizes and a few seconds per run: checks this script, measures nothing. */
    fast: { type: 'boolean', default: false },
  },
});
const num = (name: string) => {
  const n = Number(values[name as keyof typeof values]);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: a non-negative number expected`);
  return n;
};
const seed = num('seed');
const wallS = num('wall');
const fast = values.fast!;
const s: DemoSizes = { ...SIZES[fast ? 'fast' : 'full'] };
const heldOut = fast ? 8 : num('held-out');
const cpu = cpus();
const cores = cpu.length;
const device = values.device ?? `${cpu[0]?.model.trim() ?? 'cpu'} x${cores}`;
const slug = device
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '-')
  .replace(/^-|-$/g, '');
const date = new Date().toISOString().slice(0, 10);
const work = resolve(values.work!, `seed-${seed}${fast ? '-fast' : ''}`);
const root = resolve(import.meta.dirname ?? '.', '..');

// 1. The demo's world and SFT warm-up (cached).
const task = generateTask({ train: s.sftRows + s.rlRows + s.devRows, heldOut, seed });
const dev = task.train.slice(s.sftRows + s.rlRows);
const sftModel = join(work, 'sft', 'model');
if (!existsSync(join(sftModel, 'config.json'))) {
  mkdirSync(work, { recursive: true });
  writeTaskJsonl(join(work, 'data', 'sft.jsonl'), task.train.slice(0, s.sftRows));
  writeTaskJsonl(join(work, 'data', 'rl.jsonl'), task.train.slice(s.sftRows, s.sftRows + s.rlRows));
  await writeDemoInitModel(work, s.hidden, s.layers, seed);
  const t = performance.now();
  const w = await demoWarmUp(work, dev, s, seed, fast ? 3 : num('sft-steps'), (l) => console.log(l));
  console.log(`SFT warm-up: ${w.sft.steps} steps in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
if (values['prepare-only']) process.exit(0);

const evalSettings: DemoEvalSettings = {
  n: fast ? 2 : num('eval-n'),
  k: [1],
  temperature: 1.0,
  maxNewTokens: 16,
  seed: seed + 7919,
};
const before = await evaluateDemo(sftModel, task.heldOut, evalSettings);
console.log(`held-out pass@1 after the warm-up: ${before.passAt['pass@1']!.toFixed(3)}`);

interface Mode {
  name: 'sync' | 'async' | 'async-t2';
  sets: string[];
  env: Record<string, string>;
}
const allModes: Mode[] = [
  { name: 'sync', sets: [], env: { OMP_NUM_THREADS: String(cores) } },
  {
    name: 'async',
    sets: ['rollout.placement=separate', 'rollout.max_staleness=1'],
    env: { OMP_NUM_THREADS: '1', GTR_ROLLOUT_THREADS: String(Math.max(1, cores - 1)) },
  },
  // The trainer keeps every core and the worker adds one thread (oversubscribed by one).
  {
    name: 'async-t2',
    sets: ['rollout.placement=separate', 'rollout.max_staleness=1'],
    env: { OMP_NUM_THREADS: String(cores), GTR_ROLLOUT_THREADS: '1' },
  },
];
const modes = values.modes!.split(',').map((n) => {
  const m = allModes.find((x) => x.name === n);
  if (!m) throw new Error(`--modes: "${n}" is not one of ${allModes.map((x) => x.name).join(', ')}`);
  return m;
});

interface RunResult {
  mode: string;
  env: Record<string, string>;
  sets: string[];
  loadBefore: number[];
  loadAfter: number[];
  processSeconds: number;
  steps: number;
  loopSeconds: number;
  stepsPerHourLoop: number;
  stepsPerHourProcess: number;
  /** Means over steps 2.. (the first step has nothing to overlap), seconds. */
  phase: Record<string, number>;
  lastReward: number;
  after: DemoEvalResult;
}

/** One `gtr train` run of `mode`, stopped with SIGINT after wallS seconds. */
async function run(mode: Mode): Promise<RunResult> {
  const dir = join(work, `rl-${mode.name}`);
  rmSync(dir, { recursive: true, force: true });
  const recipe = rlRecipe(work, 'gtr', 100_000, s, seed);
  const file = join(work, `rl-${mode.name}.json`);
  const obj = JSON.parse(JSON.stringify(recipe)) as Record<string, Record<string, unknown>>;
  obj.run!.dir = dir;
  obj.checkpoint!.every_steps = 0;
  writeFileSync(file, JSON.stringify(obj));
  const loadBefore = loadavg();
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [join(root, 'bin', 'gtr.js'), 'train', file, ...mode.sets.flatMap((x) => ['--set', x])],
    { env: { ...process.env, ...mode.env }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const timer = setTimeout(() => child.kill('SIGINT'), wallS * 1000);
  const code = await new Promise<number>((r) => child.on('exit', (c, sig) => r(c ?? (sig ? 128 : 1))));
  clearTimeout(timer);
  const processSeconds = (performance.now() - t0) / 1000;
  const loadAfter = loadavg();
  if (code !== 0 && code !== 130) throw new Error(`${mode.name}: gtr train exited with ${code}`);
  const rows = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as Record<string, number>)
    .filter((r) => (r.kind as unknown) === 'train');
  const loopSeconds = rows.reduce((a, r) => a + r[M.timeStep]!, 0);
  const later = rows.slice(1);
  const mean = (k: string) => later.reduce((a, r) => a + (r[k] ?? 0), 0) / Math.max(1, later.length);
  const phase = Object.fromEntries(
    [
      M.timeStep,
      M.timeGen,
      M.timeReward,
      M.timeOldLogProb,
      M.timeSnapshotLogProb,
      M.timeUpdateActor,
      M.timeWaitRollout,
      M.timeWaitWeights,
      M.timeWeightSync,
    ].map((k) => [k, mean(k)]),
  );
  const latest = new RunDir(dir).latest();
  if (!latest) throw new Error(`${dir}: no checkpoint`);
  const after = await evaluateDemo(join(latest, 'policy'), task.heldOut, evalSettings);
  const tail = rows.slice(-5);
  return {
    mode: mode.name,
    env: mode.env,
    sets: mode.sets,
    loadBefore,
    loadAfter,
    processSeconds,
    steps: rows.length,
    loopSeconds,
    stepsPerHourLoop: (rows.length / loopSeconds) * 3600,
    stepsPerHourProcess: (rows.length / processSeconds) * 3600,
    phase,
    lastReward: tail.reduce((a, r) => a + r[M.scoreMean]!, 0) / Math.max(1, tail.length),
    after,
  };
}

const results: RunResult[] = [];
for (const m of modes) {
  console.log(
    `== ${m.name}: ${wallS} s (${Object.entries(m.env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}) load ${loadavg()[0]!.toFixed(2)}`,
  );
  results.push(await run(m));
  const r = results.at(-1)!;
  console.log(
    `${m.name}: ${r.steps} steps, ${r.stepsPerHourLoop.toFixed(0)} steps/h (loop), held-out pass@1 ${r.after.passAt['pass@1']!.toFixed(3)}`,
  );
}

const sync = results[0]!;
const asy = results[results.length - 1]!;
const speedup = asy.stepsPerHourLoop / sync.stepsPerHourLoop;
const diff = pairedDiff(sync.after, asy.after, 1);
const f = (x: number, d = 3) => x.toFixed(d);
const pass = (r: DemoEvalResult) => `${f(r.passAt['pass@1']!)} ± ${f(r.stdErr['pass@1']!)}`;
const md = [
  `# Async (separate rollout worker, staleness 1) against sync RL, ${date}, ${device}`,
  '',
  `${fast ? '--fast (a check of this script; measures nothing). ' : ''}The demo's RL phase (GTR, ${s.prompts} prompts x ${s.group} samples, ${s.epochs} epochs x ${s.miniBatches} mini-batches per step, seed ${seed}) from its SFT warm-up, ${wallS} s of wall time per run from process start, then SIGINT (a checkpoint of the last step). Held-out: ${heldOut} problems x ${evalSettings.n} samples at temperature 1; ± is one standard error over problems.`,
  '',
  '| run | threads | steps | steps/h (loop) | steps/h (process) | s/step | gen s | update s | wait rollout s | wait weights s | weight sync s | held-out pass@1 | load before -> after (1 min) |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...results.map(
    (r) =>
      `| ${r.mode} | ${Object.entries(r.env)
        .map(([k, v]) => `${k}=${v}`)
        .join(
          ' ',
        )} | ${r.steps} | ${f(r.stepsPerHourLoop, 0)} | ${f(r.stepsPerHourProcess, 0)} | ${f(r.phase[M.timeStep]!, 2)} | ${f(r.phase[M.timeGen]!, 2)} | ${f(r.phase[M.timeUpdateActor]!, 2)} | ${f(r.phase[M.timeWaitRollout]!, 2)} | ${f(r.phase[M.timeWaitWeights]!, 2)} | ${f(r.phase[M.timeWeightSync]!, 4)} | ${pass(r.after)} | ${f(r.loadBefore[0]!, 2)} -> ${f(r.loadAfter[0]!, 2)} |`,
  ),
  '',
  `Before RL (after the warm-up): held-out pass@1 ${pass(before)}.`,
  results.length > 1
    ? `Speed-up (steps per hour of loop time, ${asy.mode} / ${sync.mode}): **${f(speedup, 2)}x**. Held-out pass@1 at equal wall time, ${asy.mode} - ${sync.mode} (paired over problems): ${diff.diff >= 0 ? '+' : ''}${f(diff.diff)} ± ${f(diff.stdErr)} (z ${f(diff.z, 1)}; |z| < 2 is within noise).`
    : `One run (${sync.mode}); compare with another file's runs only as far as the load columns allow.`,
  '',
  "Phase times are means over steps 2.. (s). In the async run, gen is the worker's generation of a batch (overlapped with the trainer's update of the previous step); wait rollout is what the trainer waited for it.",
];
const json = {
  date,
  device,
  cores,
  seed,
  wallSeconds: wallS,
  sizes: s,
  heldOut,
  evalSettings,
  before: { passAt: before.passAt, stdErr: before.stdErr },
  speedup,
  asyncMinusSync: diff,
  runs: results.map((r) => ({
    ...r,
    after: { passAt: r.after.passAt, stdErr: r.after.stdErr, meanAccuracy: r.after.meanAccuracy },
  })),
};
const out = values['out-dir']!;
mkdirSync(out, { recursive: true });
const base = join(
  out,
  `async-${date}-${slug}${values.modes === 'sync,async' ? '' : `-${values.modes!.replace(/,/g, '-')}`}${fast ? '-fast' : ''}`,
);
for (const [ext, text] of [
  ['json', JSON.stringify(json, null, 2) + '\n'],
  ['md', md.join('\n') + '\n'],
] as const) {
  writeFileSync(`${base}.${ext}.tmp`, text);
  renameSync(`${base}.${ext}.tmp`, `${base}.${ext}`);
}
console.log(md.join('\n'));
console.log(`wrote ${base}.{json,md}`);
