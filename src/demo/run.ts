/**
 * `gtr demo`: a first run that learns on a laptop CPU, with nothing downloaded.
 *
 * 1. the synthetic arithmetic task (./task.ts): SFT rows, RL rows (fresh problems) and a disjoint
 *    held-out split, as JSONL under <out>/data;
 * 2. the small tokenizer (./tokenizer.ts) and a random small Qwen3 on its vocabulary (<out>/model-init);
 * 3. an SFT warm-up (src/sft, {@link demoWarmUp}; prompts rendered with the `plain` template,
 *    "47+38=", responses "Answer: 85") at a constant learning rate that stops once the greedy
 *    accuracy on a validation split reaches a target (0.5, step cap 1200): the jump in accuracy comes
 *    at a step that depends on the data order, so a fixed step count (the old 350-step cosine run)
 *    left some seeds before it; the stop rule starts RL from the same place on every seed, where
 *    the model is right part of the time;
 * 4. pass@1 / pass@k with standard errors on the held-out split (./eval.ts), GTR (or GRPO, or both with --compare) via
 *    src/rl/loop.ts `train()` from the warmed-up checkpoint with the same seed, evaluation again;
 * 5. the paired gain (after - before, over the same problems) with its standard error, with
 *    --compare the paired GRPO - GTR difference and whether it is within noise (|z| < 2), the wall
 *    time of each phase; a before/after table on stdout, <out>/summary.json and <out>/report.html (src/report, the
 *    same report `gtr report` writes, with the before/after table and the SFT warm-up added).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { presetConfig, writeFileAtomicSync } from '../checkpoint/index.js';
import { Policy } from '../policy.js';
import { parseRecipe, type Recipe } from '../recipe/index.js';
import { nativeEngines } from '../rl/adapters.js';
import { train } from '../rl/loop.js';
import { RunDir } from '../run/dir.js';
import { sftTrain, type SftSummary } from '../sft/train.js';
import { Tokenizer } from '../tokenizer/index.js';
import { evaluateDemo, evaluatePolicy, pairedDiff, type DemoEvalResult, type DemoEvalSettings } from './eval.js';
import { M } from '../run/metric-names.js';
import { readMetricsJsonl, writeReport, type ReportTable } from '../report/html.js';
import { loadRun, trainingSection } from '../run/report.js';
import { generateTask, writeTaskJsonl, type ArithmeticProblem } from './task.js';
import { writeDemoTokenizer } from './tokenizer.js';

/** Options of {@link runDemo} (the CLI flags). */
export interface DemoOptions {
  /** Output directory (default runs/demo); the demo's own subdirectories in it are replaced. */
  out: string;
  /** RL steps per algorithm. */
  steps: number;
  /**
   * SFT warm-up steps at most: the warm-up stops earlier, at a check every `sizes.sftCheckEvery`
   * steps, once the greedy accuracy on the validation split reaches `sizes.sftTarget`.
   */
  sftSteps: number;
  seed: number;
  algos: ('gtr' | 'grpo')[];
  /** A few steps and a tiny evaluation (the test smoke run). */
  fast: boolean;
  /** Overrides of the sizes and hyperparameters (experiments; the CLI does not set them). */
  sizes?: Partial<DemoSizes>;
  log?: (line: string) => void;
}

