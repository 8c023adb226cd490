// The memory planner (src/train/memory-plan.ts) against what the addon counts on live tensors
// (Trainer.memory / Policy.memory, native/core/memory.h), on CPU: weights, gradients, optimizer
// state, reference and KV pool within 5% for tiny and small configs, fp32 and bf16, tied and
// untied, LoRA, at every train.sharding level this build's Trainer accepts (world size 1, and 2
// ranks over gloo in this process). Plus the formulas' invariants across levels, preset sizes,
// --gpu-memory parsing, and `gtr train --dry-run` with its flag errors.
import { describe, expect, it } from 'vitest';
import { presetConfig, parseQwen3Config, qwen3ParameterCount } from '../src/checkpoint/index.js';
import { native } from '../src/native/binding.js';
import type {
  DType,
  MemoryReport,
  NativePolicy,
  NativeProcessGroup,
  NativeQwen3Config,
  NativeTrainer,
} from '../src/native/types.js';
import {
  fitsDevice,
  kvPoolBlocks,
  parseGpuMemory,
  planMemory,
  SHARDING_LEVELS,
  type MemoryPlanInput,
  type ShardingLevel,
} from '../src/train/memory-plan.js';
import { distSkipReason } from './helpers/dist.js';
import { gtr } from './helpers/cli.js';
import { randomTrainBatch, tinyNativeConfig } from './helpers/tiny.js';

const addon = native();
const GiB = 2 ** 30;

/** A 4-layer, hidden-128, untied model on a 2048-token vocabulary (the "small" shape). */
const smallConfig: NativeQwen3Config = {
  vocabSize: 2048,
  hiddenSize: 128,
  intermediateSize: 384,
  numHiddenLayers: 4,
  numAttentionHeads: 8,
  numKeyValueHeads: 2,
  headDim: 16,
  rmsNormEps: 1e-6,
  ropeTheta: 1e6,
  tieWordEmbeddings: false,
  maxPositionEmbeddings: 512,
};

/**
 * The train.sharding levels this build's Trainer accepts: `none` always; the others when the
 * constructor reads a `sharding` option (it then refuses an unknown name) and accepts the level.
 */
function supportedLevels(): ShardingLevel[] {
  const p = new addon.Policy(tinyNativeConfig(), { device: 'cpu', dtype: 'float32' });
  try {
    try {
      new addon.Trainer(p, { sharding: 'no-such-level' } as never).dispose();
      return ['none']; // the option is not read: a build without train.sharding
    } catch {
      // read: try each level
    }
    return SHARDING_LEVELS.filter((level) => {
      if (level === 'none') return true;
      try {
        new addon.Trainer(p, { sharding: level } as never).dispose();
        return true;
      } catch {
        return false;
      }
    });
  } finally {
    p.dispose();
  }
}
const LEVELS = supportedLevels();

function planInput(
  config: NativeQwen3Config,
  dtype: DType,
  sharding: ShardingLevel,
  worldSize = 1,
  extra: Partial<MemoryPlanInput> = {},
): MemoryPlanInput {
  return {
    config,
    dtype: dtype === 'float32' ? 'float32' : 'bfloat16',
    worldSize,
    sharding,
    rollout: {
      maxNumSeqs: 8,
      sequencesPerRank: 8,
      samplesPerPrompt: 4,
      maxPromptTokens: 5,
      maxNewTokens: 12,
      blockSize: 4,
    },
    train: { tokensPerMicroBatch: 64, activationCheckpointing: true },
    ...extra,
  };
}

/** One micro-batch, a step (creates the optimizer state), one more micro-batch (gradients pending). */
async function exercise(t: NativeTrainer, vocab: number, seed: number): Promise<void> {
  const b = randomTrainBatch({ n: 4, seed, vocab });
  const old = await t.logprobs(b.tokens, b.seqLens, b.responseMask);
  const mb = {
    ...b,
    oldLogprobs: old.logprobs,
    loss: { name: 'ppo' },
    denominators: { tokens: b.responseMask.reduce((a, x) => a + x, 0), sequences: 4 },
  };
  await t.trainMicroBatch(mb);
  await t.step({ lr: 1e-3 });
  await t.trainMicroBatch(mb);
}

