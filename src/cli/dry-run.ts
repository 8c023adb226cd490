/**
 * `gtr train <recipe> --dry-run`: prints the memory plan of the recipe as configured (bytes per
 * rank by category, the peak and whether it fits `--gpu-memory`), loading nothing and training
 * nothing (src/train/memory-plan.ts). Like `accelerate estimate-memory` / DeepSpeed's
 * `estimate_zero3_model_states_mem_needs`, but for the whole RL step: rollout KV pool included.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseQwen3Config,
  presetConfig,
  QWEN3_PRESETS,
  readQwen3Config,
  type Qwen3Config,
  type Qwen3PresetName,
} from '../checkpoint/index.js';
import type { Recipe } from '../recipe/index.js';
import {
  formatMemoryPlan,
  parseGpuMemory,
  planInputFromRecipe,
  planMemory,
  type MemoryPlan,
  type PlanRecipe,
} from '../train/memory-plan.js';

/** Hub ids whose config.json equals a built-in preset in every shape field (the planner's need). */
export const HUB_PRESETS: Readonly<Record<string, Qwen3PresetName>> = {
  'qwen/qwen3-1.7b': 'qwen3-1.7b',
  'qwen/qwen3-1.7b-base': 'qwen3-1.7b-base',
  'qwen/qwen3-4b': 'qwen3-4b',
  'qwen/qwen3-4b-base': 'qwen3-4b',
  'qwen/qwen3-8b': 'qwen3-8b',
  'qwen/qwen3-8b-base': 'qwen3-8b',
  'qwen/qwen2.5-math-1.5b': 'qwen2.5-math-1.5b',
  'meta-llama/llama-3.2-1b': 'llama-3.2-1b',
};

/**
 * The model config to plan for: `spec` (from `--model`) or the recipe's `model.path`, each a
 * preset name, a config.json file, a model directory, or (model.path only) a hub id with a
 * built-in preset of the same shape. Nothing is downloaded.
 * @throws Error naming `flag` and the accepted forms
 */
export async function planModelConfig(spec: string, flag: string): Promise<{ config: Qwen3Config; source: string }> {
  if ((QWEN3_PRESETS as readonly string[]).includes(spec))
    return { config: parseQwen3Config(presetConfig(spec as Qwen3PresetName)), source: `preset ${spec}` };
  if (existsSync(spec)) {
    if (statSync(spec).isDirectory()) return { config: await readQwen3Config(spec), source: join(spec, 'config.json') };
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(spec, 'utf8'));
    } catch (e) {
      throw new Error(`${flag} ${spec}: not a JSON config (${(e as Error).message})`);
    }
    return { config: parseQwen3Config(json, spec), source: spec };
  }
  const hub = HUB_PRESETS[spec.split('@')[0]!.toLowerCase()];
  if (hub) return { config: parseQwen3Config(presetConfig(hub)), source: `${spec} (shape of preset ${hub})` };
  throw new Error(
    `${flag} ${spec}: not a preset (${QWEN3_PRESETS.join(', ')}), a config.json file, a model directory, or a hub id ` +
      `with a built-in shape (${Object.keys(HUB_PRESETS).join(', ')}); pass --model <preset|config.json|dir>`,
  );
}

export interface DryRunOptions {
  /** --model: plans this config instead of model.path's. */
  model?: string;
  /** --nproc-per-node: the world size (default: WORLD_SIZE, else 1). */
  nprocPerNode?: string;
  /** --gpu-memory: a size or a GPU name. */
  gpuMemory?: string;
}

/**
 * The plan of `recipe` as configured (see {@link planInputFromRecipe}); prints nothing.
 * @throws Error naming the flag (--nproc-per-node, --gpu-memory, --model) on bad input
 */
export async function dryRunPlan(
  recipe: Recipe,
  o: DryRunOptions,
): Promise<{ plan: MemoryPlan; source: string; device?: { bytes: number; label: string } }> {
  const wsText = o.nprocPerNode ?? process.env.WORLD_SIZE ?? '1';
  const ws = Number(wsText);
  if (!Number.isInteger(ws) || ws < 1)
    throw new Error(
      `${o.nprocPerNode !== undefined ? '--nproc-per-node' : 'WORLD_SIZE'} ${wsText}: an integer >= 1 expected`,
    );
  const device = o.gpuMemory !== undefined ? parseGpuMemory(o.gpuMemory, '--gpu-memory') : undefined;
  const { config, source } = await planModelConfig(
    o.model ?? recipe.model.path,
    o.model !== undefined ? '--model' : 'model.path',
  );
  const plan = planMemory(planInputFromRecipe(recipe as unknown as PlanRecipe, config.native, ws));
  return { plan, source, device };
}

/** Prints the dry run's table (see {@link dryRunPlan}) to stdout. */
export async function printDryRun(recipe: Recipe, o: DryRunOptions): Promise<void> {
  const { plan, source, device } = await dryRunPlan(recipe, o);
  console.log(`gtr train --dry-run: nothing is loaded or trained; model ${source}`);
  console.log(formatMemoryPlan(plan, device));
}