/** Sizes and hyperparameters that differ between the default run and --fast. */
export interface DemoSizes {
  sftRows: number;
  rlRows: number;
  heldOut: number;
  /**
   * Validation problems (from the training pool, disjoint from SFT / RL rows and the held-out
   * split) for the warm-up's stop rule.
   */
  devRows: number;
  /** SFT examples per step, peak learning rate and schedule (warm-up, then constant or cosine to the step cap). */
  sftBatch: number;
  sftLr: number;
  sftSchedule: 'constant' | 'cosine';
  /**
   * The warm-up's starting point: SFT stops at the first check (every `sftCheckEvery` steps) where
   * the greedy accuracy on the `devRows` validation problems is >= sftTarget (0 or > 1: never, run
   * all steps).
   */
  sftTarget: number;
  sftCheckEvery: number;
  /** RL prompts per step, samples per prompt, learning rate, epochs and mini-batches per step. */
  prompts: number;
  group: number;
  rlLr: number;
  epochs: number;
  miniBatches: number;
  /** Dynamic sampling (refill) of RL groups whose rewards are all equal. */
  refill: boolean;
  /** Samples per held-out problem and the pass@k values. */
  evalN: number;
  evalK: number[];
  /** Model width and depth. */
  hidden: number;
  layers: number;
}

export const SIZES: Record<'full' | 'fast', DemoSizes> = {
  full: {
    sftRows: 6000,
    rlRows: 4000,
    heldOut: 1000,
    devRows: 200,
    sftBatch: 64,
    sftLr: 3e-3,
    sftSchedule: 'constant',
    sftTarget: 0.5,
    sftCheckEvery: 25,
    prompts: 32,
    group: 8,
    rlLr: 3e-4,
    epochs: 2,
    miniBatches: 2,
    refill: false,
    evalN: 8,
    evalK: [1, 4],
    hidden: 256,
    layers: 2,
  },
  fast: {
    sftRows: 200,
    rlRows: 200,
    heldOut: 8,
    devRows: 8,
    sftBatch: 8,
    sftLr: 3e-3,
    sftSchedule: 'constant',
    sftTarget: 0,
    sftCheckEvery: 1,
    prompts: 2,
    group: 4,
    rlLr: 1e-4,
    epochs: 2,
    miniBatches: 2,
    refill: false,
    evalN: 2,
    evalK: [1, 2],
    hidden: 128,
    layers: 2,
  },
};

/** Default step counts (CLI defaults). */
export const DEMO_DEFAULTS = { steps: 120, sftSteps: 1200, fastSteps: 2, fastSftSteps: 3 } as const;

/** Longest response sampled in RL and evaluation ("Answer: -123" + EOS is 11 tokens). */
const MAX_NEW_TOKENS = 16;

/**
 * The demo model: the `tiny` preset reshaped (hidden `hidden`, `layers` layers, head_dim 32) onto
 * the demo vocabulary.
 */
export function demoModelConfig(
  vocabSize: number,
  eosTokenId: number,
  hidden = 128,
  layers = 2,
): Record<string, unknown> {
  return {
    ...presetConfig('tiny', 'float32'),
    vocab_size: vocabSize,
    eos_token_id: eosTokenId,
    bos_token_id: eosTokenId,
    hidden_size: hidden,
    intermediate_size: 4 * hidden,
    num_hidden_layers: layers,
    max_window_layers: layers,
    num_attention_heads: hidden / 32,
    num_key_value_heads: Math.max(1, hidden / 64),
    head_dim: 32,
    max_position_embeddings: 512,
    tie_word_embeddings: true,
  };
}

/**
 * The demo's starting point in `dir`: the demo tokenizer in dir/tokenizer and a random demo model
 * (demoModelConfig, normal init from `seed`) with that tokenizer in dir/model-init.
 * @returns the vocabulary size and the model's parameter count
 */
export async function writeDemoInitModel(
  dir: string,
  hidden: number,
  layers: number,
  seed: number,
): Promise<{ vocabSize: number; numParameters: number }> {
  const tok = writeDemoTokenizer(join(dir, 'tokenizer'));
  const init = await Policy.random(demoModelConfig(tok.vocabSize, tok.eosTokenId, hidden, layers), seed, {
    device: 'cpu',
    dtype: 'float32',
  });
  try {
    await init.save(join(dir, 'model-init'), { tokenizerFrom: join(dir, 'tokenizer') });
    return { vocabSize: tok.vocabSize, numParameters: init.numParameters };
  } finally {
    init.dispose();
  }
}

