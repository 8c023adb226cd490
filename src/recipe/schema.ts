/**
 * The recipe schema of `gtr train` and `gtr sft`: every key, its type, default and doc (via
 * `.describe()`), in one place. Objects are strict (unknown keys are errors); keys are snake_case.
 * `gtr sft` reads `model`, `data`, `train`, `checkpoint` and `run` and ignores the RL sections.
 *
 * Defaults follow the paper's LLM setting (docs/GTR.md, Sec. 5.3 / App. B.1) where it gives a value, and
 * common Qwen3-1.7B GRPO/DAPO practice where the paper's numbers were lost; the shipped recipes
 * say which is which beside each number.
 */
import { z } from 'zod';
import { datasetNames } from '../data/manifest.js';
import { isDatasetFile } from '../data/load.js';
import { TEMPLATE_NAMES } from '../data/templates.js';
import { checkSchedule } from './schedule.js';

const templateEnum = z.enum(TEMPLATE_NAMES as [string, ...string[]]);

const datasetName = (role?: 'train' | 'eval') =>
  z.string().superRefine((name, ctx) => {
    const valid = datasetNames(role);
    if (isDatasetFile(name)) return; // a .jsonl / .parquet file of the user's own
    if (!valid.includes(name))
      ctx.addIssue({ code: 'custom', message: `unknown dataset "${name}"; valid: ${valid.join(', ')}` });
  });

const posInt = () => z.number().int().positive();
const nonNegInt = () => z.number().int().nonnegative();
const prob = () => z.number().min(0).max(1);

const CustomGraderSchema = z.strictObject({
  module: z
    .string()
    .min(1)
    .describe("Path of an ES module (.ts/.js) exporting the grader; relative to the recipe file's folder"),
  export: z.string().min(1).default('default').describe('Name of the export'),
  batched: z
    .boolean()
    .default(false)
    .describe(
      "Batched form (TRL's reward_funcs): called once per step as (responses[], rows[], prompts[]) and returns one number or {score, ...metrics} per response",
    ),
});

const graderSpec = () => z.union([z.enum(['math', 'dapo', 'math_verify']), CustomGraderSchema]);

/** One phase of a non-stationary schedule (data.schedule); unset fields fall back to the recipe's own. */
export const PhaseSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, "expected letters, digits, _ . - (it names the phase's metrics)")
      .describe('Phase name; phases that share a name are the same phase (cycles A, B, A: one prompt order, one eval)'),
    steps: posInt().describe('Training steps of this phase'),
    train: datasetName().nullable().default(null).describe('Training dataset of this phase; null = data.train'),
    template: templateEnum
      .nullable()
      .default(null)
      .describe('Prompt template of this phase (training and its evaluation); null = data.template'),
    grader: graderSpec()
      .nullable()
      .default(null)
      .describe('Grader of this phase (training and its evaluation); null = reward.grader'),
    eval: z
      .array(datasetName())
      .nullable()
      .default(null)
      .describe('Held-out datasets this phase is evaluated on at every eval point; null = eval.benchmarks'),
  })
  .describe('A training phase');

