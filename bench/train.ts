/**
 * Training-step benchmark (not a test): random Qwen3 (default Qwen3-1.7B, bf16 params with fp32
 * masters), `--seqs` x `--seq-len` tokens (default 8 x 2048: prompt 256 + response 1792 per
 * sequence, advantages +1 / -1), the GTR loss, AdamW, activation checkpointing per layer. Times
 * `--steps` optimizer steps (each = accumulate over the micro-batches of `--tokens-per-micro-batch` tokens +
 * AdamW step; the returned metrics synchronise the device) after one warm-up step, and reports the
 * median step time, tokens/s, MFU, and the CUDA allocator's peak allocated bytes over the timed steps.
 *
 * MFU = 6 N tokens / step time / measured bf16 matmul rate (bench/floor.py's
 * `bf16_matmul_TFLOPs`, read from $GTR_BENCH_OUT/floor.json or --matmul-tflops; the peer's
 * convention); `mfuWithAttn` adds causal attention (fwd + bwd = 3 x 4 L heads D T^2 / 2 per sequence).
 * Recompute under checkpointing is not counted as useful work.
 *
 * Run: npx tsx bench/train.ts [--config qwen3-1.7b|tiny] [--device cuda] [--seqs 8] [--seq-len 2048]
 *        [--tokens-per-micro-batch 16384] [--steps 3] [--no-checkpoint] [--out DIR]
 * Writes DIR/train-<config>-<device>-<time>.json ({ results: [{ tokensPerS, mfu, peakMemGiB, stepS, ... }] }).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { presetConfig, type Qwen3PresetName } from '../src/checkpoint/index.js';
import { native } from '../src/native/binding.js';
import { writeBenchResult } from './results.js';
import { Policy } from '../src/policy.js';
import { Trainer, type TrainBatch } from '../src/train/index.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'qwen3-1.7b' },
    device: { type: 'string', default: 'cuda' },
    seqs: { type: 'string', default: '8' },
    'seq-len': { type: 'string', default: '2048' },
    'prompt-len': { type: 'string', default: '256' },
    'tokens-per-micro-batch': { type: 'string', default: '16384' },
    steps: { type: 'string', default: '3' },
    'no-checkpoint': { type: 'boolean', default: false },
    'matmul-tflops': { type: 'string' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: join(import.meta.dirname ?? '.', 'results') },
  },
});

const device = values.device!;
const dtype = device.startsWith('cuda') ? 'bfloat16' : 'float32';
const seqs = Number(values.seqs),
  seqLen = Number(values['seq-len']),
  promptLen = Number(values['prompt-len']);
const steps = Number(values.steps);
const addon = native() as unknown as Record<string, unknown> & ReturnType<typeof native>;
type Mem = { allocated: number; peakAllocated: number; reserved: number; peakReserved: number } | null;
const cudaMemory = (reset: boolean): Mem =>
  typeof addon.cudaMemory === 'function' && device.startsWith('cuda')
    ? (addon.cudaMemory as (r: boolean) => Mem)(reset)
    : null;

const hf = presetConfig(values.config as Qwen3PresetName, dtype);
const vocab = hf.vocab_size as number;
const t0 = performance.now();
const policy = await Policy.random(hf, Number(values.seed), { device, dtype });
const N = policy.numParameters;
console.log(
  `model ${values.config} (${(N / 1e6).toFixed(1)}M params) on ${device} ${dtype}, init ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
const trainer = new Trainer(policy.native, {
  schedule: { lr: 1e-6 },
  tokensPerMicroBatch: Number(values['tokens-per-micro-batch']),
  checkpointLayers: !values['no-checkpoint'],
  fp32Master: true,
  maxGradNorm: 1,
});

let s = 12345;
const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const T = seqs * seqLen;
const tokens = Int32Array.from({ length: T }, () => Math.floor(rnd() * vocab));
const seqLens = Int32Array.from({ length: seqs }, () => seqLen);
const responseMask = Uint8Array.from({ length: T }, (_, i) => (i % seqLen >= promptLen ? 1 : 0));
const advantages = Float32Array.from({ length: T }, (_, i) =>
  i % seqLen >= promptLen ? (Math.floor(i / seqLen) % 2 ? -1 : 1) : 0,
);
const tOld = performance.now();
const old = await trainer.logprobs({ tokens, seqLens, responseMask });
const oldS = (performance.now() - tOld) / 1000;
const batch: TrainBatch = { tokens, seqLens, responseMask, advantages, oldLogprobs: old.logprobs };
const loss = { name: 'gtr' as const };

const memBase = cudaMemory(true);
const times: number[] = [];
for (let i = 0; i <= steps; i++) {
  const ts = performance.now();
  const r = await trainer.trainStep(batch, loss);
  const dt = (performance.now() - ts) / 1000;
  if (i > 0) times.push(dt);
  console.log(
    `step ${i}${i === 0 ? ' (warm-up)' : ''}: ${dt.toFixed(3)} s, loss ${(r as unknown as Record<string, number>).loss ?? ''} gradNorm ${r.gradNorm}`,
  );
  if (i === 0) cudaMemory(true); // peaks over the timed steps (weights, masters, moments stay allocated)
}
const mem = cudaMemory(false);
times.sort((a, b) => a - b);
const stepS = times[Math.floor(times.length / 2)]!;

let matmulTflops = values['matmul-tflops'] ? Number(values['matmul-tflops']) : NaN;
let matmulSource = '--matmul-tflops';
const floorFile = process.env.GTR_BENCH_OUT ? join(process.env.GTR_BENCH_OUT, 'floor.json') : '';
if (!Number.isFinite(matmulTflops) && floorFile && existsSync(floorFile)) {
  matmulTflops = JSON.parse(readFileSync(floorFile, 'utf8')).bf16_matmul_TFLOPs;
  matmulSource = 'floor.json (same run)';
}
if (!Number.isFinite(matmulTflops)) {
  matmulTflops = 781;
  matmulSource = 'assumed 781 (H100 floor.py, 2026-11-23)';
}
const L = hf.num_hidden_layers as number,
  Hq = hf.num_attention_heads as number,
  D = hf.head_dim as number;
const flops6N = 6 * N * T;
const attnFlops = (3 * 4 * L * Hq * D * seqs * seqLen * seqLen) / 2;
const row = {
  config: values.config,
  seqs,
  seqLen,
  tokens: T,
  params: N,
  checkpointLayers: !values['no-checkpoint'],
  tokensPerMicroBatch: Number(values['tokens-per-micro-batch']),
  steps: times.length,
  stepS,
  stepsS: times,
  tokensPerS: T / stepS,
  mfu: flops6N / stepS / (matmulTflops * 1e12),
  mfuWithAttn: (flops6N + attnFlops) / stepS / (matmulTflops * 1e12),
  matmulTflops,
  matmulSource,
  peakMemGiB: mem ? mem.peakAllocated / 2 ** 30 : null,
  peakReservedGiB: mem ? mem.peakReserved / 2 ** 30 : null,
  baseMemGiB: memBase ? memBase.allocated / 2 ** 30 : null,
  oldLogprobsS: oldS,
};
console.log(
  `train ${seqs}x${seqLen}: ${stepS.toFixed(3)} s/step = ${row.tokensPerS.toFixed(0)} tok/s, MFU ${(row.mfu * 100).toFixed(1)}% ` +
    `(with attention ${(row.mfuWithAttn * 100).toFixed(1)}%, matmul ${matmulTflops} TFLOP/s from ${matmulSource}), ` +
    `peak ${row.peakMemGiB?.toFixed(2) ?? '-'} GiB allocated (${row.peakReservedGiB?.toFixed(2) ?? '-'} reserved); old log-probs ${oldS.toFixed(2)} s`,
);
trainer.dispose();
policy.dispose();

writeBenchResult(values.out!, 'train', values.config!, device, {
  dtype,
  results: [row],
});
