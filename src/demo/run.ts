/**
 * `gtr demo`: a first run that learns on a laptop CPU, with nothing downloaded.
 *
 * 1. the synthetic arithmetic task (./task.ts): SFT rows, RL rows (fresh problems) and a disjoint
 *    held-out split, as JSONL under <out>/data;
 * 2. the small tokenizer (./tokenizer.ts) and a random small Qwen3 on its vocabulary (<out>/model-init);
 * 3. an SFT warm-up (src/sft) sized so the model is right only part of the time (prompts rendered
 *    with the `plain` template, "47+38=", responses "Answer: 85");
 * 4. pass@1 / pass@k on the held-out split (./eval.ts), GTR (or GRPO, or both with --compare) via
 *    src/rl/loop.ts `train()` from the warmed-up checkpoint with the same seed, evaluation again;
 * 5. a before/after table on stdout, <out>/summary.json and <out>/report.html (src/report, the
 *    same report `gtr report` writes, with the before/after table and the SFT warm-up added).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { presetConfig } from '../checkpoint/index.js';
import { Policy } from '../policy.js';
import { parseRecipe, type Recipe } from '../recipe/index.js';
import { nativeEngines } from '../rl/adapters.js';
import { train } from '../rl/loop.js';
import { RunDir } from '../rl/run-dir.js';
import { sftTrain } from '../sft/train.js';
import { evaluateDemo, type DemoEvalResult, type DemoEvalSettings } from './eval.js';
import { M } from '../rl/metric-names.js';
import { readMetricsJsonl, writeReport, type ReportTable } from '../report/html.js';
import { loadRun, trainingSection } from '../report/run-report.js';
import { generateTask, writeTaskJsonl } from './task.js';
import { writeDemoTokenizer } from './tokenizer.js';

/** Options of {@link runDemo} (the CLI flags). */
export interface DemoOptions {
  /** Output directory (default runs/demo); the demo's own subdirectories in it are replaced. */
  out: string;
  /** RL steps per algorithm. */
  steps: number;
  /** SFT warm-up steps. */
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
  sftRows: number; rlRows: number; heldOut: number;
  /** SFT examples per step and peak learning rate (cosine schedule). */
  sftBatch: number; sftLr: number;
  /** RL prompts per step, samples per prompt, learning rate, epochs and mini-batches per step. */
  prompts: number; group: number; rlLr: number; epochs: number; miniBatches: number;
  /** Dynamic sampling (refill) of RL groups whose rewards are all equal. */
  refill: boolean;
  /** Samples per held-out problem and the pass@k values. */
  evalN: number; evalK: number[];
  /** Model width and depth. */
  hidden: number; layers: number;
}

export const SIZES: Record<'full' | 'fast', DemoSizes> = {
  full: {
    sftRows: 6000, rlRows: 4000, heldOut: 200, sftBatch: 64, sftLr: 3e-3,
    prompts: 32, group: 8, rlLr: 1e-4, epochs: 2, miniBatches: 2, refill: false,
    evalN: 4, evalK: [1, 4], hidden: 256, layers: 2,
  },
  fast: {
    sftRows: 200, rlRows: 200, heldOut: 8, sftBatch: 8, sftLr: 3e-3,
    prompts: 2, group: 4, rlLr: 1e-4, epochs: 2, miniBatches: 2, refill: false,
    evalN: 2, evalK: [1, 2], hidden: 128, layers: 2,
  },
};

/** Default step counts (CLI defaults). */
export const DEMO_DEFAULTS = { steps: 120, sftSteps: 350, fastSteps: 2, fastSftSteps: 3 } as const;

/** Longest response sampled in RL and evaluation ("Answer: -123" + EOS is 11 tokens). */
const MAX_NEW_TOKENS = 16;

/** The demo model: the `tiny` preset reshaped (hidden `hidden`, `layers` layers, head_dim 32) onto the demo vocabulary. */
export function demoModelConfig(vocabSize: number, eosTokenId: number, hidden = 128, layers = 2): Record<string, unknown> {
  return {
    ...presetConfig('tiny', 'float32'), vocab_size: vocabSize, eos_token_id: eosTokenId, bos_token_id: eosTokenId,
    hidden_size: hidden, intermediate_size: 4 * hidden, num_hidden_layers: layers, max_window_layers: layers, num_attention_heads: hidden / 32,
    num_key_value_heads: Math.max(1, hidden / 64), head_dim: 32, max_position_embeddings: 512, tie_word_embeddings: true,
  };
}

/** The recipe of the SFT warm-up. */
function sftRecipe(out: string, steps: number, s: DemoSizes, seed: number): Recipe {
  return parseRecipe(JSON.stringify({
    model: { path: join(out, 'model-init'), dtype: 'float32', device: 'cpu', chat_template: false },
    data: { train: join(out, 'data', 'sft.jsonl'), template: 'plain', response_field: 'solution' },
    train: {
      steps, prompts_per_step: s.sftBatch, lr: s.sftLr, warmup_steps: Math.min(20, Math.floor(steps / 10)), schedule: 'cosine',
      weight_decay: 0, activation_checkpointing: false, tokens_per_micro_batch: 8192, seed,
    },
    checkpoint: { every_steps: 0, keep_last: 1 },
    run: { dir: join(out, 'sft') },
  }), 'demo sft recipe');
}

