/**
 * One GTR step in the paper recipe's shape, scaled to one GPU (not a test), through the shipped
 * code: random Qwen3 (`--config`; bf16 with fp32 masters on CUDA, fp32 on CPU; AdamW, activation
 * checkpointing), `--prompts` random prompts of `--prompt-len` tokens x `--samples` samples,
 * `--new-tokens` new tokens (temperature 1, no stop tokens) by the rollout engine
 * (src/rollout/engine.ts), random 0/1 rewards -> GRPO group advantages (src/rl/advantages.ts), then
 * the RL loop's update phase itself, `updatePolicy` (src/rl/update.ts) on the native trainer engine
 * (src/rl/adapters.ts): old log-probs, and `--epochs` epochs x `--mini-batches` shuffled
 * mini-batches (one AdamW step each, micro-batches of `--tokens-per-micro-batch` tokens), the GTR
 * loss with the mixture anchors (snapshot log-probs at the start of each epoch >= 1).
 * Per-phase wall times, as the loop's metrics report them: generate, old_logprobs,
 * snapshot_logprobs, update.
 *
 * Run: npx tsx bench/step.ts [--config qwen3-1.7b|tiny] [--device cuda] [--prompts 32] [--samples 8]
 *        [--prompt-len 256] [--new-tokens 512] [--epochs 2] [--mini-batches 2]
 *        [--tokens-per-micro-batch 16384] [--out DIR]
 * Writes DIR/step-<config>-<device>-<time>.json ({ phases: {name: s}, total_s, ... }).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { presetConfig, type Qwen3PresetName } from '../src/checkpoint/index.js';
import { writeBenchResult } from './results.js';
import { Policy } from '../src/policy.js';
import { RecipeSchema } from '../src/recipe/index.js';
import { trainerEngine } from '../src/rl/adapters.js';
import { computeAdvantages } from '../src/rl/advantages.js';
import type { TrainSample } from '../src/rl/batch.js';
import { updatePolicy } from '../src/rl/update.js';
import { rolloutEngine } from '../src/rollout/engine.js';
import { lossConfig } from '../src/train/loss-config.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'qwen3-1.7b' },
    device: { type: 'string', default: 'cuda' },
    prompts: { type: 'string', default: '32' },
    samples: { type: 'string', default: '8' },
    'prompt-len': { type: 'string', default: '256' },
    'new-tokens': { type: 'string', default: '512' },
    epochs: { type: 'string', default: '2' },
    'mini-batches': { type: 'string', default: '2' },
    'tokens-per-micro-batch': { type: 'string', default: '16384' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: join(import.meta.dirname ?? '.', 'results') },
  },
});
const device = values.device!;
const dtype = device.startsWith('cuda') ? 'bfloat16' : 'float32';
const P = Number(values.prompts),
  n = Number(values.samples),
  promptLen = Number(values['prompt-len']);
const newTokens = Number(values['new-tokens']),
  epochs = Number(values.epochs),
  minis = Number(values['mini-batches']);

const hf = presetConfig(values.config as Qwen3PresetName, dtype);
const vocab = hf.vocab_size as number;
const t0 = performance.now();
const policy = await Policy.random(hf, Number(values.seed), { device, dtype });
console.log(
  `model ${values.config} (${(policy.numParameters / 1e6).toFixed(1)}M) on ${device} ${dtype}, init ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
// The recipe's train and loss sections drive the trainer exactly as `gtr train` does.
const recipe = RecipeSchema.parse({
  algorithm: { name: 'gtr' },
  train: {
    lr: 1e-6,
    epochs_per_step: epochs,
    mini_batches_per_epoch: minis,
    tokens_per_micro_batch: Number(values['tokens-per-micro-batch']),
    activation_checkpointing: true,
    seed: Number(values.seed),
  },
});
const trainer = trainerEngine(policy, undefined, recipe);

let s = 777;
const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const prompts = Array.from({ length: P }, () =>
  Int32Array.from({ length: promptLen }, () => Math.floor(rnd() * vocab)),
);

// 1. generation through the rollout engine
const rollout = rolloutEngine(policy);
let ts = performance.now();
const out = await rollout.generate(prompts, {
  n,
  maxNewTokens: newTokens,
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  stopTokenIds: [],
  seed: 1,
  maxNumSeqs: P * n,
});
const generateS = (performance.now() - ts) / 1000;
const gs = rollout.lastStats!()!;
// 2. the update's samples: random 0/1 rewards, GRPO group advantages
const rewards = Float64Array.from({ length: P * n }, () => (rnd() < 0.5 ? 1 : 0));
const adv = computeAdvantages('grpo', rewards, n);
const samples: TrainSample[] = out.flatMap((group, p) =>
  group.map((r, k) => ({
    group: p,
    promptTokens: prompts[p]!,
    responseTokens: r.tokens,
    samplerLogprobs: r.logprobs,
    advantage: adv[p * n + k]!,
  })),
);
const T = samples.reduce((a, q) => a + q.promptTokens.length + q.responseTokens.length, 0);
// 3. the loop's update phase
ts = performance.now();
const res = await updatePolicy(
  trainer,
  samples,
  {
    epochs,
    miniBatchesPerEpoch: minis,
    loss: lossConfig(recipe.algorithm.loss),
    anchor: recipe.algorithm.loss.anchor,
    useReference: false,
    seed: recipe.train.seed,
  },
  1,
);
const updatePhaseS = (performance.now() - ts) / 1000;
const phases: Record<string, number> = {
  generate: generateS,
  old_logprobs: res.oldLogprobMs / 1000,
  snapshot_logprobs: res.snapshotMs / 1000,
  update: res.updateMs / 1000,
};
const total = Object.values(phases).reduce((a, b) => a + b, 0);
console.log(
  `GTR step: ${P} prompts x ${n} samples, ${newTokens} new tokens, ${epochs} epochs x ${minis} mini-batches, ${T} tokens, ${res.optimizerSteps} optimizer steps`,
);
console.log(
  `phases (s): ${Object.entries(phases)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')}; total ${total.toFixed(2)} s (updatePolicy ${updatePhaseS.toFixed(2)} s)`,
);
console.log(
  `generate: ${gs.generatedTokens} tokens, ${(gs.generatedTokens / generateS).toFixed(0)} tok/s, mean running ${gs.meanRunning.toFixed(1)}, preemptions ${gs.preemptions}`,
);
trainer.dispose();
policy.dispose();
writeBenchResult(values.out!, 'step', values.config!, device, {
  code: 'updatePolicy (src/rl/update.ts) on trainerEngine (src/rl/adapters.ts); rolloutEngine (src/rollout/engine.ts)',
  dtype,
  prompts: P,
  samples: n,
  promptLen,
  newTokens,
  epochs,
  miniBatches: minis,
  tokens: T,
  phases,
  total_s: total,
  updatePolicy_s: updatePhaseS,
  generateStats: gs,
  optimizerSteps: res.optimizerSteps,
  steps: res.steps,
});
