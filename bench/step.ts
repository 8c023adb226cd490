/**
 * One GTR step in the paper recipe's shape, scaled to one GPU (not a test): random Qwen3-1.7B
 * (bf16, fp32 masters, AdamW, activation checkpointing), `--prompts` random prompts of
 * `--prompt-len` tokens x `--samples` samples, `--new-tokens` new tokens (temperature 1, no stop
 * tokens), random 0/1 rewards -> group-normalised advantages, then the update: old log-probs, and
 * `--epochs` epochs x `--mini-batches` mini-batches (one AdamW step each, micro-batches of
 * `--token-budget` tokens), the GTR loss with the mixture anchors (snapshot log-probs at the start
 * of each epoch >= 1). Per-phase wall times (device-synchronised by the returned results):
 * generate, old_logprobs, snapshot_logprobs, update.
 *
 * Run: npx tsx bench/step.ts [--config qwen3-1.7b|tiny] [--device cuda] [--prompts 32] [--samples 8]
 *        [--prompt-len 256] [--new-tokens 512] [--epochs 2] [--mini-batches 2] [--token-budget 16384] [--out DIR]
 * Writes DIR/step-<config>-<device>-<time>.json ({ phases: {name: s}, total_s, ... }).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { presetConfig, type Qwen3PresetName } from '../src/checkpoint/index.js';
import { native } from '../src/native/binding.js';
import { Policy } from '../src/policy.js';
import { generateWithStats } from '../src/rollout/index.js';
import { seqRange, sliceBatch, Trainer, type TrainBatch } from '../src/train/index.js';

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
    'token-budget': { type: 'string', default: '16384' },
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
const trainer = new Trainer(policy.native, {
  schedule: { lr: 1e-6 },
  tokenBudget: Number(values['token-budget']),
  checkpointLayers: true,
  fp32Master: true,
});

let s = 777;
const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const prompts = Array.from({ length: P }, () =>
  Int32Array.from({ length: promptLen }, () => Math.floor(rnd() * vocab)),
);
const phases: Record<string, number> = {};
const time = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
  const ts = performance.now();
  const r = await f();
  phases[name] = (phases[name] ?? 0) + (performance.now() - ts) / 1000;
  return r;
};

// 1. generation
const gen = await time('generate', () =>
  generateWithStats(policy, prompts, { n, maxNewTokens: newTokens, maxBatchSize: P * n, seed: 1, temperature: 1 }),
);
// 2. batch: prompt + response, group-normalised advantages of random 0/1 rewards
const seqs: { tokens: Int32Array; promptLen: number; adv: number }[] = [];
for (let p = 0; p < P; p++) {
  const rewards: number[] = Array.from({ length: n }, () => (rnd() < 0.5 ? 1 : 0));
  const mean = rewards.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(rewards.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  for (let k = 0; k < n; k++) {
    const resp = gen.rollouts[p]![k]!.tokens;
    const t = new Int32Array(promptLen + resp.length);
    t.set(prompts[p]!);
    t.set(resp, promptLen);
    seqs.push({ tokens: t, promptLen, adv: (rewards[k]! - mean) / (std + 1e-6) });
  }
}
const T = seqs.reduce((a, q) => a + q.tokens.length, 0);
const tokens = new Int32Array(T),
  responseMask = new Uint8Array(T),
  advantages = new Float32Array(T);
const seqLens = Int32Array.from(seqs.map((q) => q.tokens.length));
let off = 0;
for (const q of seqs) {
  tokens.set(q.tokens, off);
  for (let j = q.promptLen; j < q.tokens.length; j++) {
    responseMask[off + j] = 1;
    advantages[off + j] = q.adv;
  }
  off += q.tokens.length;
}
// 3. old log-probs (same mini-batch packing as the update), epochs with snapshots, one step per mini-batch
const packed = { tokens, seqLens, responseMask };
const old = await time('old_logprobs', () => trainer.logprobs(packed, minis));
const batch: TrainBatch = { ...packed, advantages, oldLogprobs: old.logprobs };
const anchors: Float32Array[] = [];
const stepMetrics: Record<string, unknown>[] = [];
for (let e = 0; e < epochs; e++) {
  if (e > 0) anchors.push((await time('snapshot_logprobs', () => trainer.logprobs(packed, minis))).logprobs);
  for (let m = 0; m < minis; m++) {
    const r = seqRange(seqLens, Math.floor((m * seqs.length) / minis), Math.floor(((m + 1) * seqs.length) / minis));
    const mb = sliceBatch(batch, r);
    const res = await time('update', () =>
      trainer.trainStep(
        mb,
        { name: 'gtr' },
        anchors.map((a) => a.subarray(r.tokStart, r.tokEnd)),
      ),
    );
    stepMetrics.push(res as unknown as Record<string, unknown>);
  }
}
const total = Object.values(phases).reduce((a, b) => a + b, 0);
const gs = gen.stats as unknown as Record<string, number>;
console.log(
  `GTR step: ${P} prompts x ${n} samples, ${newTokens} new tokens, ${epochs} epochs x ${minis} mini-batches, ${T} tokens`,
);
console.log(
  `phases (s): ${Object.entries(phases)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')}; total ${total.toFixed(2)} s`,
);
console.log(
  `generate: ${gs.generatedTokens} tokens, ${(gs.generatedTokens / phases.generate!).toFixed(0)} tok/s, ${(gs.decodeMs / gs.steps).toFixed(2)} ms/step, graphs ${gs.graphs}, graph steps ${gs.graphSteps}`,
);
trainer.dispose();
policy.dispose();
mkdirSync(values.out!, { recursive: true });
const file = join(
  values.out!,
  `step-${values.config}-${device.replace(':', '')}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      bench: 'step',
      config: values.config,
      device,
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
      generateStats: gen.stats,
      steps: stepMetrics,
      versions: native().versions(),
      date: new Date().toISOString(),
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${file}`);