/** The recipe of one RL run (GTR or plain GRPO); evaluation is done by the demo, not the loop. */
export function rlRecipe(out: string, algo: 'gtr' | 'grpo', steps: number, s: DemoSizes, seed: number): Recipe {
  return parseRecipe(JSON.stringify({
    model: { path: join(out, 'sft', 'model'), dtype: 'float32', device: 'cpu', chat_template: false },
    data: { train: join(out, 'data', 'rl.jsonl'), template: 'plain', max_prompt_tokens: 512 - MAX_NEW_TOKENS },
    rollout: { samples_per_prompt: s.group, max_new_tokens: MAX_NEW_TOKENS, temperature: 1.0, seed },
    reward: { grader: 'math', timeout_ms: 5000 },
    algorithm: {
      name: algo, advantage: 'grpo', dynamic_sampling: { enabled: s.refill, mode: 'refill', max_refill_batches: 2 },
      loss: { clip_ratio_low: 0.2, clip_ratio_high: 0.28, sigma: 0.2, beta: 1.0 },
    },
    train: {
      prompts_per_step: s.prompts, mini_batches_per_epoch: s.miniBatches, epochs_per_step: s.epochs, tokens_per_micro_batch: 8192, steps,
      lr: s.rlLr, warmup_steps: 0, schedule: 'constant', weight_decay: 0, activation_checkpointing: false, seed,
    },
    eval: { every_steps: 0 },
    checkpoint: { every_steps: 0, keep_last: 1 },
    run: { dir: join(out, `rl-${algo}`), log_samples_per_step: 2 },
  }), `demo ${algo} recipe`);
}

/** One algorithm's outcome. */
export interface DemoRunResult {
  algo: 'gtr' | 'grpo';
  after: DemoEvalResult;
  seconds: number;
  firstReward: number;
  lastReward: number;
}

/** What the demo measured. */
export interface DemoSummary {
  out: string;
  before: DemoEvalResult;
  runs: DemoRunResult[];
  sft: { steps: number; firstNll: number; lastNll: number; seconds: number };
  seconds: number;
  reportPath: string;
}

/** Mean of the `key` values of the first / last `w` rows that have it. */
function windowMean(rows: Record<string, unknown>[], key: string, w: number, last: boolean): number {
  const xs = rows.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
  const sel = last ? xs.slice(-w) : xs.slice(0, w);
  return sel.reduce((a, b) => a + b, 0) / Math.max(1, sel.length);
}

