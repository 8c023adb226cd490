/**
 * The behavior-transition benchmark (docs/TRANSITION.md): from one SFT warm start on the transition
 * task (./task.ts), each algorithm (GTR, plain GRPO, the KL, Pearson and SPO penalties) trains
 * through the same phase schedule (A, B, A by default: rewards for format A, then only for format
 * B, then A again) on several seeds, through `gtr train`'s loop (src/rl/loop.ts, `data.schedule`),
 * which evaluates both modes on the held-out split at every eval point. Per algorithm it reports,
 * as mean ± 95% Student-t interval over seeds (./stats.ts):
 * - steps to reach the target accuracy on the new phase after each switch (a run that never
 *   reaches it counts as the phase's length and is counted apart as "not reached");
 * - accuracy on the new phase's mode a fixed number of steps after the switch;
 * - retention: accuracy on the old phase's mode at that same point.
 * Writes <out>/transition.json (every curve and number) and <out>/report.html (./report.ts).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Policy } from '../policy.js';
import { parseRecipe, type Recipe } from '../recipe/index.js';
import { nativeEngines } from '../rl/adapters.js';
import { rolloutEngine } from '../rollout/engine.js';
import { train } from '../rl/loop.js';
import { sftTrain } from '../sft/train.js';
import { readMetricsJsonl } from '../report/html.js';
import { runEvaluation } from '../eval/run.js';
import { GraderPool } from '../grading/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import { writeDemoInitModel } from '../demo/run.js';
import { meanCi } from './stats.js';
import { generateTransitionTask, graderModule, writeTransitionJsonl, type Mode } from './task.js';
import { writeTransitionReport } from './report.js';
import {
  ALGORITHMS,
  type AlgoKey,
  type CurvePoint,
  type PairedSummary,
  type RunResult,
  type SwitchInfo,
  type SwitchMeasure,
  type SwitchSummary,
  type TransitionConfig,
  type TransitionResults,
} from './results.js';
import { writeFileAtomicSync } from '../checkpoint/save.js';

export * from './results.js';

/**
 * The full sweep's settings (about 40 minutes on 2 shared CPU cores; docs/TRANSITION.md says why
 * each value). lr 2e-4 with 4 epochs per step: at 1e-4 / 2 epochs the ratios stay within the clip
 * and no trust region acts; at 1e-3 every algorithm collapses within a few steps.
 */
export const FULL_CONFIG: TransitionConfig = {
  algos: ['gtr', 'grpo', 'kl', 'pearson', 'spo'],
  seeds: [1, 2, 3, 4, 5],
  phases: [
    { mode: 'A', steps: 5 },
    { mode: 'B', steps: 35 },
    { mode: 'A', steps: 30 },
  ],
  trainRows: 800,
  heldOut: 100,
  shareB: 0.1,
  worldSeed: 0,
  hidden: 128,
  layers: 2,
  sftSteps: 1200,
  sftBatch: 32,
  sftLr: 3e-3,
  prompts: 16,
  group: 8,
  lr: 2e-4,
  epochs: 4,
  miniBatches: 2,
  sigma: 0.2,
  beta: 1.0,
  evalEvery: 3,
  evalN: 1,
  target: 0.4,
  fixedSteps: 15,
};

/** The CI smoke (a few seconds of training): the pipeline, not a measurement. */
export const SMOKE_CONFIG: TransitionConfig = {
  ...FULL_CONFIG,
  algos: ['gtr', 'grpo'],
  seeds: [1, 2],
  phases: [
    { mode: 'A', steps: 1 },
    { mode: 'B', steps: 2 },
    { mode: 'A', steps: 1 },
  ],
  trainRows: 64,
  heldOut: 8,
  hidden: 64,
  layers: 1,
  sftSteps: 4,
  sftBatch: 8,
  prompts: 2,
  group: 4,
  epochs: 1,
  miniBatches: 1,
  evalEvery: 1,
  fixedSteps: 1,
};

/** The switches of a schedule (phase boundaries where the mode changes). */
export function switchesOf(phases: TransitionConfig['phases']): SwitchInfo[] {
  const out: SwitchInfo[] = [];
  let step = 1;
  phases.forEach((p, i) => {
    if (i > 0 && p.mode !== phases[i - 1]!.mode)
      out.push({ index: out.length, from: phases[i - 1]!.mode, to: p.mode, atStep: step, phaseSteps: p.steps });
    step += p.steps;
  });
  return out;
}

/**
 * The measures of one run's curve at one switch. The curve holds the warm start at step 0 and
 * eval points after steps; the point `k` steps after the switch at step s (first step of the new
 * phase) is the eval after step s - 1 + k. Points are read at the last eval at or before that step.
 */