function expectWithin(actual: number, planned: number, what: string, rel = 0.05): void {
  const err = planned === 0 ? actual : Math.abs(actual - planned) / planned;
  expect(err, `${what}: addon ${actual} vs planner ${planned}`).toBeLessThanOrEqual(planned === 0 ? 0 : rel);
}

/** The planner's categories the addon counts, compared within 5% (and the total of those). */
function compare(report: MemoryReport, plan: ReturnType<typeof planMemory>, label: string): void {
  expectWithin(report.weights.bytes, plan.bytes.weights, `${label} weights`);
  expectWithin(report.gradients.bytes, plan.bytes.gradients, `${label} gradients`);
  expectWithin(report.optimizer.bytes, plan.bytes.optimizer, `${label} optimizer`);
  expectWithin(report.optimizer.parts.exp_avg ?? 0, plan.optimizerParts.exp_avg, `${label} exp_avg`);
  expectWithin(report.optimizer.parts.master ?? 0, plan.optimizerParts.master, `${label} master`);
  expectWithin(report.reference.bytes, plan.bytes.reference, `${label} reference`);
  const planned = plan.bytes.weights + plan.bytes.gradients + plan.bytes.optimizer + plan.bytes.reference;
  expectWithin(
    report.weights.bytes + report.gradients.bytes + report.optimizer.bytes + report.reference.bytes,
    planned,
    `${label} total`,
  );
}