/** The before/after table as text (one row per model, one column per metric). */
export function formatSummaryTable(s: DemoSummary): string {
  const ks = Object.keys(s.before.passAt);
  const header = ['model', ...ks, 'mean acc', 'resp tokens', 'RL reward (first5 -> last5)', 'time'];
  const rows: string[][] = [
    ['after SFT (before RL)', ...ks.map((k) => s.before.passAt[k]!.toFixed(3)), s.before.meanAccuracy.toFixed(3), s.before.meanResponseTokens.toFixed(1), '', `${s.sft.seconds.toFixed(0)} s (SFT)`],
    ...s.runs.map((r) => [`after ${r.algo.toUpperCase()}`, ...ks.map((k) => r.after.passAt[k]!.toFixed(3)), r.after.meanAccuracy.toFixed(3), r.after.meanResponseTokens.toFixed(1),
      `${r.firstReward.toFixed(3)} -> ${r.lastReward.toFixed(3)}`, `${r.seconds.toFixed(0)} s (RL)`]),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * Runs the whole demo (see the module doc). Replaces <out>/{data,tokenizer,model-init,sft,rl-*,
 * report.html,summary.json}; nothing else in <out> is touched.
 * @throws what the pieces throw (native errors, a bad option).
 */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const log = o.log ?? ((s: string) => console.log(s));
  const t0 = performance.now();
  const out = resolve(o.out);
  const s: DemoSizes = { ...SIZES[o.fast ? 'fast' : 'full'], ...o.sizes };
  for (const d of ['data', 'tokenizer', 'model-init', 'sft', 'rl-gtr', 'rl-grpo', 'report.html', 'summary.json']) rmSync(join(out, d), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const task = generateTask({ train: s.sftRows + s.rlRows, heldOut: s.heldOut, seed: o.seed });
  writeTaskJsonl(join(out, 'data', 'sft.jsonl'), task.train.slice(0, s.sftRows));
  writeTaskJsonl(join(out, 'data', 'rl.jsonl'), task.train.slice(s.sftRows));
  writeTaskJsonl(join(out, 'data', 'heldout.jsonl'), task.heldOut);
  const tok = writeDemoTokenizer(join(out, 'tokenizer'));
  const init = await Policy.random(demoModelConfig(tok.vocabSize, tok.eosTokenId, s.hidden, s.layers), o.seed, { device: 'cpu', dtype: 'float32' });
  try {
    await init.save(join(out, 'model-init'), { tokenizerFrom: join(out, 'tokenizer') });
    log(`demo: ${task.train.length} train / ${task.heldOut.length} held-out problems, vocabulary ${tok.vocabSize}, model ${init.numParameters.toLocaleString('en-US')} parameters`);
  } finally {
    init.dispose();
  }

  log(`demo: SFT warm-up, ${o.sftSteps} steps of ${s.sftBatch} examples`);
  const sft = await sftTrain(sftRecipe(out, o.sftSteps, s, o.seed), {
    log,
    onStep: (r) => { if ((r.step as number) % 100 === 0) log(`  sft step ${r.step}: nll ${(r['sft/nll'] as number).toFixed(3)}`); },
  });
  const evalSettings: DemoEvalSettings = { n: s.evalN, k: s.evalK, temperature: 1.0, maxNewTokens: MAX_NEW_TOKENS, seed: o.seed + 7919 };
  const before = await evaluateDemo(sft.modelDir, task.heldOut, evalSettings);
  log(`demo: held-out before RL: ${Object.entries(before.passAt).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);

  const runs: DemoRunResult[] = [];
  for (const algo of o.algos) {
    const tr = performance.now();
    log(`demo: ${algo.toUpperCase()} for ${o.steps} steps (${s.prompts} prompts x ${s.group} samples per step)`);
    const res = await train(rlRecipe(out, algo, o.steps, s, o.seed), {
      engines: nativeEngines, log: () => {},
      onStep: (r) => log(`  ${algo} step ${r.step}/${o.steps}: reward ${(r[M.scoreMean] as number).toFixed(3)}, length ${(r[M.responseLengthMean] as number).toFixed(1)}, ${(r[M.timeStep] as number).toFixed(1)} s`),
    });
    const latest = new RunDir(res.runDir).latest();
    if (!latest) throw new Error(`${res.runDir}: the RL run left no checkpoint`);
    const seconds = (performance.now() - tr) / 1000;
    const after = await evaluateDemo(join(latest, 'policy'), task.heldOut, evalSettings);
    const rows = readMetricsJsonl(join(res.runDir, 'metrics.jsonl')).filter((r) => r.kind === 'train');
    const w = Math.max(1, Math.min(5, Math.floor(rows.length / 2)));
    runs.push({ algo, after, seconds, firstReward: windowMean(rows, M.scoreMean, w, false), lastReward: windowMean(rows, M.scoreMean, w, true) });
    log(`demo: held-out after ${algo.toUpperCase()}: ${Object.entries(after.passAt).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
  }

  const reportPath = join(out, 'report.html');
  const summary: DemoSummary = {
    out, before, runs, sft: { steps: sft.steps, firstNll: sft.firstNll, lastNll: sft.lastNll, seconds: sft.seconds },
    seconds: (performance.now() - t0) / 1000, reportPath,
  };
  writeFileSync(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  writeDemoReport(summary);
  return summary;
}

/** Writes <out>/report.html from the run directories' metrics.jsonl and the summary's eval table. */
export function writeDemoReport(s: DemoSummary): void {
  const ks = Object.keys(s.before.passAt);
  const table: ReportTable = {
    title: 'Held-out evaluation (before / after RL)',
    columns: ['model', ...ks, 'mean accuracy', 'response tokens'],
    rows: [
      ['after SFT (before RL)', ...ks.map((k) => s.before.passAt[k]!), s.before.meanAccuracy, s.before.meanResponseTokens],
      ...s.runs.map((r) => [`after ${r.algo.toUpperCase()}`, ...ks.map((k) => r.after.passAt[k]!), r.after.meanAccuracy, r.after.meanResponseTokens]),
    ],
  };
  const metrics = (dir: string) => {
    const p = join(s.out, dir, 'metrics.jsonl');
    return existsSync(p) ? readMetricsJsonl(p) : [];
  };
  const rl = s.runs.filter((r) => existsSync(join(s.out, `rl-${r.algo}`, 'metrics.jsonl'))).map((r) => loadRun(join(s.out, `rl-${r.algo}`), r.algo.toUpperCase()));
  writeReport(s.reportPath, {
    title: 'GTR-RL demo: arithmetic on a tiny Qwen3 (CPU)',
    notes: [
      `Total ${s.seconds.toFixed(0)} s. SFT warm-up: ${s.sft.steps} steps, NLL ${s.sft.firstNll.toFixed(3)} -> ${s.sft.lastNll.toFixed(3)} nats/token.`,
      `Held-out problems: ${s.before.problems}. RL runs start from the same warmed-up checkpoint and seed.`,
      'Plots: the numeric series of each run\'s metrics.jsonl, key metrics first (names: the README\'s metric table); series that never change are listed, not plotted.',
    ],
    tables: [table],
    sections: [
      trainingSection(rl, 'RL training (per step)'),
      { title: 'SFT warm-up (per step)', runs: [{ name: 'SFT', rows: metrics('sft') }] },
    ],
    samples: rl.flatMap((r) => r.samples),
  });
}
