/**
 * The tiny-model set-up the RL tests share: a scratch directory (removed after the file's tests)
 * holding a random tiny Qwen3 in the HF layout, and the tiny recipe pointed at it.
 */
import { join } from 'node:path';
import { beforeAll } from 'vitest';
import { presetConfig } from '../../src/checkpoint/index.js';
import { Policy } from '../../src/policy.js';
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
