/**
 * The memory planner: the bytes one rank holds, by category, for a model config, a world size, a
 * sharding level (`train.sharding`), LoRA or not, the rollout's KV pool and the micro-batch, and
 * whether the peak fits a GPU. `gtr train <recipe> --dry-run` prints it for a recipe; the README's
 * table comes from `bench/memory-plan.ts`.
 *
 * The categories are those the addon counts on live tensors (NativeTrainer.memory, native/core/
 * memory.h); test/memory-plan.test.ts checks the planner against it on CPU within 5%. With P
 * parameters in dtype bytes b, T trainable (= P, or the LoRA adapters), W ranks:
 *
 *   category     none          optimizer (ZeRO-1/2)   full (ZeRO-3 / FSDP)
 *   weights      P b           P b                    0              (the trained weights live in their master
 *                                                                    shard; LoRA with full is refused, as the trainer does)
 *   gradients    4 T           4 T / W                4 T / W        (fp32 accumulation; b T without masters at none;
 *                                                                    the sharded accumulators are fp32 always)
 *   optimizer    12 T          12 T / W               12 T / W       (fp32 master 4 T, exp_avg 4 T, exp_avg_sq 4 T;
 *                                                                    no master for fp32 params at none / optimizer,
 *                                                                    always one at full: b T / W when fp32)
 *   gathered     0             0                      U b in training (one unit gathered at a time, no
 *                                                     prefetch), P b in rollouts (the engine's full copy)
 *   reference    P b when a KL reference is loaded (kept whole at every level)
 *   kv pool      (blocks + 1) x layers x 2 x block_size x kv_heads x head_dim x b   (native/generate/engine.h)
 *
 * This is native/train/zero.h's layout (per-unit flat shards, FSDP's FlatParameter): at
 * `optimizer` (ZeRO-2) each micro-batch's gradients are reduce-scattered unit by unit after its
 * backward into this rank's fp32 shard accumulator, so a rank keeps 1/W of the accumulation plus
 * one micro-batch's transient full-size `.grad` (b T) and one unit's fp32 flat buffer (4 U); at
 * `full` a unit's parameters exist only while gathered (their home is this rank's master shard),
 * each unit's gradient is reduce-scattered as backward leaves it, and a rank keeps 1/W of it.
 * (ZeRO-3 keeps a bf16 parameter shard beside the fp32 master: P b / W more.)
 * U = max(one decoder layer, the embedding, an untied lm_head) in parameters: FSDP wraps each
 * decoder layer, and the root unit holds the embedding (DeepSpeed ZeRO-3 and torch FSDP gather
 * the same units). The formulas follow DeepSpeed's ZeRO paper (Rajbhandari et al. 2020, Sec. 5:
 * Psi(2 + 2 + K)/Nd with K = 12 for mixed-precision Adam) with gradients accumulated in fp32 as
 * native/train/optimizer.h does.
 *
 * Two phases peak differently: a rollout holds weights, the optimizer state, the gathered copy
 * (full) and the KV pool (its fixed size, or with the default budget its minimum, the rest of the
 * device being the pool's), never gradients (dropped at each optimizer step); an update holds
 * weights, optimizer state, gradients (plus the param-dtype `.grad` that backward writes before it
 * is absorbed), the gathered layers and the activations. Activations are an estimate (no walkable
 * tensor holds them; the formula is in {@link activationBytes}). The peak is the larger phase.
 */
import type { NativeQwen3Config } from '../native/types.js';
import { qwen3ParameterCount } from '../checkpoint/limits.js';
import { loraParameterCount } from '../checkpoint/lora.js';

export const SHARDING_LEVELS = ['none', 'optimizer', 'full'] as const;
/** `train.sharding`: none (replicas), optimizer (ZeRO-1/2), full (ZeRO-3 / FSDP). */
export type ShardingLevel = (typeof SHARDING_LEVELS)[number];

const GiB = 2 ** 30;

/**
 * GPUs by name, with the memory nvidia-smi reports (memory.total, MiB). Lower-case keys; `h100`
 * is the SXM5 80 GB part.
 */
export const GPU_MEMORY_MIB: Readonly<Record<string, number>> = {
  h100: 81559,
  'h100-80gb': 81559,
  h200: 143771,
  'a100-80gb': 81920,
  'a100-40gb': 40960,
  l40s: 46068,
  rtx4090: 24564,
};