interface Case {
  name: string;
  config: NativeQwen3Config;
  dtype: DType;
  lora?: { r: number; target_modules: string[] };
  reference?: boolean;
}
const CASES: Case[] = [
  { name: 'tiny fp32 (tied)', config: tinyNativeConfig(), dtype: 'float32' },
  { name: 'tiny bf16 (fp32 masters)', config: tinyNativeConfig(), dtype: 'bfloat16' },
  { name: 'small bf16 untied, KL reference', config: smallConfig, dtype: 'bfloat16', reference: true },
  {
    name: 'small bf16 LoRA r 8',
    config: smallConfig,
    dtype: 'bfloat16',
    lora: { r: 8, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
  },
];

async function makePolicy(c: Case, seed: number): Promise<NativePolicy> {
  const p = new addon.Policy(c.config, { device: 'cpu', dtype: c.dtype });
  await p.initRandom(seed, 0.05);
  if (c.lora) p.enableLora({ r: c.lora.r, alpha: 16, targetModules: c.lora.target_modules, seed: 1 });
  return p;
}

describe('planner against the addon (CPU, world size 1)', () => {
  it('reports the levels this build supports', () => {
    // `none` is always there; optimizer / full appear with train.sharding's native side.
    expect(LEVELS[0]).toBe('none');
    console.log(`train.sharding levels of this build: ${LEVELS.join(', ')}`);
  });

  for (const level of LEVELS) {
    // full shards the trained parameters; with LoRA those are the adapters only: refused by both.
    for (const c of CASES.filter((c) => !(level === 'full' && c.lora))) {
      it(`${level}: ${c.name}: weights, gradients, optimizer, reference within 5%`, async () => {
        const p = await makePolicy(c, 3);
        const ref = c.reference ? await makePolicy({ ...c, lora: undefined }, 3) : undefined;
        const t = new addon.Trainer(p, {
          ...(ref ? { reference: ref } : {}),
          ...(level !== 'none' ? { sharding: level } : {}),
        } as never);
        try {
          const before = await t.memory();
          expect(before.optimizer.bytes).toBe(0); // created at the first step
          expect(before.gradients.bytes).toBe(0);
          await exercise(t, c.config.vocabSize, 7);
          const report = await t.memory();
          const plan = planMemory(planInput(c.config, c.dtype, level, 1, { lora: c.lora, reference: c.reference }));
          compare(report, plan, `${level} ${c.name}`);
          // Weights by dtype: every parameter in the model dtype.
          expect(Object.keys(report.weights.parts)).toEqual([c.dtype]);
          expect(report.total).toBe(
            report.weights.bytes +
              report.reference.bytes +
              report.gradients.bytes +
              report.optimizer.bytes +
              report.gathered.bytes +
              report.kvPool.bytes,
          );
          // The policy alone reports the same weights and no trainer state.
          const pm = await p.memory();
          expect(pm.weights.bytes).toBe(report.weights.bytes);
          expect(pm.optimizer.bytes + pm.gradients.bytes).toBe(0);
        } finally {
          t.dispose();
          p.dispose();
          ref?.dispose();
        }
      });
    }
  }

  it('counts a storage once: a tied lm_head is the embedding; a fp32 model has no masters', async () => {
    const c = tinyNativeConfig(true);
    const p = new addon.Policy(c, { device: 'cpu', dtype: 'float32' });
    const u = new addon.Policy({ ...c, tieWordEmbeddings: false }, { device: 'cpu', dtype: 'float32' });
    try {
      const [tied, untied] = [await p.memory(), await u.memory()];
      expect(untied.weights.bytes - tied.weights.bytes).toBe(c.vocabSize * c.hiddenSize * 4);
      expect(tied.weights.bytes).toBe(qwen3ParameterCount(c) * 4);
    } finally {
      p.dispose();
      u.dispose();
    }
  });
});

describe('KV pool: the engine registers its pool; the planner predicts it', () => {
  const c = tinyNativeConfig();
  const prompts = Array.from({ length: 2 }, (_, i) => Int32Array.from({ length: 5 }, (_, j) => (i * 7 + j) % 60));
  const run = async (p: NativePolicy, extra: Record<string, number>) =>
    addon.generate(p, prompts, { n: 4, maxNewTokens: 12, blockSize: 4, temperature: 1, seed: 1, ...extra }).promise;

  it('the peak equals the planned pool, with and without a block budget, and nothing is in use after', async () => {
    const p = new addon.Policy(c, { device: 'cpu', dtype: 'float32' });
    await p.initRandom(2, 0.05);
    try {
      for (const budget of [0, 9]) {
        await p.memory({ resetPeaks: true });
        const res = await run(p, budget ? { kvCacheBlocks: budget } : {});
        const m = await p.memory();
        const plan = planMemory(
          planInput(c, 'float32', 'none', 1, {
            rollout: { ...planInput(c, 'float32', 'none').rollout, kvCacheBlocks: budget || null },
          }),
        );
        expect(m.kvPool.bytes).toBe(0); // the pool is freed with the call
        expect(m.kvPool.inUse).toBe(0);
        expect(m.kvPool.peak).toBe(res.stats.kvBytes); // the engine's own number
        expectWithin(m.kvPool.peak, plan.bytes.kvPool, `kv pool (budget ${budget} blocks)`);
        expect(m.kvPool.peakInUse).toBeGreaterThan(0);
        expect(m.kvPool.peakInUse).toBeLessThanOrEqual(m.kvPool.peak);
        expect(m.kvPool.peakInUse).toBe(res.stats.peakBlocks * plan.kvBlockBytes);
      }
    } finally {
      p.dispose();
    }
  });

  it("without a budget the planned blocks are exactly the engine's worst case (max_num_seqs >= sequences)", () => {
    // 2 prompts of 5 tokens, n 4, 12 new tokens, blocks of 4: per sequence ceil(16 / 4) = 4 blocks,
    // per prompt floor(5 / 4) + 1 = 2 held: 8 x 4 + 2 x 2 = 36 (engine.cpp allocate_pool).
    const r = planInput(c, 'float32', 'none').rollout;
    expect(kvPoolBlocks(r, 1)).toBe(36);
    expect(kvPoolBlocks({ ...r, kvCacheBlocks: 9 }, 1)).toBe(9);
    expect(kvPoolBlocks({ ...r, kvCacheGib: (10 * 1000) / GiB }, 1000)).toBe(10);
  });
});

describe('the registry of buffers outside the model (what sharded training registers its gathered units with)', () => {
  it('counts live registrations by storage, once, and keeps the peak of a gather cycle; freed buffers count 0', async () => {
    const p = new addon.Policy(tinyNativeConfig(), { device: 'cpu', dtype: 'float32' });
    try {
      const t = addon.testing;
      await p.memory({ resetPeaks: true });
      t.memoryTrackCycle('gathered', [1000, 5000, 3000]);
      let m = await p.memory({ resetPeaks: true });
      expect(m.gathered.bytes).toBe(0); // every unit freed
      expect(m.gathered.peak).toBe(5000); // one unit at a time
      t.memoryTrackCycle('gathered', [1000, 5000, 3000], { prefetch: true });
      m = await p.memory({ resetPeaks: true });
      expect(m.gathered.peak).toBe(8000); // the next unit gathered while the previous is live
      t.memoryTrackCycle('gathered', [4096], { keepLast: true });
      m = await p.memory();
      expect(m.gathered.bytes).toBe(4096); // live; tracked twice and through a view, counted once
      expect(Object.values(m.gathered.parts).reduce((a, x) => a + x, 0)).toBe(4096);
      expect(m.total).toBe(m.weights.bytes + 4096);
      t.memoryTrackCycle('gathered', []); // frees the kept buffer
      expect((await p.memory({ resetPeaks: true })).gathered.bytes).toBe(0);
      expect(() => t.memoryTrackCycle('activations', [1])).toThrow(
        /unknown category 'activations' \(known: weights, gradients, optimizer, gathered, kv_pool\)/,
      );
    } finally {
      p.dispose();
    }
  });
});

describe('planner formulas across levels and world sizes', () => {
  const q8 = parseQwen3Config(presetConfig('qwen3-8b')).native;
  const base = (sharding: ShardingLevel, W: number) =>
    planMemory({
      ...planInput(q8, 'bfloat16', sharding, W),
      rollout: {
        maxNumSeqs: 256,
        sequencesPerRank: 1024 / W,
        samplesPerPrompt: 8,
        maxPromptTokens: 1024,
        maxNewTokens: 4096,
        blockSize: 32,
        kvCacheGib: 10,
      },
      train: { tokensPerMicroBatch: 16384, activationCheckpointing: true },
    });

  it('preset sizes: Qwen3-1.7B, 4B (tied) and 8B (untied) parameter counts', () => {
    const n = (name: 'qwen3-1.7b' | 'qwen3-4b' | 'qwen3-8b') =>
      qwen3ParameterCount(parseQwen3Config(presetConfig(name)).native);
    expect(n('qwen3-1.7b')).toBe(1_720_574_976);
    expect(n('qwen3-4b')).toBe(4_022_468_096);
    expect(n('qwen3-8b')).toBe(8_190_735_360);
  });

  it('optimizer shards the AdamW state by W; full also the weights and gradients, plus gathered units', () => {
    for (const W of [2, 4, 8]) {
      const none = base('none', W),
        opt = base('optimizer', W),
        full = base('full', W);
      expect(opt.bytes.optimizer * W).toBeCloseTo(none.bytes.optimizer, 0);
      expect(opt.bytes.weights).toBe(none.bytes.weights);
      // ZeRO-2: each micro-batch's gradients reduce-scattered into fp32 shards after its backward.
      expect(opt.bytes.gradients * W).toBeCloseTo(none.bytes.gradients, 0);
      expect(opt.bytes.gradientsInBackward).toBe(none.bytes.gradientsInBackward + 4 * opt.largestUnit);
      expect(full.bytes.weights).toBe(0); // the trained weights live in their master shards
      expect(full.optimizerParts.master * W).toBeCloseTo(none.optimizerParts.master, 0);
      expect(full.bytes.gradients * W).toBeCloseTo(none.bytes.gradients, 0);
      // The largest FSDP unit of Qwen3-8B is the embedding (151936 x 4096), gathered one at a time.
      expect(full.largestUnit).toBe(151936 * 4096);
      expect(full.bytes.gathered).toBe(151936 * 4096 * 2);
      expect(full.bytes.gatheredRollout).toBe(none.bytes.weights);
      expect(full.update).toBeLessThan(opt.update);
      expect(opt.update).toBeLessThan(none.update);
      // In rollouts full holds the gathered bf16 copy where optimizer holds its whole weights: the same bytes.
      expect(full.rollout).toBeCloseTo(opt.rollout, 0);
      expect(full.peak).toBeLessThan(opt.peak);
    }
    // 18 bytes a parameter at none (bf16 weights 2 + fp32 grads 4 + master 4 + moments 8): ~147 GB.
    const none1 = base('none', 1);
    expect(none1.bytes.weights + none1.bytes.gradients + none1.bytes.optimizer).toBe(18 * 8_190_735_360);
    expect(fitsDevice(none1, parseGpuMemory('h100').bytes).fits).toBe(false);
    const f8 = fitsDevice(base('full', 8), parseGpuMemory('h100').bytes);
    expect(f8.fits).toBe(true);
    expect(f8.kvRoom).toBeGreaterThan(10 * GiB);
  });

  it('--gpu-memory takes sizes and GPU names, and names itself in errors', () => {
    expect(parseGpuMemory('80GiB').bytes).toBe(80 * GiB);
    expect(parseGpuMemory('80GB').bytes).toBe(80e9);
    expect(parseGpuMemory('81559MiB').bytes).toBe(81559 * 2 ** 20);
    expect(parseGpuMemory('H200').bytes).toBe(143771 * 2 ** 20);
    expect(parseGpuMemory('24').bytes).toBe(24 * GiB);
    expect(() => parseGpuMemory('80XB')).toThrow(/--gpu-memory 80XB: expected a size like 80GiB.*h100/);
    expect(() => parseGpuMemory('0GiB')).toThrow(/--gpu-memory 0GiB: must be above 0/);
    expect(() =>
      planMemory(planInput(q8, 'bfloat16', 'full', 8, { lora: { r: 8, target_modules: ['q_proj'] } })),
    ).toThrow(/train.sharding: full .* with model.lora .* use optimizer or none/);
    expect(() => planMemory(planInput(q8, 'bfloat16', 'zero3' as never))).toThrow(
      /train.sharding "zero3" is not one of none, optimizer, full/,
    );
  });
});

/** Two trainers at `level`, ranks 0 and 1 of a gloo group in this process, after `exercise`: their memory reports. */
async function twoRankReports(level: (typeof LEVELS)[number], c: (typeof CASES)[number]): Promise<MemoryReport[]> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const groups: NativeProcessGroup[] = [0, 1].map(
    (rank) =>
      new addon.ProcessGroup({
        rank,
        worldSize: 2,
        masterAddr: '127.0.0.1',
        masterPort: port,
        storeServer: rank === 0,
        backend: 'gloo',
        hostname: '127.0.0.1',
        timeoutMs: 60_000,
      }),
  );
  await Promise.all(groups.map((g) => g.connect()));
  const policies = await Promise.all([0, 1].map(() => makePolicy({ ...c, reference: false }, 3)));
  const trainers = policies.map((p) => new addon.Trainer(p, (level !== 'none' ? { sharding: level } : {}) as never));
  try {
    await Promise.all(trainers.map((t, r) => t.setProcessGroup(groups[r]!)));
    await Promise.all(trainers.map((t, r) => exercise(t, c.config.vocabSize, 11 + r)));
    return await Promise.all(trainers.map((t) => t.memory()));
  } finally {
    for (const t of trainers) t.dispose();
    for (const p of policies) p.dispose();
    for (const g of groups) (g as unknown as { close?: () => void }).close?.();
  }
}