export const ModelSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .default('Qwen/Qwen3-1.7B-Base')
      .describe(
        'Model directory (HF layout: config.json, *.safetensors, tokenizer files), resolved against the working directory, or a hub id owner/name[@revision] (a path that exists wins): downloaded into the HF cache shared with Python (HF_HOME, HF_HUB_CACHE; HF_TOKEN, HF_HUB_OFFLINE apply). model_type qwen3, qwen2 or llama',
      ),
    tokenizer: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        'Tokenizer directory (tokenizer.json, tokenizer_config.json) or hub id owner/name[@revision]; null = same as model.path',
      ),
    dtype: z
      .enum(['float32', 'bfloat16', 'float16'])
      .default('bfloat16')
      .describe('Parameter/compute dtype (optimizer state is float32 regardless)'),
    device: z
      .string()
      .regex(/^(auto|cpu|cuda(:\d+)?)$/, 'expected auto, cpu, cuda or cuda:N')
      .default('auto')
      .describe('auto | cpu | cuda | cuda:N; auto = cuda when available, else cpu'),
    chat_template: z
      .boolean()
      .default(false)
      .describe(
        'Render prompts through the tokenizer chat template (instruct models); false = raw prompt text (base models)',
      ),
    enable_thinking: z
      .boolean()
      .default(false)
      .describe('Value of enable_thinking passed to the Qwen3 chat template (only with chat_template: true)'),
    lora: z
      .strictObject({
        r: z.number().int().positive().default(16).describe('LoRA rank'),
        alpha: z
          .number()
          .positive()
          .default(32)
          .describe('LoRA alpha: the update is alpha / r * B A (PEFT lora_alpha)'),
        dropout: z
          .number()
          .min(0)
          .lt(1)
          .default(0)
          .describe(
            'Dropout on the adapter input while training (PEFT lora_dropout); needs train.activation_checkpointing: false when > 0',
          ),
        target_modules: z
          .array(z.enum(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']))
          .min(1)
          .default(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])
          .describe('Projections that get adapters (PEFT names)'),
      })
      .nullable()
      .default(null)
      .describe(
        'LoRA (PEFT layout): the base is frozen in model.dtype and only the adapters are trained (AdamW state for them only); checkpoints add policy/adapter/ (adapter_config.json, adapter_model.safetensors). null = full fine-tuning',
      ),
  })
  .describe('The policy model and its tokenizer');

export const DataSchema = z
  .strictObject({
    train: datasetName()
      .default('dapo-math-17k')
      .describe(
        "Training dataset: a registered name (gtr data list) or your own .jsonl / .parquet file (path from the working directory). Own files: one row per problem with `problem` and `answer` (and optional `id`; other fields reach the grader as row.<field>), or verl's RL parquet layout (`prompt` as chat messages, whose last user message is the problem, `reward_model.ground_truth` the answer, `extra_info.index` the id)",
      ),
    data_dir: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        'Directory with the local dataset copies (written by `gtr data fetch --data-dir DIR`); null = $GTR_DATA_DIR when set, else the download cache (filled by `gtr data fetch` or on first use)',
      ),
    template: templateEnum
      .default('dapo')
      .describe(`Prompt template: ${TEMPLATE_NAMES.join(' | ')} (dapo: final "Answer:" line; boxed: \\boxed{})`),
    max_prompt_tokens: posInt()
      .default(1024)
      .describe('Prompts longer than this many tokens (after templating) are dropped'),
    drop_conflicts: z
      .boolean()
      .default(true)
      .describe('Drop training rows whose duplicates disagree on the gold answer (11 DAPO rows)'),
    limit: posInt().nullable().default(null).describe('Use only the first N rows of the training set; null = all'),
    response_field: z
      .string()
      .min(1)
      .default('solution')
      .describe('gtr sft only: the row.extra field holding the target response'),
    schedule: z
      .array(PhaseSchema)
      .min(1)
      .nullable()
      .default(null)
      .describe(
        'Non-stationary training: phases run in order, each for its steps (their sum must equal train.steps); a name may recur (A, B, A). Every eval point evaluates every phase. null = one stationary phase',
      ),
  })
  .describe('Training prompts');

