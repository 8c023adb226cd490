/**
 * One run of the transition experiment (docs/TRANSITION.md "Analysis plan"): one arm, one warm
 * start, one seed, through a phase schedule of alternating modes, in-process on the shipped RL
 * parts: the rollout engine (src/rollout/engine.ts) samples each step's groups, the task's graders
 * score them, GRPO advantages (src/rl/advantages.ts), and `updatePolicy` (src/rl/update.ts) on the
 * native trainer (src/rl/adapters.ts) runs the epochs with the arm's loss and anchor. After every
 * step it records the exact mode probabilities on the held-out prompts (./probe.ts) and the step's
 * diagnostics. No evaluation by sampling, no checkpoints, no metrics files: a run is cheap enough
 * that hundreds fit a CPU hour.
 *
 * Also the warm starts: the task data of a warm-start seed and an SFT warm-up from it, built once
 * and cached in a directory keyed by their settings.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Xoshiro128, mixSeeds, shuffleInPlace } from '../data/prng.js';
import { writeDemoInitModel } from '../demo/run.js';
import { Policy } from '../policy.js';
import { RecipeSchema, parseRecipe } from '../recipe/index.js';
import { trainerEngine } from '../rl/adapters.js';
import { computeAdvantages } from '../rl/advantages.js';
import { packSamples, scatterPerSample, type TrainSample } from '../rl/batch.js';
import { updatePolicy } from '../rl/update.js';
import { rolloutEngine } from '../rollout/engine.js';
import { decodeResponse, renderPrompt } from '../rollout/prompt.js';
import { sftTrain } from '../sft/train.js';
import { Tokenizer } from '../tokenizer/index.js';
import { lossConfig } from '../train/loss-config.js';
import { tokenGradients, type ArmSpec } from './arms.js';
import { modeProbabilities, modeProbe } from './probe.js';
import { generateTransitionTask, gradeMode, responseMode, writeTransitionJsonl, type Mode } from './task.js';

/** The task and warm-up settings of one warm start (its seed sets the data split and the SFT). */
export interface WarmStartSettings {
  seed: number;
  trainRows: number;
  heldOut: number;
  shareB: number;
  hidden: number;
  layers: number;
  sftSteps: number;
  sftBatch: number;
  sftLr: number;
}

/** The RL settings shared by every arm (a run's arm adds its loss; `hi` arms their regime). */
export interface RunSettings {
  /** The schedule: a first phase, then the alternating phases (each `steps` long). */
  phases: { mode: Mode; steps: number }[];
  prompts: number;
  group: number;
  maxNewTokens: number;
  lr: number;
  epochs: number;
  miniBatches: number;
  /** The `hi` regime (many epochs, higher learning rate). */
  hi: { lr: number; epochs: number };
}

/** One step's record. */
export interface StepRecord {
  step: number;
  /** The phase trained at this step (0 = the warm start's record). */
  mode: Mode | null;
  /** Exact probabilities after the step (./probe.ts): whole prefix and first token, per mode. */
  seqA: number;
  seqB: number;
  firstA: number;
  firstB: number;
  /** Mean reward of the step's rollouts, and the share of them in neither format. */
  reward?: number;
  invalid?: number;
  /** End-of-step ratios r = pi_new / pi_behavior over the step's response tokens: quantiles. */
  ratio?: { min: number; p01: number; p05: number; p50: number; p95: number; p99: number; max: number };
  /** Share of response tokens with |r - 1| > 0.4 (2 sigma at sigma 0.2) and > 2 x the arm's sigma (GTR arms). */
  tail02?: number;
  tailArm?: number;
  /** sum |penalty grad| / (sum |surrogate grad| + sum |penalty grad|) per token w.r.t. logp, end of step, behaviour anchor. */
  penaltyShare?: number;
  /** The trainer's own per-update metrics, averaged over the step's updates. */
  clipFrac?: number;
  updateRatioMax?: number;
  penaltyGradAbsMean?: number;
  skippedSteps?: number;
}

/** A finished run. */
export interface RunRecord {
  arm: string;
  warm: number;
  seed: number;
  steps: StepRecord[];
  seconds: number;
  /** Collapse (docs/TRANSITION.md): at some step the held-out probability of either format, seqA + seqB, < 0.5. */
  collapsed: boolean;
}

/** The warm start's directory name: its settings, so a changed setting builds a new one. */
export function warmStartKey(w: WarmStartSettings): string {
  return `w${w.seed}-h${w.hidden}l${w.layers}-sft${w.sftSteps}x${w.sftBatch}-lr${w.sftLr}-n${w.trainRows}-${w.heldOut}-b${w.shareB}`;
}

/**
 * Builds (or finds cached under `cacheDir`) the warm start: task data split by `w.seed`, the demo
 * tokenizer, a random model from `w.seed` and its SFT warm-up. Returns the directory holding
 * data/{sft,heldout}.jsonl and sft/model. A partly built directory is rebuilt.
 */