describe('2 ranks in this process (gloo): per-rank bytes against the planner at W = 2', () => {
  const skip = distSkipReason();
  for (const level of LEVELS) {
    it.skipIf(skip !== undefined)(
      `${level}: tiny bf16 and small bf16 untied`,
      async () => {
        for (const c of [CASES[1]!, CASES[2]!]) {
          const reports = await twoRankReports(level, c);
          const plan = planMemory(planInput(c.config, c.dtype, level, 2));
          for (const [r, m] of reports.entries()) compare(m, plan, `${level} rank ${r} ${c.name}`);
        }
      },
      120_000,
    );
  }

  it.skipIf(skip !== undefined)(
    "optimizer (ZeRO-2): a rank's pending gradients are about 1/W of none's, measured",
    async () => {
      const c = CASES[2]!;
      const none = await twoRankReports('none', c);
      const opt = await twoRankReports('optimizer', c);
      for (let r = 0; r < 2; r++) {
        // Gradients of one micro-batch pending (exercise ends after a micro-batch's backward): none
        // holds the whole fp32 accumulation, optimizer its reduce-scattered shard and no full .grad.
        expect(none[r]!.gradients.bytes).toBeGreaterThan(0);
        const ratio = opt[r]!.gradients.bytes / none[r]!.gradients.bytes;
        console.log(
          `rank ${r} of 2: pending gradients ${opt[r]!.gradients.bytes} bytes at optimizer, ${none[r]!.gradients.bytes} at none (${ratio.toFixed(4)})`,
        );
        expect(ratio, `rank ${r}: ${opt[r]!.gradients.bytes} vs ${none[r]!.gradients.bytes} bytes`).toBeGreaterThan(
          0.49,
        );
        expect(ratio).toBeLessThan(0.51);
        expect(Object.keys(opt[r]!.gradients.parts)).toEqual(['float32']);
      }
    },
    120_000,
  );
});