export function measureSwitch(
  curve: readonly CurvePoint[],
  sw: SwitchInfo,
  target: number,
  fixedSteps: number,
): SwitchMeasure {
  const base = sw.atStep - 1;
  const at = (k: number): CurvePoint => {
    const c = curve.filter((p) => p.step <= base + k);
    return c[c.length - 1] ?? curve[0]!;
  };
  const hit = curve.find((p) => p.step > base && p.step <= base + sw.phaseSteps && p[sw.to] >= target);
  const pt = at(fixedSteps);
  return { stepsToTarget: hit ? hit.step - base : null, newAccuracy: pt[sw.to], retention: pt[sw.from] };
}

/** Aggregates runs per algorithm and switch. */
export function summarize(
  runs: readonly RunResult[],
  switches: readonly SwitchInfo[],
): Record<string, SwitchSummary[]> {
  const out: Record<string, SwitchSummary[]> = {};
  for (const algo of [...new Set(runs.map((r) => r.algo))]) {
    const rs = runs.filter((r) => r.algo === algo);
    out[algo] = switches.map((sw, i) => ({
      switch: sw,
      stepsToTarget: meanCi(rs.map((r) => r.switches[i]!.stepsToTarget ?? sw.phaseSteps)),
      notReached: rs.filter((r) => r.switches[i]!.stepsToTarget === null).length,
      newAccuracy: meanCi(rs.map((r) => r.switches[i]!.newAccuracy)),
      retention: meanCi(rs.map((r) => r.switches[i]!.retention)),
    }));
  }
  return out;
}

/**
 * Each algorithm's difference from GTR paired by seed (PairedSummary), over the seeds both ran;
 * undefined when GTR was not run or fewer than 2 seeds pair up.
 */