export async function warmStart(cacheDir: string, w: WarmStartSettings, log: (l: string) => void): Promise<string> {
  const dir = join(cacheDir, warmStartKey(w));
  if (existsSync(join(dir, 'done.json'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  const task = generateTransitionTask({ train: w.trainRows, heldOut: w.heldOut, shareB: w.shareB, seed: w.seed });
  writeTransitionJsonl(join(dir, 'data', 'sft.jsonl'), task.train);
  writeTransitionJsonl(join(dir, 'data', 'heldout.jsonl'), task.heldOut);
  await writeDemoInitModel(dir, w.hidden, w.layers, w.seed);
  const recipe = parseRecipe(
    JSON.stringify({
      model: { path: join(dir, 'model-init'), dtype: 'float32', device: 'cpu', chat_template: false },
      data: { train: join(dir, 'data', 'sft.jsonl'), template: 'plain', response_field: 'solution' },
      train: {
        steps: w.sftSteps,
        prompts_per_step: w.sftBatch,
        lr: w.sftLr,
        warmup_steps: Math.min(20, Math.floor(w.sftSteps / 10)),
        schedule: 'cosine',
        weight_decay: 0,
        activation_checkpointing: false,
        tokens_per_micro_batch: 8192,
        seed: w.seed,
      },
      checkpoint: { every_steps: 0, keep_last: 1 },
      run: { dir: join(dir, 'sft'), tensorboard: false, report: false },
    }),
    `transition warm start ${w.seed} SFT recipe`,
  );
  const t = performance.now();
  const sft = await sftTrain(recipe, { log: () => {} });
  writeFileSync(join(dir, 'done.json'), JSON.stringify({ ...w, sftSeconds: sft.seconds, lastNll: sft.lastNll }) + '\n');
  log(
    `transition: warm start ${w.seed}: SFT ${((performance.now() - t) / 1000).toFixed(0)} s, last NLL ${sft.lastNll.toFixed(3)}`,
  );
  return dir;
}

const readRows = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { id: string; problem: string; answer: string; solution: string; mode: Mode });

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const x = q * (sorted.length - 1);
  const lo = Math.floor(x),
    hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (x - lo);
}

/**
 * Runs one arm from the warm start in `warmDir` with `seed` (prompt order and sampling streams;
 * the same seed gives every arm the same first step's prompts and streams). Returns every step's
 * record, the warm start's record first (step 0).
 * @throws what the native trainer and engine throw
 */
export async function runArm(
  warmDir: string,
  warm: number,
  arm: ArmSpec,
  seed: number,
  s: RunSettings,
): Promise<RunRecord> {
  const t0 = performance.now();
  const modelDir = join(warmDir, 'sft', 'model');
  const tokenizer = await Tokenizer.fromDir(modelDir);
  const train = readRows(join(warmDir, 'data', 'sft.jsonl'));
  const probe = modeProbe(tokenizer, readRows(join(warmDir, 'data', 'heldout.jsonl')));
  const rendering = { template: 'plain', chat: false, enableThinking: false };
  const promptTokens = train.map((r) => renderPrompt(tokenizer, { ...r, extra: {} }, rendering).tokens);
  const total = s.phases.reduce((a, p) => a + p.steps, 0);
  const phaseOf: Mode[] = s.phases.flatMap((p) => Array.from({ length: p.steps }, () => p.mode));
  const epochs = arm.regime === 'hi' ? s.hi.epochs : s.epochs;
  const recipe = RecipeSchema.parse({
    algorithm: {
      name: arm.algorithm,
      loss: {
        penalty: arm.penalty,
        anchor: arm.anchor,
        sigma: arm.sigma,
        beta: arm.penalty === 'none' ? 0 : arm.beta,
        clip_ratio_low: arm.clipLow,
        clip_ratio_high: arm.clipHigh,
      },
    },
    train: {
      lr: arm.regime === 'hi' ? s.hi.lr : s.lr,
      epochs_per_step: epochs,
      mini_batches_per_epoch: s.miniBatches,
      tokens_per_micro_batch: 8192,
      steps: total,
      warmup_steps: 0,
      schedule: 'constant',
      weight_decay: 0,
      activation_checkpointing: false,
      seed,
    },
  });
  const loss = lossConfig(recipe.algorithm.loss);
  const policy = await Policy.load(modelDir, { device: 'cpu', dtype: 'float32' });
  const trainer = trainerEngine(policy, undefined, recipe);
  const rollout = rolloutEngine(policy);
  const steps: StepRecord[] = [];
  let collapsed = false;
  const probeRecord = async (step: number, mode: Mode | null): Promise<StepRecord> => {
    const p = await modeProbabilities(trainer, probe);
    if (p.seq.A + p.seq.B < 0.5) collapsed = true;
    return { step, mode, seqA: p.seq.A, seqB: p.seq.B, firstA: p.first.A, firstB: p.first.B };
  };
  try {
    steps.push(await probeRecord(0, null));
    // The prompt order: a seeded shuffle of the training rows, reshuffled at each pass.
    let order: number[] = [];
    let pass = 0;
    const nextPrompts = (): number[] => {
      const out: number[] = [];
      while (out.length < s.prompts) {
        if (order.length === 0) {
          order = train.map((_, i) => i);
          shuffleInPlace(order, new Xoshiro128(mixSeeds(seed, 0x9e37, pass++)));
        }
        out.push(order.pop()!);
      }
      return out;
    };
    for (let step = 1; step <= total; step++) {
      const mode = phaseOf[step - 1]!;
      const idx = nextPrompts();
      const groups = await rollout.generate(
        idx.map((i) => promptTokens[i]!),
        {
          n: s.group,
          maxNewTokens: s.maxNewTokens,
          temperature: 1,
          topP: 1,
          topK: 0,
          minP: 0,
          stopTokenIds: tokenizer.eosTokenIds,
          seed: mixSeeds(seed, step),
          vocabSize: tokenizer.vocabSize,
        },
      );
      const rewards = new Float64Array(idx.length * s.group);
      let invalid = 0;
      groups.forEach((g, p) =>
        g.forEach((r, k) => {
          const text = decodeResponse(tokenizer, r.tokens);
          rewards[p * s.group + k] = gradeMode(mode, text, train[idx[p]!]!.answer).score;
          if (responseMode(text) === null) invalid++;
        }),
      );
      const adv = computeAdvantages('grpo', rewards, s.group);
      const samples: TrainSample[] = groups.flatMap((g, p) =>
        g.map((r, k) => ({
          group: p,
          promptTokens: promptTokens[idx[p]!]!,
          responseTokens: r.tokens,
          samplerLogprobs: r.logprobs,
          advantage: adv[p * s.group + k]!,
        })),
      );
      // Old log-probs for the end-of-step ratios: the same no-grad scoring the update starts with.
      const all = samples.map((_, i) => i).filter((i) => samples[i]!.responseTokens.length > 0);
      const score = async (): Promise<Float32Array[]> => {
        const b = packSamples(samples, all);
        const r = await trainer.logprobs({ tokens: b.tokens, seqLens: b.seqLens, responseMask: b.responseMask });
        const out: Float32Array[] = samples.map(() => new Float32Array(0));
        scatterPerSample(samples, b, r.logprobs, out);
        return out;
      };
      const before = await score();
      const res = await updatePolicy(
        trainer,
        samples,
        {
          epochs,
          miniBatchesPerEpoch: s.miniBatches,
          loss,
          anchor: recipe.algorithm.loss.anchor,
          useReference: false,
          seed,
        },
        step,
      );
      const after = await score();
      // Diagnostics at the end of the step's update, against the behaviour policy.
      const ratios: number[] = [];
      let tail02 = 0,
        tailArm = 0,
        pgAbs = 0,
        penAbs = 0;
      for (const i of all) {
        for (let j = 0; j < before[i]!.length; j++) {
          const r = Math.exp(Math.max(-20, Math.min(20, after[i]![j]! - before[i]![j]!)));
          ratios.push(r);
          if (Math.abs(r - 1) > 0.4) tail02++;
          if (Math.abs(r - 1) > 2 * arm.sigma) tailArm++;
          const g = tokenGradients(arm, r, samples[i]!.advantage);
          pgAbs += Math.abs(g.pg);
          penAbs += Math.abs(g.penalty);
        }
      }
      const sorted = Float64Array.from(ratios).sort();
      const rec = await probeRecord(step, mode);
      const m = res.metrics;
      steps.push({
        ...rec,
        reward: rewards.reduce((a, b) => a + b, 0) / rewards.length,
        invalid: invalid / rewards.length,
        ratio: {
          min: sorted[0] ?? NaN,
          p01: quantile(sorted, 0.01),
          p05: quantile(sorted, 0.05),
          p50: quantile(sorted, 0.5),
          p95: quantile(sorted, 0.95),
          p99: quantile(sorted, 0.99),
          max: sorted[sorted.length - 1] ?? NaN,
        },
        tail02: ratios.length ? tail02 / ratios.length : 0,
        tailArm: arm.penalty === 'gtr' && ratios.length ? tailArm / ratios.length : undefined,
        penaltyShare: pgAbs + penAbs > 0 ? penAbs / (pgAbs + penAbs) : 0,
        clipFrac: m.clipFrac,
        updateRatioMax: m.ratioMax,
        penaltyGradAbsMean: m.penaltyGradAbsMean,
        skippedSteps: res.skippedSteps,
      });
    }
  } finally {
    trainer.dispose();
    policy.dispose();
  }
  return { arm: arm.key, warm, seed, steps, seconds: (performance.now() - t0) / 1000, collapsed };
}