/** The recipe of the SFT warm-up. */
function sftRecipe(out: string, steps: number, s: DemoSizes, seed: number): Recipe {
  return parseRecipe(
    JSON.stringify({
      model: { path: join(out, 'model-init'), dtype: 'float32', device: 'cpu', chat_template: false },
      data: { train: join(out, 'data', 'sft.jsonl'), template: 'plain', response_field: 'solution' },
      train: {
        steps,
        prompts_per_step: s.sftBatch,
        lr: s.sftLr,
        warmup_steps: Math.min(20, Math.floor(steps / 10)),
        schedule: s.sftSchedule,
        weight_decay: 0,
        activation_checkpointing: false,
        tokens_per_micro_batch: 8192,
        seed,
      },
      checkpoint: { every_steps: 0, keep_last: 1 },
      run: { dir: join(out, 'sft') },
    }),
    'demo sft recipe',
  );
}

/** The recipe of one RL run (GTR or plain GRPO); evaluation is done by the demo, not the loop. */
export function rlRecipe(out: string, algo: 'gtr' | 'grpo', steps: number, s: DemoSizes, seed: number): Recipe {
  return parseRecipe(
    JSON.stringify({
      model: { path: join(out, 'sft', 'model'), dtype: 'float32', device: 'cpu', chat_template: false },
      data: { train: join(out, 'data', 'rl.jsonl'), template: 'plain', max_prompt_tokens: 512 - MAX_NEW_TOKENS },
      rollout: { samples_per_prompt: s.group, max_new_tokens: MAX_NEW_TOKENS, temperature: 1.0, seed },
      reward: { grader: 'math', timeout_ms: 5000 },
      algorithm: {
        name: algo,
        advantage: 'grpo',
        dynamic_sampling: { enabled: s.refill, mode: 'refill', max_refill_batches: 2 },
        loss: { clip_ratio_low: 0.2, clip_ratio_high: 0.28, sigma: 0.2, beta: 1.0 },
      },
      train: {
        prompts_per_step: s.prompts,
        mini_batches_per_epoch: s.miniBatches,
        epochs_per_step: s.epochs,
        tokens_per_micro_batch: 8192,
        steps,
        lr: s.rlLr,
        warmup_steps: 0,
        schedule: 'constant',
        weight_decay: 0,
        activation_checkpointing: false,
        seed,
      },
      eval: { every_steps: 0 },
      checkpoint: { every_steps: 0, keep_last: 1 },
      run: { dir: join(out, `rl-${algo}`), log_samples_per_step: 2 },
    }),
    `demo ${algo} recipe`,
  );
}

/** One algorithm's outcome. */
export interface DemoRunResult {
  algo: 'gtr' | 'grpo';
  after: DemoEvalResult;
  /** Wall time of the RL run (s), without the evaluation after it (`evalSeconds`). */
  seconds: number;
  evalSeconds: number;
  firstReward: number;
  lastReward: number;
  /** Held-out pass@1 after RL minus before, paired over problems, with its standard error and z = diff / SE. */
  gain: PairedDiff;
}

/** A paired difference over held-out problems (see ./eval.ts `pairedDiff`). */
export type PairedDiff = ReturnType<typeof pairedDiff>;

/** What the demo measured. */
export interface DemoSummary {
  out: string;
  seed: number;
  before: DemoEvalResult;
  runs: DemoRunResult[];
  sft: {
    steps: number;
    firstNll: number;
    lastNll: number;
    seconds: number;
    /**
     * The stop rule: target greedy accuracy on `devProblems` validation problems, checked every
     * `checkEvery` steps, at most `maxSteps`.
     */
    target: number;
    checkEvery: number;
    maxSteps: number;
    devProblems: number;
    /** Greedy validation accuracy at each check ({ step, accuracy }), the last one where SFT stopped. */
    checks: { step: number; accuracy: number }[];
    /** Whether the target was reached (false: the warm-up ran to the step cap). */
    reachedTarget: boolean;
  };
  /**
   * With two runs (--compare): the second's held-out pass@1 minus the first's, paired over
   * problems; |z| < 2 is within noise.
   */
  compare?: PairedDiff & { a: string; b: string; withinNoise: boolean };
  /**
   * Wall time per phase (s): setup (task, tokenizer, model), SFT, the evaluation before RL, each RL
   * run and its evaluation.
   */
  timings: Record<string, number>;
  seconds: number;
  reportPath: string;
}