/**
 * Parses `--gpu-memory`: a GPU name (see {@link GPU_MEMORY_MIB}) or a size with a unit (`80GiB`,
 * `80GB`, `81559MiB`, `140G` = GiB); a bare number is GiB.
 * @returns bytes and a label for the table
 * @throws Error naming `flag` and the accepted forms
 */
export function parseGpuMemory(value: string, flag = '--gpu-memory'): { bytes: number; label: string } {
  const v = value.trim().toLowerCase();
  const named = GPU_MEMORY_MIB[v];
  if (named !== undefined) return { bytes: named * 2 ** 20, label: `${v} (${(named / 1024).toFixed(1)} GiB)` };
  const m = /^(\d+(?:\.\d+)?)\s*(gib|gb|g|mib|mb|m|tib|tb)?$/.exec(v);
  if (!m)
    throw new Error(
      `${flag} ${value}: expected a size like 80GiB, 80GB or 81559MiB, or a GPU name (${Object.keys(GPU_MEMORY_MIB).join(', ')})`,
    );
  const x = Number(m[1]);
  const unit = m[2] ?? 'gib';
  const mult: Record<string, number> = {
    gib: GiB,
    g: GiB,
    gb: 1e9,
    mib: 2 ** 20,
    m: 2 ** 20,
    mb: 1e6,
    tib: 2 ** 40,
    tb: 1e12,
  };
  const bytes = x * mult[unit]!;
  if (!(bytes > 0)) throw new Error(`${flag} ${value}: must be above 0`);
  return { bytes, label: value };
}

/**
 * Memory a CUDA process cannot give to tensors: CUDA context, cuBLAS / NCCL workspaces, allocator
 * fragmentation. The same margin rollout.kv_cache_gib's default leaves (src/rollout/kv-budget.ts).
 */
export function deviceMarginBytes(deviceBytes: number): number {
  return 2 * GiB + 0.05 * deviceBytes;
}

export interface MemoryPlanInput {
  config: NativeQwen3Config;
  /** Parameter dtype (model.dtype); optimizer state is fp32 regardless. */
  dtype: 'float32' | 'bfloat16';
  worldSize: number;
  sharding: ShardingLevel;
  /** LoRA adapters (model.lora); null = full fine-tuning. */
  lora?: { r: number; target_modules: string[] } | null;
  /** fp32 master weights for non-fp32 params (the trainer's default, true). */
  fp32Master?: boolean;
  /** A frozen KL reference policy is loaded (algorithm.loss.kl_ref.coef > 0). */
  reference?: boolean;
  /** Prefetch of the next FSDP unit's gather (2 units live at once); default false, as zero.h (no prefetch). */
  prefetch?: boolean;
  rollout: {
    /** Sequences decoding at once at most (rollout.max_num_seqs). */
    maxNumSeqs: number;
    /** Sequences of one rank's generate call (prompts per rank x samples per prompt). */
    sequencesPerRank: number;
    /** Samples per prompt (rollout.samples_per_prompt): the prompt's full blocks are shared by them. */
    samplesPerPrompt: number;
    /** Longest prompt (data.max_prompt_tokens) and response (rollout.max_new_tokens), tokens. */
    maxPromptTokens: number;
    maxNewTokens: number;
    blockSize: number;
    /** rollout.kv_cache_gib; null = the pool the call needs (see {@link kvPoolBlocks}). */
    kvCacheGib?: number | null;
    /** An explicit pool size in allocatable blocks (generate's kvCacheBlocks); overrides kvCacheGib. */
    kvCacheBlocks?: number | null;
  };
  train: {
    /** train.tokens_per_micro_batch: packed tokens of one forward/backward. */
    tokensPerMicroBatch: number;
    /** train.activation_checkpointing. */
    activationCheckpointing: boolean;
    /** Rows of logits per chunk of the log-prob pass (Trainer logprobChunk, default 1024). */
    logprobChunk?: number;
  };
}