export function pairedVsGtr(
  runs: readonly RunResult[],
  switches: readonly SwitchInfo[],
): Record<string, PairedSummary[]> | undefined {
  const gtr = new Map(runs.filter((r) => r.algo === 'gtr').map((r) => [r.seed, r]));
  const out: Record<string, PairedSummary[]> = {};
  for (const algo of [...new Set(runs.map((r) => r.algo))].filter((a) => a !== 'gtr')) {
    const pairs = runs.filter((r) => r.algo === algo && gtr.has(r.seed)).map((r) => [r, gtr.get(r.seed)!] as const);
    if (pairs.length < 2) continue;
    out[algo] = switches.map((sw, i) => {
      const diff = (f: (m: SwitchMeasure) => number) =>
        meanCi(pairs.map(([r, g]) => f(r.switches[i]!) - f(g.switches[i]!)));
      return {
        switch: sw,
        stepsToTarget: diff((m) => m.stepsToTarget ?? sw.phaseSteps),
        newAccuracy: diff((m) => m.newAccuracy),
        retention: diff((m) => m.retention),
      };
    });
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The results with summary and pairedVsGtr recomputed from the runs (bench/transition.ts
 * --rerender: a JSON written by an older version gains what this one computes).
 */
export function recomputeSummaries(r: TransitionResults): TransitionResults {
  const paired = pairedVsGtr(r.runs, r.switches);
  const { pairedVsGtr: _old, ...rest } = r;
  return { ...rest, summary: summarize(r.runs, r.switches), ...(paired ? { pairedVsGtr: paired } : {}) };
}

/** Settings only GTR reads: a GTR-only variant may borrow the other algorithms' runs (withBaseline). */
const GTR_ONLY_SETTINGS = new Set<keyof TransitionConfig>(['sigma']);

/**
 * `r` (a GTR-only variant, e.g. `--algos gtr --sigma 0.1`) with the runs of every algorithm it did
 * not run taken from `base`, so the summaries compare them. Valid because the other algorithms
 * never read the settings that may differ (GTR_ONLY_SETTINGS); everything else (warm start,
 * seeds, schedule, lr, epochs, beta, ...) must be equal.
 * @throws Error naming the settings that differ, or a warm start that differs
 */
export function withBaseline(r: TransitionResults, base: TransitionResults, file: string): TransitionResults {
  const keys = new Set([...Object.keys(r.config), ...Object.keys(base.config)] as (keyof TransitionConfig)[]);
  const differ = [...keys].filter(
    (k) => k !== 'algos' && !GTR_ONLY_SETTINGS.has(k) && JSON.stringify(r.config[k]) !== JSON.stringify(base.config[k]),
  );
  if (differ.length > 0)
    throw new Error(
      `${file}: its settings differ in ${differ.join(', ')}; a baseline may differ only in algos and ${[...GTR_ONLY_SETTINGS].join(', ')}`,
    );
  if (r.warmStart.A !== base.warmStart.A || r.warmStart.B !== base.warmStart.B)
    throw new Error(`${file}: its warm start differs (mode A ${base.warmStart.A} vs ${r.warmStart.A})`);
  if (r.config.algos.some((a) => a !== 'gtr'))
    throw new Error(`a baseline completes a GTR-only run; this one ran ${r.config.algos.join(', ')}`);
  const have = new Set(r.runs.map((x) => x.algo));
  const borrowed = base.runs.filter((x) => !have.has(x.algo));
  return { ...r, runs: [...r.runs, ...borrowed], baseline: { file, algos: [...new Set(borrowed.map((x) => x.algo))] } };
}

/** The RL recipe of one (algorithm, seed) run from the warm start in `world`. */
export function transitionRecipe(
  world: string,
  runDir: string,
  algo: AlgoKey,
  seed: number,
  c: TransitionConfig,
): Recipe {
  const a = ALGORITHMS[algo];
  const heldout = join(world, 'data', 'heldout.jsonl');
  const steps = c.phases.reduce((s, p) => s + p.steps, 0);
  return parseRecipe(
    JSON.stringify({
      model: { path: join(world, 'sft', 'model'), dtype: 'float32', device: 'cpu', chat_template: false },
      data: {
        train: join(world, 'data', 'rl.jsonl'),
        template: 'plain',
        max_prompt_tokens: 64,
        schedule: c.phases.map((p) => ({
          name: p.mode,
          steps: p.steps,
          grader: graderModule(p.mode),
          eval: [heldout],
        })),
      },
      rollout: { samples_per_prompt: c.group, max_new_tokens: 12, temperature: 1.0, seed },
      reward: { timeout_ms: 10000 },
      algorithm: {
        name: a.name,
        advantage: 'grpo',
        loss: { penalty: a.penalty, clip_ratio_low: 0.2, clip_ratio_high: 0.28, sigma: c.sigma, beta: c.beta },
      },
      train: {
        prompts_per_step: c.prompts,
        mini_batches_per_epoch: c.miniBatches,
        epochs_per_step: c.epochs,
        tokens_per_micro_batch: 8192,
        steps,
        lr: c.lr,
        warmup_steps: 0,
        schedule: 'constant',
        weight_decay: 0,
        activation_checkpointing: false,
        seed,
      },
      eval: {
        every_steps: c.evalEvery,
        n: c.evalN,
        k: [1],
        benchmarks: [heldout],
        temperature: 1.0,
        max_new_tokens: 12,
      },
      checkpoint: { every_steps: 0, keep_last: 1 },
      run: { dir: runDir, log_samples_per_step: 2, tensorboard: false, report: false },
    }),
    `transition ${algo} seed ${seed} recipe`,
  );
}

/** Builds the task data, tokenizer and warm start (SFT) under <out>/world. */
async function buildWorld(
  out: string,
  c: TransitionConfig,
  log: (l: string) => void,
): Promise<{ world: string; sftSeconds: number; lastNll: number }> {
  const world = join(out, 'world');
  rmSync(world, { recursive: true, force: true });
  const task = generateTransitionTask({ train: c.trainRows, heldOut: c.heldOut, shareB: c.shareB, seed: c.worldSeed });
  writeTransitionJsonl(join(world, 'data', 'sft.jsonl'), task.train);
  writeTransitionJsonl(join(world, 'data', 'rl.jsonl'), task.train);
  writeTransitionJsonl(join(world, 'data', 'heldout.jsonl'), task.heldOut);
  await writeDemoInitModel(world, c.hidden, c.layers, c.worldSeed);
  const sftRecipe = parseRecipe(
    JSON.stringify({
      model: { path: join(world, 'model-init'), dtype: 'float32', device: 'cpu', chat_template: false },
      data: { train: join(world, 'data', 'sft.jsonl'), template: 'plain', response_field: 'solution' },
      train: {
        steps: c.sftSteps,
        prompts_per_step: c.sftBatch,
        lr: c.sftLr,
        warmup_steps: Math.min(20, Math.floor(c.sftSteps / 10)),
        schedule: 'cosine',
        weight_decay: 0,
        activation_checkpointing: false,
        tokens_per_micro_batch: 8192,
        seed: c.worldSeed,
      },
      checkpoint: { every_steps: 0, keep_last: 1 },
      run: { dir: join(world, 'sft'), tensorboard: false, report: false },
    }),
    'transition sft recipe',
  );
  log(
    `transition: SFT warm-up, ${c.sftSteps} steps of ${c.sftBatch} rows (${Math.round(100 * (1 - c.shareB))}% mode A, ${Math.round(100 * c.shareB)}% mode B)`,
  );
  const sft = await sftTrain(sftRecipe, { log: () => {} });
  return { world, sftSeconds: sft.seconds, lastNll: sft.lastNll };
}

/** Accuracy (mean@n) of the model in `modelDir` on the held-out split under each mode's grader. */
async function evaluateModes(world: string, modelDir: string, c: TransitionConfig): Promise<{ A: number; B: number }> {
  const tokenizer = await Tokenizer.fromDir(modelDir);
  const policy = await Policy.load(modelDir, { device: 'cpu', dtype: 'float32' });
  const out = { A: 0, B: 0 };
  try {
    const engine = rolloutEngine(policy);
    for (const mode of ['A', 'B'] as const) {
      const pool = new GraderPool({ grader: graderModule(mode), timeoutMs: 10000, threads: 1 });
      try {
        const rep = await runEvaluation(
          engine,
          tokenizer,
          {
            benchmarks: [join(world, 'data', 'heldout.jsonl')],
            n: c.evalN,
            k: [1],
            limit: null,
            rendering: { template: 'plain', chat: false, enableThinking: false },
            temperature: 1,
            topP: 1,
            maxNewTokens: 12,
            seed: 7919,
            stopTokenIds: tokenizer.eosTokenIds,
            modelName: modelDir,
          },
          pool,
        );
        out[mode] = rep.benchmarks[0]!.metrics[`mean@${c.evalN}`] as number;
      } finally {
        await pool.destroy();
      }
    }
  } finally {
    policy.dispose();
  }
  return out;
}

/** The curve of a finished run: the warm start, then each eval row's accuracy per mode. */
export function readCurve(runDir: string, warm: { A: number; B: number }, evalN: number): CurvePoint[] {
  const rows = readMetricsJsonl(join(runDir, 'metrics.jsonl')).filter(
    (r) => r.kind === 'eval' && r['val/failed'] === 0,
  );
  return [
    { step: 0, ...warm },
    ...rows.map((r) => ({
      step: r.step as number,
      A: r[`val/A/mean/mean@${evalN}`] as number,
      B: r[`val/B/mean/mean@${evalN}`] as number,
    })),
  ];
}

/**
 * Runs the benchmark into `outDir` (replaced: world/, runs/, transition.json, report.html) and
 * returns the results. `o.world`: an existing world directory (data, tokenizer, warmed-up model of
 * a run with the same task and model settings) to start from instead of building one.
 * @throws what training throws (native errors, a recipe error)
 */
export async function runTransitionBench(
  outDir: string,
  c: TransitionConfig,
  log: (l: string) => void = console.log,
  o: { world?: string } = {},
): Promise<TransitionResults> {
  const t0 = performance.now();
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  rmSync(join(out, 'runs'), { recursive: true, force: true });
  const w = o.world ? { world: resolve(o.world), sftSeconds: 0, lastNll: NaN } : await buildWorld(out, c, log);
  const warm = await evaluateModes(w.world, join(w.world, 'sft', 'model'), c);
  log(
    `transition: warm start (SFT ${w.sftSeconds.toFixed(0)} s, NLL ${w.lastNll.toFixed(3)}): mode A ${warm.A.toFixed(3)}, mode B ${warm.B.toFixed(3)}`,
  );
  const switches = switchesOf(c.phases);
  const runs: RunResult[] = [];
  for (const seed of c.seeds) {
    for (const algo of c.algos) {
      const tr = performance.now();
      const runDir = join(out, 'runs', `${algo}-seed${seed}`);
      await train(transitionRecipe(w.world, runDir, algo, seed, c), { engines: nativeEngines, log: () => {} });
      const curve = readCurve(runDir, warm, c.evalN);
      const r: RunResult = {
        algo,
        seed,
        curve,
        switches: switches.map((sw) => measureSwitch(curve, sw, c.target, c.fixedSteps)),
        seconds: (performance.now() - tr) / 1000,
      };
      runs.push(r);
      log(
        `transition: ${algo} seed ${seed}: ${r.seconds.toFixed(0)} s; ${r.switches.map((m, i) => `switch ${i + 1} (${switches[i]!.from}->${switches[i]!.to}): steps to ${c.target} ${m.stepsToTarget ?? 'not reached'}, new ${m.newAccuracy.toFixed(2)}, old ${m.retention.toFixed(2)}`).join('; ')}`,
      );
      // Keep metrics and evals; drop the checkpoint weights (the results do not need them).
      rmSync(join(runDir, 'checkpoints'), { recursive: true, force: true });
      // Written after every run (seeds outermost): a sweep cut short still leaves whole seeds.
      write();
    }
  }
  return write();

  function write(): TransitionResults {
    const results: TransitionResults = recomputeSummaries({
      date: new Date().toISOString(),
      device: { kind: 'cpu', cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
      config: c,
      warmStart: { ...warm, sftSeconds: w.sftSeconds, lastNll: w.lastNll },
      switches,
      runs,
      summary: {},
      seconds: (performance.now() - t0) / 1000,
    });
    writeFileAtomicSync(join(out, 'transition.json'), JSON.stringify(results, null, 2) + '\n');
    writeTransitionReport(join(out, 'report.html'), results);
    return results;
  }
}