export const RolloutSchema = z
  .strictObject({
    samples_per_prompt: z
      .number()
      .int()
      .min(
        2,
        'must be at least 2: every advantage estimator (grpo, dr_grpo, rloo) compares a response with its group, so a group of 1 has advantage 0 and trains nothing',
      )
      .default(8)
      .describe('Responses sampled per prompt (GRPO group size G, >= 2)'),
    max_new_tokens: posInt().default(4096).describe('Maximum response length in tokens'),
    temperature: z
      .number()
      .gt(
        0,
        'must be above 0: at 0 (greedy) the samples_per_prompt responses of a prompt are identical, so every group has equal rewards and every advantage is 0 (eval.temperature may be 0)',
      )
      .default(1.0)
      .describe('Sampling temperature of the rollouts (> 0: a group needs different responses)'),
    top_p: z.number().gt(0).max(1).default(1.0).describe('Nucleus sampling mass; 1 = off'),
    top_k: nonNegInt().default(0).describe('Keep only the k most likely tokens; 0 = off'),
    min_p: prob().default(0).describe('Drop tokens with probability below min_p x the top probability; 0 = off'),
    stop: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Stop strings: the response ends at the token completing the first match, and is graded without the stop string (EOS always stops)',
      ),
    stop_token_ids: z.array(nonNegInt()).default([]).describe('Extra stop token ids besides the tokenizer EOS'),
    seed: z.number().int().default(0).describe('Sampling seed (per-step seeds are derived from it and the step)'),
    kv_cache_gib: z
      .number()
      .min(0)
      .nullable()
      .default(null)
      .describe(
        'KV cache budget of the rollout in GiB (the paged block pool); null = on CUDA, the memory free after the model and the trainer state less a margin, on CPU each call sized to hold every sequence at full length. Too small a budget preempts and recomputes sequences; below the longest sequence it is an error',
      ),
    block_size: z
      .number()
      .int()
      .refine((v) => v >= 1 && v <= 1024 && (v & (v - 1)) === 0, 'must be a power of two in [1, 1024]')
      .default(32)
      .describe('Tokens per KV cache block (a power of two)'),
    max_num_seqs: posInt()
      .default(256)
      .describe('Sequences decoding at once at most (the rollout batch; vLLM max_num_seqs)'),
    max_staleness: nonNegInt()
      .default(0)
      .describe(
        'Bounded staleness s (asynchronous RL, docs/GTR.md "Off-policy samples"): the batch of step k is generated from the weights after step k - 1 - s (a pipeline of depth s; 1 = verl one-step off-policy); 0 = on-policy, each batch generated by the weights it trains',
      ),
    placement: z
      .enum(['colocated', 'separate'])
      .default('colocated')
      .describe(
        "Where rollouts are generated: colocated = in the trainer process with the trainer's weights; separate = in rollout worker processes (rollout.workers) holding their own engine, the trainer's weights broadcast to them over c10d after every step (gloo on CPU, NCCL on CUDA); with rollout.max_staleness >= 1 they generate while the trainer trains",
      ),
    workers: posInt()
      .default(1)
      .describe(
        "Rollout worker processes with rollout.placement = separate (each samples its block of every batch); their torch threads: GTR_ROLLOUT_THREADS, else OMP_NUM_THREADS, else the trainer's",
      ),
  })
  .describe('Response sampling');

export const RewardSchema = z
  .strictObject({
    grader: graderSpec()
      .default('dapo')
      .describe(
        'math (\\boxed{} answer, symbolic equivalence) | dapo (last "Answer:" line) | math_verify (the math-verify Python package) | {module, export} custom grader',
      ),
    graders: z
      .array(
        z.strictObject({
          grader: graderSpec().describe('A grader: math | dapo | math_verify | {module, export, batched}'),
          weight: z.number().finite().describe('Weight of its score in the reward'),
          name: z
            .string()
            .regex(/^[A-Za-z0-9_.-]+$/, 'expected letters, digits, _ . -')
            .optional()
            .describe('Metric name of its score (reward/<name>/mean); default: the grader name or module file'),
        }),
      )
      .min(1)
      .nullable()
      .default(null)
      .describe(
        'Weighted reward (TRL reward_funcs + reward_weights): reward = sum of weight x score; accuracy and the extracted answer come from the first. Set, it replaces reward.grader',
      ),
    timeout_ms: posInt().default(5000).describe('Per-response grading timeout; a timeout scores 0'),
    isolation: z
      .enum(['thread', 'process'])
      .default('thread')
      .describe(
        'Where graders run: thread (worker threads: heap capped, process.exit ends only the thread) | process (child processes, for untrusted graders: a crash, abort or kill ends only the child). Neither sandboxes files or network',
      ),
    max_memory_mb: z
      .number()
      .int()
      .min(16)
      .default(1024)
      .describe('Heap cap of each grader worker in MiB; a grader past it fails its item'),
    overlong: z
      .strictObject({
        enabled: z.boolean().default(false).describe('DAPO soft overlong punishment'),
        buffer_tokens: posInt()
          .default(512)
          .describe('Length of the linear penalty zone ending at rollout.max_new_tokens'),
        penalty_factor: z
          .number()
          .nonnegative()
          .default(1.0)
          .describe(
            "Penalty reached at max_new_tokens, subtracted from the reward (verl's overlong_buffer.penalty_factor)",
          ),
      })
      .prefault({})
      .describe('Overlong reward shaping (DAPO)'),
  })
  .describe('Reward');

