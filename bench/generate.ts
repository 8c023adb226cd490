/**
 * Rollout-engine throughput benchmark (not a test). A randomly initialised Qwen3 (no disk I/O:
 * Policy.random on a preset config), `batch` random prompts of `--prompt-len` tokens, one sample
 * each, `--new-tokens` new tokens, stop tokens off (every sequence runs to the length limit), all
 * sequences in one call with `maxNumSeqs = batch`. Prints a table and writes JSON to
 * bench/results/generate-<config>-<device>-<timestamp>.json.
 *
 * Run: npx tsx bench/generate.ts --device cuda --batch 64,256            (Qwen3-1.7B, bf16)
 *      npx tsx bench/generate.ts --config tiny --device cpu --batch 4,16 --new-tokens 64
 * Flags: --config qwen3-1.7b|tiny, --device, --dtype bf16|fp32 (default bf16 on CUDA, fp32 on CPU),
 *   --batch list, --prompt-len N (256), --new-tokens N (512), --temperature T (1), --top-p P (1),
 *   --seed S, --warmup-tokens N (16), --out DIR.
 * tokens/s = generated tokens / wall time of the call (prefill included); decode tokens/s excludes
 * prefill passes.
 *
 * --shape recipe: the paper recipe's rollout instead (bench/recipe-shape.ts: 128 DAPO-Math-17k
 * prompts through the dapo template, n = 8, max_new_tokens 4096, temperature 1, lognormal target
 * lengths standing in for EOS), read from --shape-file (written beforehand by
 * `npx tsx bench/recipe-shape.ts --write FILE --data-dir DIR`, since the device has no datasets),
 * with the trainer's fp32 state (masters, gradients, AdamW moments: 16 bytes per parameter)
 * resident beside it (--trainer-state, default on) and the KV budget from the memory left
 * (--kv-cache-gib to override). Reports tok/s, peak KV GiB, mean running sequences, preemptions
 * and the floor: (weights + the KV actually read per step) / measured copy bandwidth.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { presetConfig, type Qwen3PresetName } from '../src/checkpoint/index.js';
import { writeBenchResult } from './results.js';
import { Policy } from '../src/policy.js';
import { generateWithStats } from '../src/rollout/index.js';
import { mulberry32 } from '../test/helpers/prng.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'qwen3-1.7b' },
    device: { type: 'string', default: 'cuda' },
    dtype: { type: 'string' },
    batch: { type: 'string', default: '64,256' },
    'prompt-len': { type: 'string', default: '256' },
    'new-tokens': { type: 'string', default: '512' },
    temperature: { type: 'string', default: '1' },
    'top-p': { type: 'string', default: '1' },
    seed: { type: 'string', default: '0' },
    'warmup-tokens': { type: 'string', default: '16' },
    shape: { type: 'string', default: 'fixed' },
    'shape-file': { type: 'string', default: '.device/recipe-shape.json' },
    'trainer-state': { type: 'boolean', default: true },
    'kv-cache-gib': { type: 'string' },
    'max-num-seqs': { type: 'string', default: '256' },
    out: { type: 'string', default: join(import.meta.dirname ?? '.', 'results') },
  },
});

const device = values.device!;
const dtype =
  values.dtype === 'fp32' || values.dtype === 'float32'
    ? 'float32'
    : values.dtype === 'bf16' || values.dtype === 'bfloat16'
      ? 'bfloat16'
      : device.startsWith('cuda')
        ? 'bfloat16'
        : 'float32';
const batches = values.batch!.split(',').map(Number);
const promptLen = Number(values['prompt-len']);
const newTokens = Number(values['new-tokens']);
const seed = Number(values.seed);

function randomPrompts(count: number, len: number, vocab: number, s: number): Int32Array[] {
  const next = mulberry32((s * 2654435761) >>> 0);
  return Array.from({ length: count }, () => Int32Array.from({ length: len }, () => Math.floor(next() * vocab)));
}

const hf = presetConfig(values.config as Qwen3PresetName, dtype);
const vocab = hf.vocab_size as number;
const t0 = performance.now();
const policy = await Policy.random(hf, seed, { device, dtype });
console.log(
  `model ${values.config} (${(policy.numParameters / 1e6).toFixed(1)}M params) on ${device} ${dtype}, init ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

const sampling = { temperature: Number(values.temperature), topP: Number(values['top-p']) };
await generateWithStats(policy, randomPrompts(Math.min(4, batches[0]!), promptLen, vocab, seed + 99), {
  maxNewTokens: Number(values['warmup-tokens']),
  ...sampling,
  seed,
});

const rows: Record<string, number>[] = [];
if (values.shape === 'recipe') {
  const { readFileSync } = await import('node:fs');
  const { resolveKvBudget, TRAINER_STATE_BYTES_PER_PARAM } = await import('../src/rollout/index.js');
  const shape = JSON.parse(readFileSync(values['shape-file']!, 'utf8')) as {
    prompts: number[][];
    n: number;
    maxNewTokens: number;
    targetLengths: number[];
  };
  // The trainer's resident state: one real optimizer step on a short sequence allocates the fp32
  // masters, gradients and AdamW moments (lr 0, so the weights stay as they were).
  const stateBytes = TRAINER_STATE_BYTES_PER_PARAM * policy.numParameters;
  let trainer: InstanceType<typeof import('../src/train/index.js').Trainer> | undefined;
  if (values['trainer-state']) {
    const { Trainer } = await import('../src/train/index.js');
    trainer = new Trainer(policy.native, {
      schedule: { lr: 0 },
      tokensPerMicroBatch: 4096,
      checkpointLayers: true,
      fp32Master: true,
    });
    const tokens = Int32Array.from({ length: 64 }, (_, i) => (i * 7919) % vocab);
    const responseMask = Uint8Array.from({ length: 64 }, (_, i) => (i >= 32 ? 1 : 0));
    const packed = { tokens, seqLens: Int32Array.of(64), responseMask };
    const old = await trainer.logprobs(packed);
    await trainer.trainStep(
      { ...packed, advantages: new Float32Array(64).fill(1), oldLogprobs: old.logprobs },
      { name: 'grpo' },
      [],
    );
  }
  const kv = resolveKvBudget(
    values['kv-cache-gib'] !== undefined ? Number(values['kv-cache-gib']) : null,
    device,
    0,
    '--kv-cache-gib',
  );
  console.log(`${trainer ? `trainer state resident: ${(stateBytes / 2 ** 30).toFixed(1)} GiB; ` : ''}${kv.describe}`);
  const prompts = shape.prompts.map((p) => Int32Array.from(p, (t) => t % vocab));
  const start = performance.now();
  const { stats } = await generateWithStats(policy, prompts, {
    n: shape.n,
    maxNewTokens: shape.maxNewTokens,
    targetLengths: Int32Array.from(shape.targetLengths),
    seed,
    ...sampling,
    kvCacheGib: kv.gib,
    maxNumSeqs: Number(values['max-num-seqs']),
  });
  const wallS = (performance.now() - start) / 1000;
  // Floor: every decode step reads the weights once and the KV of the running rows.
  const weightBytes = policy.numParameters * 2;
  const kvPerToken = stats.kvBytes / ((stats.kvBlocks + 1) * stats.blockSize);
  const totalTokens = shape.targetLengths.reduce((a, b) => a + b, 0);
  const meanContext =
    shape.prompts.reduce((a, p) => a + p.length, 0) / shape.prompts.length +
    shape.targetLengths.reduce((a, b) => a + b * b, 0) / (2 * totalTokens);
  const bytesRead = stats.steps * weightBytes + totalTokens * meanContext * kvPerToken;
  const row = {
    shape: 'recipe',
    sequences: prompts.length * shape.n,
    generatedTokens: stats.generatedTokens,
    wallS,
    tokensPerS: stats.generatedTokens / wallS,
    steps: stats.steps,
    meanRunning: stats.meanRunning,
    peakKvGiB: (stats.peakBlocks * kvPerToken * stats.blockSize) / 2 ** 30,
    kvPoolGiB: stats.kvBytes / 2 ** 30,
    preemptions: stats.preemptions,
    graphSteps: stats.graphSteps,
    bytesReadGB: bytesRead / 1e9,
    trainerStateGiB: trainer ? stateBytes / 2 ** 30 : 0,
  } as Record<string, number | string>;
  rows.push(row as Record<string, number>);
  console.log(
    `recipe shape: ${row.generatedTokens} tokens in ${wallS.toFixed(1)} s = ${(row.tokensPerS as number).toFixed(0)} tok/s; ` +
      `mean running ${stats.meanRunning.toFixed(0)}, peak KV ${(row.peakKvGiB as number).toFixed(1)} GiB of a ${(row.kvPoolGiB as number).toFixed(1)} GiB pool, ` +
      `${stats.preemptions} preemptions; bytes read ${(bytesRead / 1e9).toFixed(0)} GB (floor = that / the copy bandwidth in floor.json)`,
  );
  trainer?.dispose();
}
for (const batch of values.shape === 'recipe' ? [] : batches) {
  const prompts = randomPrompts(batch, promptLen, vocab, seed + batch);
  const start = performance.now();
  const { stats } = await generateWithStats(policy, prompts, {
    maxNewTokens: newTokens,
    maxNumSeqs: batch,
    seed,
    ...sampling,
  });
  const wallS = (performance.now() - start) / 1000;
  const row = {
    batch,
    promptLen,
    newTokens,
    generatedTokens: stats.generatedTokens,
    wallS,
    tokensPerS: stats.generatedTokens / wallS,
    decodeTokensPerS: stats.generatedTokens / (stats.decodeMs / 1000),
    prefillMs: stats.prefillMs,
    decodeMs: stats.decodeMs,
    steps: stats.steps,
    msPerStep: stats.decodeMs / stats.steps,
  };
  rows.push(row);
  console.log(
    `batch ${String(batch).padStart(4)}: ${row.generatedTokens} tokens in ${wallS.toFixed(2)} s = ${row.tokensPerS.toFixed(0)} tok/s ` +
      `(decode ${row.decodeTokensPerS.toFixed(0)} tok/s, ${row.msPerStep.toFixed(2)} ms/step, prefill ${row.prefillMs.toFixed(0)} ms)`,
  );
}
policy.dispose();

writeBenchResult(values.out!, 'generate', values.config!, device, {
  dtype,
  sampling,
  seed,
  results: rows,
});
