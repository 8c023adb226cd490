/**
 * `gtr sft`: supervised fine-tuning on (prompt, response) pairs with the native trainer.
 *
 * Objective. The trainer's loss registry holds policy-gradient losses only (no NLL), so SFT uses
 * the PPO-clip loss ('grpo', no penalty) with advantages A = 1 on every response token and old
 * log-probs = the current policy's no-grad log-probs of the same batch (one epoch, one mini-batch
 * per optimizer step, the same micro-batch split, so the ratio r = exp(logp - old) is exactly 1).
 * At r = 1 the clip is inactive and d/dθ [-min(r A, clip(r) A)] = -A dr/dθ = -r d logp/dθ =
 * -d logp/dθ: with token-mean aggregation the gradient is exactly that of the mean token NLL,
 * -(1/T) Σ_t log p(y_t | y_<t, x). (The reported `loss` is therefore -1; the NLL is reported from
 * the old log-probs, which are the pre-update log-probs of the batch.)
 *
 * Per step: the next `train.prompts_per_step` rows of a seeded epoch order (src/data/sampler.ts),
 * packed prompt + response (+ EOS), loss on response tokens only, one AdamW step at the recipe's
 * schedule. Outputs in `run.dir`: resolved.yaml, metrics.jsonl (`kind: 'sft'` rows), checkpoints
 * every `checkpoint.every_steps` (`checkpoints/step-N/policy`), and the final model in `model/`.
 */
import { join } from 'node:path';
import { saveCheckpointAtomic } from '../checkpoint/save.js';
import { loadDataset } from '../data/load.js';
import { readQwen3Config } from '../checkpoint/config.js';
import { checkTrainingFitsMemory, preflightInputs } from '../run/preflight.js';
import { PromptSampler } from '../data/sampler.js';
import { native } from '../native/binding.js';
import { Policy } from '../policy.js';
import type { Recipe } from '../recipe/index.js';
import { openRun } from '../run/resume.js';
import { Tokenizer } from '../tokenizer/index.js';
import { Trainer, trainerOptionsFromRecipe } from '../train/trainer.js';
import { packSequences } from '../train/microbatch.js';
import { buildSftExamples } from './data.js';

/** Options of {@link sftTrain}. */
export interface SftOptions {
  /** Overrides recipe.data.data_dir. */
  dataDir?: string;
  log?: (line: string) => void;
  /** Called after every step with its metrics row. */
  onStep?: (row: Record<string, unknown>) => void;
  /** Aborting stops after the current step (the model is still saved). */
  signal?: AbortSignal;
  /**
   * Early stop: called after every `stopCheckEvery`-th step's update (and not after the last step)
   * with the step and the policy being trained (its weights are the current ones; generating with
   * it is fine, training resumes after the promise settles). Returning true ends SFT there; the
   * model is saved as after the last step. Used by `gtr demo` to stop once a validation accuracy
   * is reached, so the warm-up ends at a stated starting point whatever the data order.
   */
  stopWhen?: (step: number, policy: Policy) => boolean | Promise<boolean>;
  /** Steps between `stopWhen` calls (integer >= 1). Default 50. */
  stopCheckEvery?: number;
}

/** What {@link sftTrain} did. */
export interface SftSummary {
  runDir: string;
  /** The fine-tuned model (HF layout, with the tokenizer files). */
  modelDir: string;
  steps: number;
  /** Mean NLL (nats / response token) of the first and the last step's batch, before its update. */
  firstNll: number;
  lastNll: number;
  seconds: number;
  /** True when `stopWhen` ended the run before `train.steps`. */
  stoppedEarly: boolean;
}

/** The SFT loss: PPO-clip at ratio 1 with A = 1 (see the module doc: its gradient is the NLL's). */
export const SFT_LOSS = { name: 'grpo', clipLow: 0.2, clipHigh: 0.28, aggregation: 'token-mean' } as const;

/**
 * Runs SFT as the recipe says (model, data, train, checkpoint, run sections; data.response_field
 * names the target field of each row). Starts fresh: a run.dir that already holds a run is an error.
 * @throws Error naming the row / file / key at fault (see buildSftExamples, loadDataset, openRun)
 */
export async function sftTrain(recipe: Recipe, opts: SftOptions = {}): Promise<SftSummary> {
  const log = opts.log ?? ((s: string) => console.log(s));
  preflightInputs(recipe); // model and data checked before the run directory is touched
  const configFile = join(recipe.model.path, 'config.json');
  checkTrainingFitsMemory(recipe, (await readQwen3Config(recipe.model.path)).native, configFile);
  const opened = openRun(recipe, { log });
  try {
    return await sftOpened(recipe, opts, log, opened.run);
  } finally {
    opened.release();
  }
}