describe('gtr train --dry-run', () => {
  it('prints the plan of a recipe as configured, with the fit on a named GPU, and loads nothing', async () => {
    const { stdout } = await gtr([
      'train',
      'recipes/qwen3-1.7b-gtr-dapo.yaml',
      '--dry-run',
      '--gpu-memory',
      'h100',
      '--nproc-per-node',
      '2',
    ]);
    expect(stdout).toMatch(
      /nothing is loaded or trained; model Qwen\/Qwen3-1.7B-Base \(shape of preset qwen3-1.7b-base\)/,
    );
    expect(stdout).toMatch(/1,720,574,976 parameters \(bfloat16\).*world size 2, train.sharding none/);
    expect(stdout).toMatch(/KV for max_num_seqs 256 sequences at full length \(1024 \+ 4096 tokens/);
    expect(stdout).toMatch(/fits h100 \(79.6 GiB\): yes/);
    expect(stdout).toMatch(/KV room in rollouts: [\d.]+ GiB = \d+ sequences at full length/);
    const { stdout: q8 } = await gtr([
      'train',
      'recipes/qwen3-8b-lora-grpo-dapo.yaml',
      '--dry-run',
      '--model',
      'qwen3-8b',
      '--gpu-memory',
      '24GiB',
    ]);
    expect(q8).toMatch(/8,190,735,360 parameters \(bfloat16\), \d[\d,]* trainable \(LoRA r \d+\)/);
  }, 120_000);

  it('bad flags get errors naming the flag', async () => {
    const fail = async (args: string[]) => {
      try {
        await gtr(['train', 'recipes/qwen3-1.7b-gtr-dapo.yaml', ...args]);
      } catch (e) {
        return (e as { stderr: string }).stderr;
      }
      throw new Error(`gtr train ${args.join(' ')} succeeded`);
    };
    expect(await fail(['--dry-run', '--gpu-memory', 'lots'])).toMatch(/--gpu-memory lots: expected a size/);
    expect(await fail(['--dry-run', '--nproc-per-node', '0'])).toMatch(/--nproc-per-node 0: an integer >= 1 expected/);
    expect(await fail(['--dry-run', '--model', 'qwen9-zb'])).toMatch(/--model qwen9-zb: not a preset/);
    expect(await fail(['--gpu-memory', 'h100'])).toMatch(/--gpu-memory applies only with --dry-run/);
  }, 120_000);
});
