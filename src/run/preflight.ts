/**
 * Checks a recipe's inputs before `gtr train` (or `gtr sft`) touches the run directory or loads
 * anything big: the model and tokenizer directories, the training file, and whether prompts plus
 * responses fit the model's context. Each error names the recipe key and the path or limit.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkContextLength, checkModelDir, checkModelFitsMemory, readQwen3Config } from '../checkpoint/index.js';
import { native } from '../native/binding.js';
import type { NativeQwen3Config } from '../native/types.js';
import { TRAINER_STATE_BYTES_PER_PARAM } from '../rollout/index.js';
import { isDatasetFile } from '../data/load.js';
import type { Recipe } from '../recipe/index.js';

/**
 * Checks that `file` (a recipe's dataset file, e.g. `data.train`) is an existing regular file.
 * @throws Error `<key>: <abs path> does not exist` or `<key>: <abs path> is a directory, not a
 *   .jsonl / .parquet file`.
 */
export function checkDataFile(file: string, key: string): void {
  const abs = resolve(file);
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw new Error(`${key}: ${abs} does not exist`);
  }
  if (!st.isFile())
    throw new Error(
      `${key}: ${abs} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, not a .jsonl / .parquet file`,
    );
}

/**
 * The checks shared by `gtr train` and `gtr sft`: `model.path` (and `model.tokenizer`) are model
 * directories, and `data.train`, when a file, exists. Throws naming the key and path.
 */
export function preflightInputs(recipe: Recipe): void {
  if (recipe.model.lora && recipe.model.lora.dropout > 0 && recipe.train.activation_checkpointing)
    throw new Error(
      'model.lora.dropout > 0 needs train.activation_checkpointing: false (a recomputed layer would draw another dropout mask)',
    );
  checkModelDir(recipe.model.path, 'model.path');
  if (recipe.model.tokenizer) checkModelDir(recipe.model.tokenizer, 'model.tokenizer', { tokenizerOnly: true });
  if (isDatasetFile(recipe.data.train)) checkDataFile(recipe.data.train, 'data.train');
}

/**
 * Training holds the weights and the trainer state (fp32 master, gradient and AdamW moments:
 * TRAINER_STATE_BYTES_PER_PARAM bytes per parameter, about 4x bf16 weights) and, with a KL term,
 * the reference policy's weights: on CPU the sum must fit the machine's memory, checked before
 * anything is loaded (a model that only checked its weights could be OOM-killed at the first step).
 * @throws Error naming `source` (config.json), the sizes and the machine's memory
 */
export function checkTrainingFitsMemory(recipe: Recipe, config: NativeQwen3Config, source: string): void {
  const device =
    recipe.model.device === 'auto' ? (native().versions().cudaAvailable ? 'cuda' : 'cpu') : recipe.model.device;
  const dtype = recipe.model.dtype === 'float32' ? 'float32' : 'bfloat16';
  const reference = recipe.algorithm.loss.kl_ref.coef > 0 ? (dtype === 'float32' ? 4 : 2) : 0;
  checkModelFitsMemory(config, dtype, device, source, {
    bytesPerParam: TRAINER_STATE_BYTES_PER_PARAM + reference,
    what: `trainer state (fp32 master, gradient, AdamW moments: ${TRAINER_STATE_BYTES_PER_PARAM} bytes per parameter)${reference ? ' and the KL reference policy' : ''}`,
  });
}

/**
 * {@link preflightInputs}, then the context check of `gtr train`: `data.max_prompt_tokens +
 * rollout.max_new_tokens` (and, with periodic evaluation, `eval.max_new_tokens`) must fit the
 * model's max_position_embeddings. Prompts longer than data.max_prompt_tokens are skipped, so
 * every rollout then fits.
 * @throws Error naming the keys, their values and `<model.path>/config.json`'s limit.
 */
export async function preflightTraining(recipe: Recipe): Promise<void> {
  preflightInputs(recipe);
  const config = await readQwen3Config(recipe.model.path);
  const limit = join(recipe.model.path, 'config.json');
  checkTrainingFitsMemory(recipe, config.native, limit);
  const maxPos = config.native.maxPositionEmbeddings;
  checkContextLength(recipe.data.max_prompt_tokens, recipe.rollout.max_new_tokens, maxPos, {
    prompt: `data.max_prompt_tokens`,
    maxNewTokens: 'rollout.max_new_tokens',
    limit,
  });
  if (recipe.eval.every_steps > 0)
    checkContextLength(0, recipe.eval.max_new_tokens, maxPos, {
      prompt: '',
      maxNewTokens: 'eval.max_new_tokens',
      limit,
    });
}
