/**
 * train.sharding on one GPU (not a test; prepared for a lent GPU, bench/gpu.sh phase `shard`): for
 * each level the build's Trainer accepts (none, optimizer, full), a random Qwen3-1.7B in bf16 with
 * fp32 masters, one process group of world size 1 (NCCL when built, so the reduce-scatter and
 * all-gather run through the same code as at W ranks), `--steps` steps of one `--tokens`-token
 * micro-batch each. Reports per level: the time of the micro-batch (forward + backward) and of
 * step() (at `optimizer` / `full` the sharded AdamW and the all-gather of the updated shards, the
 * gradients having been reduce-scattered in the micro-batch; at `none` the all-reduce and AdamW),
 * the CUDA allocator's peak,
 * and Trainer.memory() by category beside the planner's (src/train/memory-plan.ts).
 * One device cannot host two NCCL ranks, so W = 1 is what one GPU measures: the collectives then
 * copy instead of moving bytes over NVLink (the README's 8 x H100 estimate uses NVLink bandwidth).
 *
 * Run: npx tsx bench/shard-memory.ts [--config qwen3-1.7b] [--tokens 8192] [--steps 3] [--out DIR]
 * Writes DIR/shard-memory-<config>-<device>-<time>.json.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseQwen3Config, presetConfig, type Qwen3PresetName } from '../src/checkpoint/index.js';
import { native } from '../src/native/binding.js';
import type { NativeProcessGroup, NativeTrainer } from '../src/native/types.js';
import { Policy } from '../src/policy.js';
import { planMemory, SHARDING_LEVELS, type ShardingLevel } from '../src/train/memory-plan.js';
import { writeBenchResult } from './results.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'qwen3-1.7b' },
    tokens: { type: 'string', default: '8192' },
    steps: { type: 'string', default: '3' },
    device: { type: 'string', default: 'cuda' },
    out: { type: 'string', default: join('bench', 'results') },
  },
});
const addon = native();
const device = values.device!;
const cuda = device.startsWith('cuda');
const dtype = cuda ? 'bfloat16' : 'float32';
const T = Number(values.tokens);
const steps = Number(values.steps);
const hf = presetConfig(values.config as Qwen3PresetName);
const config = parseQwen3Config(hf).native;
const GiB = 2 ** 30;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const sync = () => (cuda ? addon.cudaMemory(false) : null); // a device query: waits for the queue

/** Whether this build's Trainer reads `sharding` and accepts `level`. */
function accepts(policy: Policy, level: ShardingLevel): boolean {
  if (level === 'none') return true;
  try {
    new addon.Trainer(policy.native, { sharding: 'no-such-level' } as never).dispose();
    return false; // the option is not read
  } catch {
    try {
      new addon.Trainer(policy.native, { sharding: level } as never).dispose();
      return true;
    } catch {
      return false;
    }
  }
}

const rows = [];
for (const level of SHARDING_LEVELS) {
  if (cuda) addon.cudaMemory(true); // reset the peak
  const policy = await Policy.random(hf, 0, { device, dtype, std: 0.02 });
  if (!accepts(policy, level)) {
    console.log(`${level}: not accepted by this build's Trainer; skipped`);
    policy.dispose();
    continue;
  }
  let pg: NativeProcessGroup | undefined;
  const trainer: NativeTrainer = new addon.Trainer(policy.native, {
    checkpointLayers: true,
    ...(level !== 'none' ? { sharding: level } : {}),
  } as never);
  try {
    const backend = cuda && addon.versions().ncclCompiled ? 'nccl' : 'gloo';
    pg = new addon.ProcessGroup({
      rank: 0,
      worldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: 29500 + Math.floor(Math.random() * 1000),
      storeServer: true,
      backend,
      deviceIndex: 0,
      hostname: '127.0.0.1',
    });
    const alive = setInterval(() => {}, 1000); // connect() does not hold the event loop (dist_binding.cpp)
    await pg.connect().finally(() => clearInterval(alive));
    await trainer.setProcessGroup(pg);
    const lens = [T / 4, T / 4, T / 4, T / 4].map(Math.floor);
    const tokens = Int32Array.from({ length: T }, (_, i) => (i * 7919) % config.vocabSize);
    const mask = Uint8Array.from({ length: T }, (_, i) => (i % lens[0]! === 0 ? 0 : 1));
    const old = await trainer.logprobs(tokens, Int32Array.from(lens), mask);
    const mb = {
      tokens,
      seqLens: Int32Array.from(lens),
      responseMask: mask,
      advantages: Float32Array.from({ length: T }, (_, i) => ((i >> 5) % 2 ? 1 : -1)),
      oldLogprobs: old.logprobs,
      loss: { name: 'ppo' },
      denominators: { tokens: T - 4, sequences: 4 },
    };
    const micro: number[] = [],
      step: number[] = [];
    for (let s = 0; s < steps; s++) {
      let t0 = process.hrtime.bigint();
      await trainer.trainMicroBatch(mb);
      sync();
      micro.push(ms(t0));
      t0 = process.hrtime.bigint();
      await trainer.step({ lr: 1e-7 });
      sync();
      step.push(ms(t0));
    }
    await trainer.trainMicroBatch(mb); // gradients pending: every category live
    const report = await trainer.memory();
    const peak = cuda ? addon.cudaMemory(false)!.peakAllocated : null;
    const plan = planMemory({
      config,
      dtype,
      worldSize: 1,
      sharding: level,
      rollout: {
        maxNumSeqs: 1,
        sequencesPerRank: 1,
        samplesPerPrompt: 1,
        maxPromptTokens: 1,
        maxNewTokens: 1,
        blockSize: 32,
      },
      train: { tokensPerMicroBatch: T, activationCheckpointing: true },
    });
    const row = {
      level,
      backend,
      micro_batch_ms: micro,
      step_ms: step,
      cuda_peak_allocated_gib: peak === null ? null : peak / GiB,
      memory_gib: {
        weights: report.weights.bytes / GiB,
        gradients: report.gradients.bytes / GiB,
        optimizer: report.optimizer.bytes / GiB,
        gathered_peak: report.gathered.peak / GiB,
      },
      planner_gib: {
        weights: plan.bytes.weights / GiB,
        gradients: plan.bytes.gradients / GiB,
        optimizer: plan.bytes.optimizer / GiB,
        gathered: plan.bytes.gathered / GiB,
        update_phase: plan.update / GiB,
      },
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  } finally {
    trainer.dispose();
    policy.dispose();
    (pg as unknown as { close?: () => void } | undefined)?.close?.();
  }
}

console.log('\nlevel      step ms (last)  micro ms (last)  CUDA peak GiB  weights  grads  optimizer  gathered peak');
for (const r of rows)
  console.log(
    `${r.level.padEnd(10)} ${r.step_ms.at(-1)!.toFixed(1).padStart(14)} ${r.micro_batch_ms.at(-1)!.toFixed(1).padStart(16)} ` +
      `${(r.cuda_peak_allocated_gib ?? NaN).toFixed(2).padStart(14)} ${r.memory_gib.weights.toFixed(2).padStart(8)} ` +
      `${r.memory_gib.gradients.toFixed(2).padStart(6)} ${r.memory_gib.optimizer.toFixed(2).padStart(10)} ${r.memory_gib.gathered_peak.toFixed(2).padStart(14)}`,
  );
writeBenchResult(values.out!, 'shard-memory', values.config!, device, { tokens: T, steps, rows });