/**
 * The recipe's trust-region penalties (docs/GTR.md "Other penalties"), the one vocabulary users
 * write; src/train/loss-config.ts `lossConfig` maps each onto the native loss registry (RECIPE_PENALTY_LOSS).
 */
export const RECIPE_PENALTIES = ['gtr', 'pearson', 'spo', 'kl', 'none'] as const;
export type RecipePenalty = (typeof RECIPE_PENALTIES)[number];

/**
 * algorithm.loss: each field's one documentation and default (the loss defaults everywhere:
 * src/train/loss-config.ts DEFAULT_LOSS); `lossConfig` carries it unchanged in meaning to the native
 * trainer as LossConfig (src/native/types.ts).
 */
export const LossSchema = z
  .strictObject({
    clip_ratio_low: z.number().gt(0).lt(1).default(0.2).describe('PPO clip: ratio lower bound 1 - clip_ratio_low'),
    clip_ratio_high: z
      .number()
      .gt(0)
      .default(0.28)
      .describe('PPO clip: ratio upper bound 1 + clip_ratio_high (0.28 = DAPO clip-higher)'),
    dual_clip: z
      .number()
      .gt(1)
      .nullable()
      .default(null)
      .describe('Dual-clip constant c (> 1) bounding the loss of negative-advantage tokens; null = off'),
    aggregation: z
      .enum(['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'])
      .default('token-mean')
      .describe('Loss aggregation over the mini-batch (token-mean = DAPO token-level)'),
    penalty: z
      .enum(RECIPE_PENALTIES)
      .nullable()
      .default(null)
      .describe('Trust-region penalty; null = gtr when algorithm.name is gtr, none when grpo'),
    anchor: z
      .enum(['mixture', 'behavior'])
      .default('mixture')
      .describe(
        'Penalty anchors: mixture = average over per-epoch snapshots (GTR); behavior = the behavior policy only',
      ),
    sigma: z
      .number()
      .positive()
      .default(0.2)
      .describe('Gaussian kernel width sigma in phi(r) = sigma^2 (1 - exp(-(r-1)^2 / (2 sigma^2)))'),
    beta: z.number().nonnegative().default(1.0).describe('Penalty coefficient beta'),
    beta_mode: z
      .enum(['fixed', 'advantage'])
      .default('fixed')
      .describe('fixed: beta; advantage: beta * |A| / clip_ratio_low (paper: control tasks only)'),
    kl_ref: z
      .strictObject({
        coef: z
          .number()
          .nonnegative()
          .default(0)
          .describe('Reference-model KL coefficient; 0 = no reference model is loaded'),
        estimator: z
          .enum(['k1', 'k2', 'k3'])
          .default('k3')
          .describe('KL estimator (Schulman): k1 = log ratio, k2 = squared/2, k3 = r - 1 - log r'),
      })
      .prefault({})
      .describe('KL to the initial (reference) model'),
    entropy_coef: z.number().default(0).describe('Entropy bonus coefficient (loss -= coef * entropy)'),
    rollout_is_threshold: z
      .number()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        'Truncated importance sampling cap C (verl algorithm.rollout_correction.rollout_is_threshold, token level): each token\'s surrogate is weighted by min(pi_proximal / pi_behaviour, C), the behaviour policy being the rollout engine\'s (AReaL decoupled PPO, docs/GTR.md "Off-policy samples"); null = off. Typical 2',
      ),
  })
  .describe('Policy loss');