export interface MemoryPlanCategories {
  weights: number;
  reference: number;
  gradients: number;
  optimizer: number;
  /** Training phase: the gathered FSDP units (full). */
  gathered: number;
  /** Rollout phase: the engine's gathered full copy (full). */
  gatheredRollout: number;
  /** The pool: its fixed size, or (default budget) what max_num_seqs sequences at full length need. */
  kvPool: number;
  /** Estimate (see {@link activationBytes}). */
  activations: number;
  /** Backward's param-dtype .grad before it is absorbed into the fp32 accumulation. */
  gradientsInBackward: number;
}

export interface MemoryPlan {
  input: MemoryPlanInput;
  parameters: number;
  trainableParameters: number;
  /** Parameters of the largest FSDP unit (decoder layer, embedding or lm_head). */
  largestUnit: number;
  kvBlocks: number;
  kvBlockBytes: number;
  /**
   * The KV pool is a fixed size (rollout.kv_cache_gib or a block count given). Otherwise on CUDA
   * the default pool takes the memory left after everything else (src/rollout/kv-budget.ts): the
   * rollout phase then counts only the pool's minimum, and {@link fitsDevice} says how many
   * sequences at full length the rest holds.
   */
  kvFixed: boolean;
  /** One sequence at full length (max_prompt_tokens + max_new_tokens) in KV blocks' bytes. */
  kvSequenceBytes: number;
  /** The smallest pool a call runs with: the longest sequence beside one prompt's held blocks, plus the null block. */
  kvMinBytes: number;
  /** Bytes per rank by category. */
  bytes: MemoryPlanCategories;
  /** The optimizer state's parts (bytes per rank). */
  optimizerParts: { master: number; exp_avg: number; exp_avg_sq: number };
  /** Peak of each phase and the larger. */
  rollout: number;
  update: number;
  peak: number;
  peakPhase: 'rollout' | 'update';
}

/** Parameters of the largest unit FSDP gathers at once: a decoder layer, the embedding or an untied lm_head. */
export function largestUnitParameters(c: NativeQwen3Config): number {
  const layerOnly = qwen3ParameterCount({ ...c, numHiddenLayers: 1, vocabSize: 0 }) - c.hiddenSize;
  return Math.max(layerOnly, c.vocabSize * c.hiddenSize);
}

/** Bytes of one KV block: layers x 2 (K, V) x block_size x kv_heads x head_dim x dtype bytes (engine.cpp kv_block_bytes). */
export function kvBlockBytes(c: NativeQwen3Config, blockSize: number, dtypeBytes: number): number {
  return c.numHiddenLayers * 2 * blockSize * c.numKeyValueHeads * c.headDim * dtypeBytes;
}

/**
 * Allocatable blocks of one rank's KV pool (the engine allocates one more, the null block):
 * kvCacheBlocks when given; else what the call can use with every running sequence at full length
 * (min(sequences, max_num_seqs) x ceil((prompt + new - 1) / block_size), plus each prompt's shared
 * full blocks and one held partial block: ceil(running / samples) x (floor(prompt / block_size) + 1);
 * with max_num_seqs >= sequences this is exactly the engine's `unbounded`), capped by kvCacheGib.
 */
export function kvPoolBlocks(r: MemoryPlanInput['rollout'], blockBytes: number): number {
  const running = Math.min(r.sequencesPerRank, r.maxNumSeqs);
  const perSeq = Math.ceil((r.maxPromptTokens + r.maxNewTokens - 1) / r.blockSize);
  const prompts = Math.ceil(running / r.samplesPerPrompt);
  const needed = running * perSeq + prompts * (Math.floor(r.maxPromptTokens / r.blockSize) + 1);
  if (r.kvCacheBlocks) return Math.min(r.kvCacheBlocks, needed);
  if (r.kvCacheGib) return Math.min(Math.floor((r.kvCacheGib * GiB) / blockBytes), needed);
  return needed;
}

/**
 * Activation bytes of one micro-batch of T tokens (an estimate, not counted by the addon): with
 * activation checkpointing, each decoder layer's input [T, H] is kept (L T H b) and one layer's
 * working set is live during its recompute and backward; without it, every layer's. A layer's
 * working set, saved for backward in the model dtype: the two norms' outputs and the residual
 * (3 T H), q and the attention output (2 T heads D), k and v (2 T kv_heads D), the MLP's gate,
 * up, silu(gate) and product (4 T I); doubled for the gradients flowing back through it. Plus the
 * log-prob pass: one chunk of fp32 logits, its softmax and its gradient (3 x chunk x vocab x 4).
 */