async function sftOpened(
  recipe: Recipe,
  opts: SftOptions,
  log: (line: string) => void,
  run: ReturnType<typeof openRun>['run'],
): Promise<SftSummary> {
  const t0 = performance.now();
  const device =
    recipe.model.device === 'auto' ? (native().versions().cudaAvailable ? 'cuda' : 'cpu') : recipe.model.device;
  const dtype = recipe.model.dtype === 'float32' ? 'float32' : 'bfloat16';
  const tokDir = recipe.model.tokenizer ?? recipe.model.path;
  const tokenizer = await Tokenizer.fromDir(tokDir);
  const data = await loadDataset(recipe.data.train, {
    dataDir: opts.dataDir ?? recipe.data.data_dir ?? undefined,
    limit: recipe.data.limit ?? undefined,
    dropConflicts: recipe.data.drop_conflicts,
  });
  const rendering = {
    template: recipe.data.template,
    chat: recipe.model.chat_template,
    enableThinking: recipe.model.enable_thinking,
  };
  const examples = buildSftExamples(data.rows, tokenizer, rendering, recipe.data.response_field).filter(
    (e) => e.promptTokens.length <= recipe.data.max_prompt_tokens,
  );
  if (examples.length === 0)
    throw new Error(`${data.file}: no SFT example fits data.max_prompt_tokens = ${recipe.data.max_prompt_tokens}`);

  const t = recipe.train;
  const policy = await Policy.load(recipe.model.path, { device, dtype });
  if (recipe.model.lora && !policy.lora) policy.enableLora(recipe.model.lora, t.seed); // adapters only train
  const trainer = new Trainer(policy.native, trainerOptionsFromRecipe(t));
  const sampler = new PromptSampler(examples.length, t.seed);
  // Policy.save writes its directory atomically (saveCheckpointAtomic); a checkpoint is one more level.
  const save = (dir: string) => policy.save(dir, { tokenizerFrom: tokDir });
  let firstNll = Number.NaN;
  let lastNll = Number.NaN;
  let step = 0;
  let stoppedEarly = false;
  const checkEvery = opts.stopCheckEvery ?? 50;
  if (!Number.isInteger(checkEvery) || checkEvery < 1)
    throw new Error(`sft: stopCheckEvery must be an integer >= 1, got ${checkEvery}`);
  try {
    for (step = 1; step <= t.steps; step++) {
      const ts = performance.now();
      const batch = packSequences(sampler.next(t.prompts_per_step).map((i) => examples[i]!));
      // Old log-probs = the current policy's, through the trainer's own forward and micro-batch split: r = 1 exactly.
      const old = await trainer.logprobs(batch);
      let nll = 0,
        ent = 0,
        n = 0;
      for (let i = 0; i < batch.tokens.length; i++) {
        if (!batch.responseMask[i]) continue;
        nll -= old.logprobs[i]!;
        ent += old.entropy[i]!;
        n++;
      }
      nll /= Math.max(1, n);
      const advantages = new Float32Array(batch.tokens.length);
      for (let i = 0; i < advantages.length; i++) advantages[i] = batch.responseMask[i] ? 1 : 0;
      const res = await trainer.trainStep({ ...batch, advantages, oldLogprobs: old.logprobs }, SFT_LOSS);
      if (step === 1) firstNll = nll;
      lastNll = nll;
      const row: Record<string, unknown> = {
        step,
        kind: 'sft',
        'sft/lr': res.lr,
        'sft/nll': nll,
        'sft/entropy': ent / Math.max(1, n),
        'sft/response_tokens': n,
        'sft/grad_norm': res.gradNorm,
        'sft/skipped': res.skipped ? 1 : 0,
        'timing_s/step': (performance.now() - ts) / 1000,
      };
      run.appendMetrics(row);
      opts.onStep?.(row);
      if (recipe.checkpoint.every_steps > 0 && step % recipe.checkpoint.every_steps === 0 && step < t.steps) {
        await saveCheckpointAtomic(run.checkpointDir(step), (tmp) => save(join(tmp, 'policy')));
        run.markLatest(step);
        run.prune(recipe.checkpoint.keep_last);
      }
      if (opts.signal?.aborted) break;
      if (opts.stopWhen && step % checkEvery === 0 && step < t.steps && (await opts.stopWhen(step, policy))) {
        stoppedEarly = true;
        break;
      }
    }
    step = Math.min(step, t.steps);
    const modelDir = join(run.dir, 'model');
    await save(modelDir);
    const seconds = (performance.now() - t0) / 1000;
    log(
      `sft: ${step} steps${stoppedEarly ? ' (stopped early)' : ''}, NLL ${firstNll.toFixed(3)} -> ${lastNll.toFixed(3)} nats/token, ${seconds.toFixed(1)} s; model ${modelDir}`,
    );
    return { runDir: run.dir, modelDir, steps: step, firstNll, lastNll, seconds, stoppedEarly };
  } finally {
    trainer.dispose();
    policy.dispose();
  }
}