export const AlgorithmSchema = z
  .strictObject({
    name: z
      .enum(['gtr', 'grpo'])
      .default('gtr')
      .describe('gtr: GRPO + Gaussian trust-region penalty; grpo: plain GRPO (optionally with another penalty)'),
    advantage: z
      .enum(['grpo', 'dr_grpo', 'rloo'])
      .default('grpo')
      .describe('grpo: (R - mean) / (std + 1e-6); dr_grpo: R - mean; rloo: leave-one-out baseline'),
    dynamic_sampling: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe('Filter groups whose rewards are all equal (DAPO dynamic sampling)'),
        mode: z
          .enum(['drop', 'refill'])
          .default('drop')
          .describe('drop: train on the remaining groups; refill: sample more prompts until the batch is full'),
        max_refill_batches: nonNegInt()
          .default(3)
          .describe('refill: at most this many extra generation rounds per step'),
      })
      .prefault({})
      .describe('Dynamic sampling (DAPO)'),
    loss: LossSchema.prefault({}),
  })
  .superRefine((a, ctx) => {
    const p = a.loss.penalty;
    if (a.name === 'gtr' && p !== null && p !== 'gtr') {
      ctx.addIssue({
        code: 'custom',
        path: ['loss', 'penalty'],
        message: `algorithm.name gtr uses the gtr penalty; got "${p}" (use algorithm.name: grpo for other penalties)`,
      });
    }
    if (a.name === 'grpo' && p === 'gtr') {
      ctx.addIssue({ code: 'custom', path: ['loss', 'penalty'], message: 'the gtr penalty needs algorithm.name: gtr' });
    }
  })
  .transform((a) => ({ ...a, loss: { ...a.loss, penalty: a.loss.penalty ?? (a.name === 'gtr' ? 'gtr' : 'none') } }))
  .describe('RL algorithm: advantages, sampling filter and loss');

export const TrainSchema = z
  .strictObject({
    prompts_per_step: posInt()
      .default(128)
      .describe('Prompts per training step (rollout batch = prompts_per_step x samples_per_prompt sequences)'),
    mini_batches_per_epoch: posInt().default(4).describe('Optimizer steps per pass over the rollout batch'),
    epochs_per_step: posInt()
      .default(2)
      .describe('Passes over each rollout batch (the update-to-data ratio; GTR mixture anchors = one per epoch)'),
    tokens_per_micro_batch: posInt()
      .default(16384)
      .describe('Token budget of one packed forward/backward (gradient accumulation splits mini-batches into these)'),
    steps: posInt().default(500).describe('Training steps'),
    lr: z.number().positive().default(1e-6).describe('Peak learning rate (AdamW)'),
    warmup_steps: nonNegInt().default(0).describe('Linear warm-up steps'),
    schedule: z.enum(['constant', 'cosine']).default('constant').describe('Learning-rate schedule after warm-up'),
    weight_decay: z.number().nonnegative().default(0.01).describe('AdamW decoupled weight decay'),
    adam_betas: z.tuple([prob(), prob()]).default([0.9, 0.999]).describe('AdamW (beta1, beta2)'),
    adam_eps: z.number().positive().default(1e-8).describe('AdamW epsilon'),
    max_grad_norm: z.number().positive().nullable().default(1.0).describe('Global gradient-norm clip; null = off'),
    activation_checkpointing: z.boolean().default(true).describe('Recompute activations in backward to save memory'),
    sharding: z
      .enum(['none', 'optimizer', 'full'], {
        error: (iss) => `must be one of none, optimizer, full (got ${JSON.stringify(iss.input)})`,
      })
      .default('none')
      .describe(
        'Sharded training state over the data-parallel ranks (README "Sharding"): none = every rank holds the whole AdamW state; optimizer = ZeRO-1/2, fp32 masters, AdamW moments and gradients sharded 1/W, the gradients of each micro-batch reduce-scattered after its backward and the updated shards all-gathered; full = ZeRO-3 / FSDP, the parameters sharded too, each decoder layer all-gathered before its forward and its backward and freed after, gradients reduce-scattered per layer, the full weights gathered for each rollout phase',
      ),
    gathered_weights_budget_gib: z
      .number()
      .nonnegative()
      .default(0)
      .describe(
        'train.sharding: full: GiB per rank that may hold the gathered full weights between rollout phases; when the weights fit they are kept (no re-gather before each rollout, updated in place after each optimizer step), else freed after each rollout phase. 0 = always free',
      ),
    seed: z
      .number()
      .int()
      .default(0)
      .describe('Seed of the prompt order and of anything else not covered by rollout.seed'),
    max_consecutive_skipped_steps: nonNegInt()
      .default(5)
      .describe(
        'Stop the run after this many steps in a row whose every optimizer update was skipped (non-finite loss or gradient); 0 = never stop',
      ),
  })
  .describe('Optimisation');