export function activationBytes(
  c: NativeQwen3Config,
  tokens: number,
  dtypeBytes: number,
  checkpointing: boolean,
  logprobChunk = 1024,
): number {
  const T = tokens,
    H = c.hiddenSize,
    D = c.headDim;
  const layer =
    T * (3 * H + 2 * c.numAttentionHeads * D + 2 * c.numKeyValueHeads * D + 4 * c.intermediateSize) * dtypeBytes * 2;
  const kept = checkpointing ? c.numHiddenLayers * T * H * dtypeBytes + layer : c.numHiddenLayers * layer;
  return kept + 3 * Math.min(logprobChunk, T) * c.vocabSize * 4;
}

/**
 * Plans one rank's memory (formulas in the module comment).
 * @throws Error naming the field when the world size is not a positive integer or the sharding
 *   level is unknown
 */
export function planMemory(input: MemoryPlanInput): MemoryPlan {
  const { config: c, worldSize: W, sharding } = input;
  if (!Number.isInteger(W) || W < 1) throw new Error(`world size must be an integer >= 1, got ${W}`);
  if (!SHARDING_LEVELS.includes(sharding))
    throw new Error(`train.sharding "${String(sharding)}" is not one of ${SHARDING_LEVELS.join(', ')}`);
  if (sharding === 'full' && input.lora)
    throw new Error(
      'train.sharding: full shards the trained parameters, and with model.lora those are the adapters only (the trainer refuses it): use optimizer or none',
    );
  const b = input.dtype === 'float32' ? 4 : 2;
  const P = qwen3ParameterCount(c);
  const lora = input.lora ?? null;
  const A = lora ? loraParameterCount(c, lora) : 0;
  const T = lora ? A : P;
  const master = (input.fp32Master ?? true) && b !== 4;
  const stateShard = sharding === 'none' ? 1 : 1 / W;
  const gradShard = sharding === 'none' ? 1 : 1 / W;
  const U = largestUnitParameters(c);

  const full = sharding === 'full';
  // At full the trained parameters live in their master shard (zero.h) (LoRA is refused there).
  const weights = full ? 0 : (P + A) * b;
  // The sharded levels accumulate reduce-scattered shards in fp32 (zero.h), with or without masters.
  const gradients = (master || sharding !== 'none' ? 4 : b) * T * gradShard;
  // Masters: at none and optimizer for non-fp32 params only (AdamW::uses_master; fp32 params are
  // their own masters); at full always, in fp32 with masters on, else in the param dtype.
  const masterBytes = full ? (master || b === 4 ? 4 : b) : master ? 4 : 0;
  const optimizerParts = {
    master: masterBytes * T * stateShard,
    exp_avg: 4 * T * stateShard,
    exp_avg_sq: 4 * T * stateShard,
  };
  const optimizer = optimizerParts.master + optimizerParts.exp_avg + optimizerParts.exp_avg_sq;
  // At W = 1 `full` still gathers through the same code (a copy), so its buffers count there too.
  const gathered = full ? (input.prefetch ? 2 : 1) * U * b : 0;
  const gatheredRollout = full ? P * b : 0;
  const reference = input.reference ? P * b : 0;
  const r = input.rollout;
  const blockBytes = kvBlockBytes(c, r.blockSize, b);
  const kvBlocks = kvPoolBlocks(r, blockBytes);
  const kvPool = (kvBlocks + 1) * blockBytes;
  const kvFixed = Boolean(r.kvCacheBlocks || r.kvCacheGib);
  const seqBlocks = Math.ceil((r.maxPromptTokens + r.maxNewTokens - 1) / r.blockSize);
  const kvMinBytes = (seqBlocks + Math.floor(r.maxPromptTokens / r.blockSize) + 1 + 1) * blockBytes;
  const activations = activationBytes(
    c,
    input.train.tokensPerMicroBatch,
    b,
    input.train.activationCheckpointing,
    input.train.logprobChunk,
  );
  // Backward writes each trainable tensor's .grad in the param dtype; with full sharding it is
  // reduce-scattered unit by unit (through an fp32 flat buffer), so one unit's worth lives at once;
  // at optimizer the whole micro-batch's .grad lives until its reduce-scatter, which goes unit by
  // unit through one fp32 flat buffer (4 U; LoRA's adapter units are small beside A b).
  const gradientsInBackward = lora ? A * b : full ? U * (b + 4) : sharding === 'optimizer' ? T * b + 4 * U : T * b;

  const resident = weights + reference + optimizer;
  const rollout = resident + gatheredRollout + (kvFixed ? kvPool : kvMinBytes);
  const update = resident + gradients + gradientsInBackward + gathered + activations;
  return {
    input,
    parameters: P,
    trainableParameters: T,
    largestUnit: U,
    kvBlocks,
    kvBlockBytes: blockBytes,
    kvFixed,
    kvSequenceBytes: seqBlocks * blockBytes,
    kvMinBytes,
    bytes: {
      weights,
      reference,
      gradients,
      optimizer,
      gathered,
      gatheredRollout,
      kvPool,
      activations,
      gradientsInBackward,
    },
    optimizerParts,
    rollout,
    update,
    peak: Math.max(rollout, update),
    peakPhase: rollout > update ? 'rollout' : 'update',
  };
}

