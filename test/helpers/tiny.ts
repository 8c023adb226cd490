/**
 * The tiny-model set-up the RL tests share: a scratch directory (removed after the file's tests)
 * holding a random tiny Qwen3 in the HF layout, and the tiny recipe pointed at it.
 */
import { join } from 'node:path';
import { beforeAll } from 'vitest';
import { presetConfig } from '../../src/checkpoint/index.js';
import type { NativeQwen3Config } from '../../src/native/types.js';
import { Policy } from '../../src/policy.js';
import type { TrainBatch } from '../../src/train/index.js';
import { loadRecipe, type Recipe } from '../../src/recipe/index.js';
import { dataDir, repoRoot } from './paths.js';
import { scratchDir } from './scratch.js';

/**
 * Registers (at a test file's top level) a scratch directory and, before the tests, a random tiny
 * Qwen3 saved in `<scratch>/model` with init seed `seed`.
 */
export function tinyModelScratch(prefix: string, seed: number): { scratch: string; modelDir: string } {
  const scratch = scratchDir(prefix);
  const modelDir = join(scratch, 'model');
  beforeAll(async () => {
    const p = await Policy.random(presetConfig('tiny'), seed);
    await p.save(modelDir);
    p.dispose();
  }, 120_000);
  return { scratch, modelDir };
}

/**
 * recipes/tiny-<algo>-dapo.yaml on `modelDir`, run dir `runDir`, the test data dir and no
 * periodic evaluation; `extra` are more `--set` overrides (applied last).
 */
export function tinyRecipe(
  modelDir: string,
  runDir: string,
  extra: string[] = [],
  algo: 'gtr' | 'grpo' = 'gtr',
): Recipe {
  return loadRecipe(tinyRecipeFile(algo), tinySets(modelDir, runDir, extra));
}

/** The shipped tiny recipe's path. */
export const tinyRecipeFile = (algo: 'gtr' | 'grpo' = 'gtr') => join(repoRoot, 'recipes', `tiny-${algo}-dapo.yaml`);

/** The overrides of {@link tinyRecipe}, as `key=value` strings. */
export function tinySets(modelDir: string, runDir: string, extra: string[] = []): string[] {
  return [`model.path=${modelDir}`, `run.dir=${runDir}`, `data.data_dir=${dataDir}`, 'eval.every_steps=0', ...extra];
}

/** `gtr train` arguments for {@link tinyRecipe}: the recipe file, then `--set` per override. */
export function tinyTrainArgs(modelDir: string, runDir: string, extra: string[] = []): string[] {
  return [tinyRecipeFile(), ...tinySets(modelDir, runDir, extra).flatMap((s) => ['--set', s])];
}

/** An 8-head-dim, 2-layer Qwen3 of vocabulary 64 at the native boundary (the trainer tests' model). */
export const tinyNativeConfig = (tieWordEmbeddings = true): NativeQwen3Config => ({
  vocabSize: 64,
  hiddenSize: 32,
  intermediateSize: 64,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  headDim: 8,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  tieWordEmbeddings,
  maxPositionEmbeddings: 128,
});

/**
 * A deterministic packed batch for the trainer tests: `n` sequences of prompt 3 + response tokens
 * (`length(i)` tokens in all; default 7 + i % 4), token ids uniform in [0, vocab) from an LCG seeded
 * with `seed`, advantage +1 on even and `negative` on odd sequences' response tokens.
 */
export function randomTrainBatch(o: {
  n: number;
  seed: number;
  vocab?: number;
  length?: (i: number) => number;
  negative?: number;
}): Omit<TrainBatch, 'oldLogprobs'> {
  let s = o.seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const vocab = o.vocab ?? 64;
  const length = o.length ?? ((i: number) => 3 + 4 + (i % 4));
  const lens: number[] = [],
    toks: number[] = [],
    mask: number[] = [],
    adv: number[] = [];
  for (let i = 0; i < o.n; i++) {
    const len = length(i);
    lens.push(len);
    for (let j = 0; j < len; j++) {
      toks.push(Math.floor(next() * vocab));
      mask.push(j >= 3 ? 1 : 0);
      adv.push(j >= 3 ? (i % 2 === 0 ? 1 : (o.negative ?? -1)) : 0);
    }
  }
  return {
    tokens: Int32Array.from(toks),
    seqLens: Int32Array.from(lens),
    responseMask: Uint8Array.from(mask),
    advantages: Float32Array.from(adv),
  };
}