export const EvalSchema = z
  .strictObject({
    every_steps: nonNegInt().default(50).describe('Evaluate every N training steps (and after the last); 0 = never'),
    benchmarks: z
      .array(datasetName())
      .default(['math500', 'olympiadbench', 'minerva', 'amc23'])
      .describe('Datasets to evaluate on (datasets/manifest.json names)'),
    n: posInt().default(4).describe('Samples per problem'),
    k: z.array(posInt()).default([1, 4]).describe('pass@k values reported (each <= n)'),
    limit: posInt().nullable().default(null).describe('Use only the first N problems of each benchmark; null = all'),
    template: templateEnum.default('dapo').describe('Prompt template for evaluation'),
    temperature: z.number().min(0).default(1.0).describe('Sampling temperature'),
    top_p: z.number().gt(0).max(1).default(1.0).describe('Nucleus sampling mass'),
    max_new_tokens: posInt().default(4096).describe('Maximum response length in tokens'),
  })
  .superRefine((e, ctx) => {
    e.k.forEach((k, i) => {
      if (k > e.n)
        ctx.addIssue({
          code: 'custom',
          path: ['k', i],
          message: `pass@${k} needs at least ${k} samples but eval.n is ${e.n}`,
        });
    });
  })
  .describe('Periodic evaluation');

export const CheckpointSchema = z
  .strictObject({
    every_steps: nonNegInt().default(100).describe('Save every N steps (and after the last); 0 = only at the end'),
    keep_last: posInt().default(2).describe('Keep the N most recent checkpoints'),
  })
  .describe('Checkpoints (HF layout, resumable)');

export const RunSchema = z
  .strictObject({
    dir: z.string().min(1).default('runs/gtr').describe('Run directory (resolved.yaml, metrics, samples, checkpoints)'),
    log_samples_per_step: nonNegInt().default(4).describe('Responses written to the sample log per step'),
    tensorboard: z
      .boolean()
      .default(true)
      .describe('Write TensorBoard event files to <run.dir>/tensorboard (same metric names as metrics.jsonl)'),
    report: z
      .boolean()
      .default(true)
      .describe('Refresh the HTML report <run.dir>/report.html after every step (also: gtr report <run.dir>)'),
  })
  .describe('Run outputs');

/** The whole recipe. Parse `{}` to get every default. */
export const RecipeSchema = z
  .strictObject({
    model: ModelSchema.prefault({}),
    data: DataSchema.prefault({}),
    rollout: RolloutSchema.prefault({}),
    reward: RewardSchema.prefault({}),
    algorithm: AlgorithmSchema.prefault({}),
    train: TrainSchema.prefault({}),
    eval: EvalSchema.prefault({}),
    checkpoint: CheckpointSchema.prefault({}),
    run: RunSchema.prefault({}),
  })
  .superRefine((r, ctx) => {
    for (const issue of checkSchedule(r)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

/** A fully resolved recipe (every default filled, `algorithm.loss.penalty` resolved). */
export type Recipe = z.output<typeof RecipeSchema>;
/** A recipe as written (every key optional). */
export type RecipeInput = z.input<typeof RecipeSchema>;