export interface DeviceFit {
  fits: boolean;
  /** Device bytes less {@link deviceMarginBytes}. */
  usable: number;
  /** usable - peak (negative: short by that much). */
  headroom: number;
  /** What the rollout phase leaves for the KV pool (the default budget's size). */
  kvRoom: number;
  /** Sequences at full length the KV room holds at once, at most max_num_seqs (0 when it holds none). */
  kvSequences: number;
}

/**
 * Whether a plan fits `deviceBytes` less {@link deviceMarginBytes}: the peak (with a default KV
 * budget, the pool's minimum) must fit; and the room the rollout leaves for the KV pool.
 */
export function fitsDevice(plan: MemoryPlan, deviceBytes: number): DeviceFit {
  const usable = deviceBytes - deviceMarginBytes(deviceBytes);
  const kvRoom = Math.max(0, usable - (plan.rollout - (plan.kvFixed ? plan.bytes.kvPool : plan.kvMinBytes)));
  const kvSequences = Math.min(
    plan.input.rollout.maxNumSeqs,
    plan.input.rollout.sequencesPerRank,
    Math.floor(kvRoom / plan.kvSequenceBytes),
  );
  return { fits: plan.peak <= usable, usable, headroom: usable - plan.peak, kvRoom, kvSequences };
}

const gib = (n: number) => (n / GiB).toFixed(2);

/**
 * The plan as a text table (GiB per rank): one row per category with the phase it belongs to,
 * the two phases' sums, the peak and, with a device size, whether it fits.
 */