/** Mean of the `key` values of the first / last `w` rows that have it. */
function windowMean(rows: Record<string, unknown>[], key: string, w: number, last: boolean): number {
  const xs = rows.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
  const sel = last ? xs.slice(-w) : xs.slice(0, w);
  return sel.reduce((a, b) => a + b, 0) / Math.max(1, sel.length);
}

/** "0.296 ± 0.021": a pass@k with its standard error. */
function withSe(r: DemoEvalResult, k: string): string {
  return `${r.passAt[k]!.toFixed(3)} ± ${(r.stdErr?.[k] ?? Number.NaN).toFixed(3)}`;
}

/** "+0.046 ± 0.012 (z 3.8)": a paired difference. */
export function formatPaired(d: PairedDiff): string {
  return `${d.diff >= 0 ? '+' : ''}${d.diff.toFixed(3)} ± ${d.stdErr.toFixed(3)} (z ${d.z.toFixed(1)})`;
}

/**
 * The before/after table as text (one row per model, one column per metric; ± is one standard
 * error over held-out problems).
 */
export function formatSummaryTable(s: DemoSummary): string {
  const ks = Object.keys(s.before.passAt);
  const header = [
    'model',
    ...ks.map((k) => `${k} ± SE`),
    'pass@1 gain (paired)',
    'resp tokens',
    'RL reward (first5 -> last5)',
    'time',
  ];
  const rows: string[][] = [
    [
      'after SFT (before RL)',
      ...ks.map((k) => withSe(s.before, k)),
      '',
      s.before.meanResponseTokens.toFixed(1),
      '',
      `${s.sft.seconds.toFixed(0)} s (SFT, ${s.sft.steps} steps)`,
    ],
    ...s.runs.map((r) => [
      `after ${r.algo.toUpperCase()}`,
      ...ks.map((k) => withSe(r.after, k)),
      r.gain ? formatPaired(r.gain) : '',
      r.after.meanResponseTokens.toFixed(1),
      `${r.firstReward.toFixed(3)} -> ${r.lastReward.toFixed(3)}`,
      `${r.seconds.toFixed(0)} s (RL)`,
    ]),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** The lines printed after the table: the GTR-vs-GRPO verdict (with --compare) and the wall time of each phase. */
export function formatSummaryFooter(s: DemoSummary): string[] {
  const lines: string[] = [];
  if (s.compare) {
    const c = s.compare;
    lines.push(
      `${c.b.toUpperCase()} - ${c.a.toUpperCase()} held-out pass@1, paired over ${s.before.problems} problems: ${formatPaired(c)}; ` +
        (c.withinNoise
          ? 'within noise (|z| < 2): this run does not tell the two apart'
          : `outside noise (|z| >= 2): ${c.diff > 0 ? c.b.toUpperCase() : c.a.toUpperCase()} is ahead on this seed`),
    );
  }
  const t = Object.entries(s.timings)
    .map(([k, v]) => `${k} ${v.toFixed(0)} s`)
    .join(', ');
  lines.push(`wall time: ${t}; total ${s.seconds.toFixed(0)} s`);
  return lines;
}

/** What {@link demoWarmUp} did: the SFT run and the validation checks of its stop rule. */
export interface DemoWarmUp {
  sft: SftSummary;
  /**
   * Greedy validation accuracy at each check ({ step, accuracy }); the last is where SFT stopped
   * (also at the cap). Empty without a stop rule.
   */
  checks: { step: number; accuracy: number }[];
}

/**
 * The demo's SFT warm-up with its stop rule: SFT of <out>/model-init on <out>/data/sft.jsonl (the
 * layout {@link runDemo} writes) into <out>/sft, at most `maxSteps` steps, stopping at the first
 * check (every `s.sftCheckEvery` steps) where the greedy accuracy on `dev` reaches `s.sftTarget`
 * (no checks when sftTarget is 0 or > 1). When the cap comes first, the final model is checked
 * once more and SFT still returns it.
 * @throws what sftTrain and the evaluation throw (a missing file, native errors).
 */
export async function demoWarmUp(
  out: string,
  dev: readonly ArithmeticProblem[],
  s: DemoSizes,
  seed: number,
  maxSteps: number,
  log: (line: string) => void,
): Promise<DemoWarmUp> {
  const stopRule = s.sftTarget > 0 && s.sftTarget <= 1;
  log(
    `demo: SFT warm-up, up to ${maxSteps} steps of ${s.sftBatch} examples` +
      (stopRule
        ? `, until greedy accuracy on ${dev.length} validation problems >= ${s.sftTarget} (checked every ${s.sftCheckEvery} steps)`
        : ''),
  );
  const tokenizer = await Tokenizer.fromDir(join(out, 'tokenizer'));
  const checks: { step: number; accuracy: number }[] = [];
  const greedy: DemoEvalSettings = { n: 1, k: [1], temperature: 0, maxNewTokens: MAX_NEW_TOKENS, seed };
  let nll = Number.NaN;
  const sft = await sftTrain(sftRecipe(out, maxSteps, s, seed), {
    log,
    onStep: (r) => {
      nll = r['sft/nll'] as number;
      if ((r.step as number) % 100 === 0 && !stopRule) log(`  sft step ${r.step}: nll ${nll.toFixed(3)}`);
    },
    stopCheckEvery: s.sftCheckEvery,
    stopWhen: stopRule
      ? async (step, policy) => {
          const acc = (await evaluatePolicy(policy, tokenizer, dev, greedy)).meanAccuracy;
          checks.push({ step, accuracy: acc });
          log(`  sft step ${step}: nll ${nll.toFixed(3)}, validation greedy accuracy ${acc.toFixed(3)}`);
          return acc >= s.sftTarget;
        }
      : undefined,
  });
  if (stopRule && !sft.stoppedEarly) {
    const p = await Policy.load(sft.modelDir, { device: 'cpu', dtype: 'float32' });
    try {
      const acc = (await evaluatePolicy(p, tokenizer, dev, greedy)).meanAccuracy;
      checks.push({ step: sft.steps, accuracy: acc });
      log(
        `demo: the warm-up reached the step cap (${sft.steps}) at validation greedy accuracy ${acc.toFixed(3)} < ${s.sftTarget}; RL starts from there`,
      );
    } finally {
      p.dispose();
    }
  }
  return { sft, checks };
}

/**
 * Runs the whole demo (see the module doc). Replaces <out>/{data,tokenizer,model-init,sft,rl-*,
 * report.html,summary.json}; nothing else in <out> is touched.
 * @throws what the pieces throw (native errors, a bad option).
 */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const log = o.log ?? ((s: string) => console.log(s));
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const out = resolve(o.out);
  const s: DemoSizes = { ...SIZES[o.fast ? 'fast' : 'full'], ...o.sizes };
  for (const d of ['data', 'tokenizer', 'model-init', 'sft', 'rl-gtr', 'rl-grpo', 'report.html', 'summary.json'])
    rmSync(join(out, d), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  // SFT rows, then RL rows, then the validation rows: the SFT and RL rows are the same problems as
  // before the validation split existed (the generator draws in sequence).
  const task = generateTask({ train: s.sftRows + s.rlRows + s.devRows, heldOut: s.heldOut, seed: o.seed });
  const dev = task.train.slice(s.sftRows + s.rlRows);
  writeTaskJsonl(join(out, 'data', 'sft.jsonl'), task.train.slice(0, s.sftRows));
  writeTaskJsonl(join(out, 'data', 'rl.jsonl'), task.train.slice(s.sftRows, s.sftRows + s.rlRows));
  writeTaskJsonl(join(out, 'data', 'dev.jsonl'), dev);
  writeTaskJsonl(join(out, 'data', 'heldout.jsonl'), task.heldOut);
  const init = await writeDemoInitModel(out, s.hidden, s.layers, o.seed);
  log(
    `demo: ${s.sftRows} SFT / ${s.rlRows} RL / ${dev.length} validation / ${task.heldOut.length} held-out problems, vocabulary ${init.vocabSize}, model ${init.numParameters.toLocaleString('en-US')} parameters`,
  );
  timings.setup = (performance.now() - t0) / 1000;

  const stopRule = s.sftTarget > 0 && s.sftTarget <= 1;
  const { sft, checks } = await demoWarmUp(out, dev, s, o.seed, o.sftSteps, log);
  timings.sft = (performance.now() - t0) / 1000 - timings.setup;

  let te = performance.now();
  const evalSettings: DemoEvalSettings = {
    n: s.evalN,
    k: s.evalK,
    temperature: 1.0,
    maxNewTokens: MAX_NEW_TOKENS,
    seed: o.seed + 7919,
  };
  const before = await evaluateDemo(sft.modelDir, task.heldOut, evalSettings);
  timings.eval_before = (performance.now() - te) / 1000;
  const passLine = (r: DemoEvalResult) =>
    Object.keys(r.passAt)
      .map((k) => `${k} ${withSe(r, k)}`)
      .join(', ');
  log(`demo: held-out before RL: ${passLine(before)}`);

  const runs: DemoRunResult[] = [];
  for (const algo of o.algos) {
    const tr = performance.now();
    log(`demo: ${algo.toUpperCase()} for ${o.steps} steps (${s.prompts} prompts x ${s.group} samples per step)`);
    const res = await train(rlRecipe(out, algo, o.steps, s, o.seed), {
      engines: nativeEngines,
      log: () => {},
      onStep: (r) =>
        log(
          `  ${algo} step ${r.step}/${o.steps}: reward ${(r[M.scoreMean] as number).toFixed(3)}, length ${(r[M.responseLengthMean] as number).toFixed(1)}, ${(r[M.timeStep] as number).toFixed(1)} s`,
        ),
    });
    const latest = new RunDir(res.runDir).latest();
    if (!latest) throw new Error(`${res.runDir}: the RL run left no checkpoint`);
    const seconds = (performance.now() - tr) / 1000;
    te = performance.now();
    const after = await evaluateDemo(join(latest, 'policy'), task.heldOut, evalSettings);
    const evalSeconds = (performance.now() - te) / 1000;
    timings[`rl_${algo}`] = seconds;
    timings[`eval_${algo}`] = evalSeconds;
    const rows = readMetricsJsonl(join(res.runDir, 'metrics.jsonl')).filter((r) => r.kind === 'train');
    const w = Math.max(1, Math.min(5, Math.floor(rows.length / 2)));
    const gain = pairedDiff(before, after, 1);
    runs.push({
      algo,
      after,
      seconds,
      evalSeconds,
      firstReward: windowMean(rows, M.scoreMean, w, false),
      lastReward: windowMean(rows, M.scoreMean, w, true),
      gain,
    });
    log(`demo: held-out after ${algo.toUpperCase()}: ${passLine(after)}; pass@1 gain ${formatPaired(gain)}`);
  }

  let compare: DemoSummary['compare'];
  if (runs.length === 2) {
    const d = pairedDiff(runs[0]!.after, runs[1]!.after, 1);
    compare = { ...d, a: runs[0]!.algo, b: runs[1]!.algo, withinNoise: !(Math.abs(d.z) >= 2) };
  }
  const reportPath = join(out, 'report.html');
  const summary: DemoSummary = {
    out,
    seed: o.seed,
    before,
    runs,
    sft: {
      steps: sft.steps,
      firstNll: sft.firstNll,
      lastNll: sft.lastNll,
      seconds: sft.seconds,
      target: stopRule ? s.sftTarget : 0,
      checkEvery: s.sftCheckEvery,
      maxSteps: o.sftSteps,
      devProblems: dev.length,
      checks,
      reachedTarget: sft.stoppedEarly,
    },
    compare,
    timings,
    seconds: (performance.now() - t0) / 1000,
    reportPath,
  };
  writeFileAtomicSync(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  writeDemoReport(summary);
  return summary;
}

/** Writes <out>/report.html from the run directories' metrics.jsonl and the summary's eval table. */
export function writeDemoReport(s: DemoSummary): void {
  const ks = Object.keys(s.before.passAt);
  const table: ReportTable = {
    title: 'Held-out evaluation (before / after RL)',
    columns: ['model', ...ks.flatMap((k) => [k, `${k} SE`]), 'pass@1 gain (paired)', 'gain SE', 'response tokens'],
    rows: [
      [
        'after SFT (before RL)',
        ...ks.flatMap((k) => [s.before.passAt[k]!, s.before.stdErr[k]!]),
        '',
        '',
        s.before.meanResponseTokens,
      ],
      ...s.runs.map((r) => [
        `after ${r.algo.toUpperCase()}`,
        ...ks.flatMap((k) => [r.after.passAt[k]!, r.after.stdErr[k]!]),
        r.gain.diff,
        r.gain.stdErr,
        r.after.meanResponseTokens,
      ]),
    ],
  };
  const metrics = (dir: string) => {
    const p = join(s.out, dir, 'metrics.jsonl');
    return existsSync(p) ? readMetricsJsonl(p) : [];
  };
  const rl = s.runs
    .filter((r) => existsSync(join(s.out, `rl-${r.algo}`, 'metrics.jsonl')))
    .map((r) => loadRun(join(s.out, `rl-${r.algo}`), r.algo.toUpperCase()));
  writeReport(s.reportPath, {
    title: 'GTR-RL demo: arithmetic on a tiny Qwen3 (CPU)',
    notes: [
      `Total ${s.seconds.toFixed(0)} s (${Object.entries(s.timings)
        .map(([k, v]) => `${k} ${v.toFixed(0)} s`)
        .join(
          ', ',
        )}). SFT warm-up: ${s.sft.steps} steps, NLL ${s.sft.firstNll.toFixed(3)} -> ${s.sft.lastNll.toFixed(3)} nats/token` +
        (s.sft.checks.length > 0
          ? `, validation greedy accuracy ${s.sft.checks.at(-1)!.accuracy.toFixed(3)} (target ${s.sft.target}, ${s.sft.reachedTarget ? 'reached' : 'not reached by the step cap'}).`
          : '.'),
      `Held-out problems: ${s.before.problems}, ${s.before.n} samples each at temperature 1; SE = one standard error over problems; the gain is paired over problems. RL runs start from the same warmed-up checkpoint and seed.`,
      ...(s.compare ? [formatSummaryFooter(s)[0]!] : []),
      "Plots: the numeric series of each run's metrics.jsonl, key metrics first (names: the README's metric table); series that never change are listed, not plotted.",
    ],
    tables: [table],
    sections: [
      trainingSection(rl, 'RL training (per step)'),
      { title: 'SFT warm-up (per step)', runs: [{ name: 'SFT', rows: metrics('sft') }] },
    ],
    samples: rl.flatMap((r) => r.samples),
  });
}