export function formatMemoryPlan(plan: MemoryPlan, device?: { bytes: number; label: string }): string {
  const p = plan.input;
  const x = plan.bytes;
  const lines: string[] = [];
  lines.push(
    `memory plan per rank: ${plan.parameters.toLocaleString('en-US')} parameters (${p.dtype}), ` +
      `${plan.trainableParameters.toLocaleString('en-US')} trainable${p.lora ? ` (LoRA r ${p.lora.r})` : ''}, ` +
      `world size ${p.worldSize}, train.sharding ${p.sharding}`,
  );
  const rows: [string, number, string][] = [
    ['weights', x.weights, 'both'],
    ['reference policy', x.reference, 'both'],
    [
      `optimizer (master ${gib(plan.optimizerParts.master)}, exp_avg ${gib(plan.optimizerParts.exp_avg)}, exp_avg_sq ${gib(plan.optimizerParts.exp_avg_sq)})`,
      x.optimizer,
      'both',
    ],
    ['gradients (fp32 accumulation)', x.gradients, 'update'],
    ['gradients in backward (.grad before accumulation)', x.gradientsInBackward, 'update'],
    ['gathered unit (full: the largest, one at a time)', x.gathered, 'update'],
    ['activations (estimate)', x.activations, 'update'],
    ['gathered weights for the rollout (full)', x.gatheredRollout, 'rollout'],
    plan.kvFixed
      ? [
          `KV pool (${plan.kvBlocks} blocks of ${p.rollout.blockSize} tokens, ${(plan.kvBlockBytes / 2 ** 20).toFixed(2)} MiB each)`,
          x.kvPool,
          'rollout',
        ]
      : [`KV pool minimum (rollout.kv_cache_gib null: the pool takes what is left)`, plan.kvMinBytes, 'rollout'],
  ];
  const w = Math.max(...rows.map((r) => r[0].length), 20);
  lines.push(`  ${'category'.padEnd(w)}  ${'GiB'.padStart(9)}  phase`);
  for (const [name, bytes, phase] of rows) lines.push(`  ${name.padEnd(w)}  ${gib(bytes).padStart(9)}  ${phase}`);
  lines.push(`  ${'rollout phase'.padEnd(w)}  ${gib(plan.rollout).padStart(9)}`);
  lines.push(`  ${'update phase'.padEnd(w)}  ${gib(plan.update).padStart(9)}`);
  lines.push(`  ${'peak'.padEnd(w)}  ${gib(plan.peak).padStart(9)}  (${plan.peakPhase})`);
  if (!plan.kvFixed)
    lines.push(
      `  KV for max_num_seqs ${Math.min(p.rollout.maxNumSeqs, p.rollout.sequencesPerRank)} sequences at full length ` +
        `(${p.rollout.maxPromptTokens} + ${p.rollout.maxNewTokens} tokens, ${gib(plan.kvSequenceBytes)} GiB each): ${gib(x.kvPool)} GiB`,
    );
  if (device) {
    const f = fitsDevice(plan, device.bytes);
    lines.push(
      `fits ${device.label}: ${f.fits ? 'yes' : 'NO'} (usable ${gib(f.usable)} GiB after a ${gib(device.bytes - f.usable)} GiB margin for ` +
        `the CUDA context, workspaces and fragmentation; ${f.fits ? 'headroom' : 'short by'} ${gib(Math.abs(f.headroom))} GiB)`,
    );
    if (f.fits)
      lines.push(
        `KV room in rollouts: ${gib(f.kvRoom)} GiB = ${f.kvSequences} sequences at full length at once` +
          (f.kvSequences < Math.min(p.rollout.maxNumSeqs, p.rollout.sequencesPerRank)
            ? ` (fewer than max_num_seqs: the engine admits what fits and preempts the rest)`
            : ''),
      );
  }
  return lines.join('\n');
}

/** What {@link planInputFromRecipe} reads of a recipe (structural, so it does not import the schema). */
export interface PlanRecipe {
  model: { dtype: string; lora: { r: number; target_modules: string[] } | null };
  data: { max_prompt_tokens: number };
  rollout: {
    samples_per_prompt: number;
    max_new_tokens: number;
    kv_cache_gib: number | null;
    block_size: number;
    max_num_seqs: number;
  };
  algorithm: { loss: { kl_ref: { coef: number } } };
  train: {
    prompts_per_step: number;
    tokens_per_micro_batch: number;
    activation_checkpointing: boolean;
    sharding?: ShardingLevel;
  };
}

/**
 * The planner's input for a recipe as configured at `worldSize` ranks: its dtype, LoRA, KL
 * reference, `train.sharding` (none when the recipe has no such key), each rank's share of the
 * rollout batch (ceil(prompts_per_step / W) prompts x samples_per_prompt), the KV pool settings and
 * the micro-batch.
 */
export function planInputFromRecipe(r: PlanRecipe, config: NativeQwen3Config, worldSize: number): MemoryPlanInput {
  const promptsPerRank = Math.ceil(r.train.prompts_per_step / worldSize);
  return {
    config,
    dtype: r.model.dtype === 'float32' ? 'float32' : 'bfloat16',
    worldSize,
    sharding: r.train.sharding ?? 'none',
    lora: r.model.lora,
    reference: r.algorithm.loss.kl_ref.coef > 0,
    rollout: {
      maxNumSeqs: r.rollout.max_num_seqs,
      sequencesPerRank: promptsPerRank * r.rollout.samples_per_prompt,
      samplesPerPrompt: r.rollout.samples_per_prompt,
      maxPromptTokens: r.data.max_prompt_tokens,
      maxNewTokens: r.rollout.max_new_tokens,
      blockSize: r.rollout.block_size,
      kvCacheGib: r.rollout.kv_cache_gib,
    },
    train: {
      tokensPerMicroBatch: r.train.tokens_per_micro_batch,
      activationCheckpointing: r.train.activation_checkpointing,
    },
  };
}
