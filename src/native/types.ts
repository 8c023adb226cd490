/**
 * The typed description of the native addon's exports (native/addon.cpp). This is the only
 * description of the JS <-> C++ boundary; wrapper classes (src/policy.ts, ...) build on it.
 *
 * Conventions at the boundary:
 * - token ids are Int32Array; packed batches are one flat Int32Array plus per-sequence lengths
 *   (Int32Array, one entry per sequence, summing to the flat length);
 * - float results come back as Float32Array (float32, whatever the model's compute dtype);
 * - every slow call returns a Promise resolved by a Napi::AsyncWorker; C++ / libtorch exceptions
 *   reject it with an Error carrying their message.
 */

export type DType = 'float32' | 'bfloat16';

/** Qwen3 hyper-parameters as the native model takes them (camelCase of HF config.json). */
export interface NativeQwen3Config {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /**
   * Architecture switches (src/checkpoint/config.ts ARCHITECTURES; absent: Qwen3's). qkNorm: per-head
   * q/k RMSNorm (Qwen3); qkvBias: q/k/v_proj biases (Qwen2, attention_bias); oBias: o_proj bias
   * (attention_bias of Qwen3 / Llama); mlpBias: gate/up/down_proj biases (Llama mlp_bias).
   */
  qkNorm?: boolean;
  qkvBias?: boolean;
  oBias?: boolean;
  mlpBias?: boolean;
  /** RoPE scaling (Llama 3.1 / 3.2 `llama3`); absent: none. */
  ropeScaling?: {
    type: 'llama3';
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositionEmbeddings: number;
  };
}

/** One parameter of the native model, by its Hugging Face name. */
export interface TensorInfo {
  name: string;
  shape: number[];
  dtype: DType;
}

/** Safetensors dtype tags the native loader accepts. */
export type SafetensorsDType = 'F32' | 'BF16' | 'F16';

/**
 * Where one parameter's bytes lie in a safetensors file, already validated by the TS parser
 * (src/checkpoint/safetensors.ts). `offset` is the absolute byte offset in the file (8 + header
 * length + data_offsets[0]); `length` is data_offsets[1] - data_offsets[0]. The native side checks
 * the range against the file size again and the length against shape x dtype size.
 */
export interface TensorSource {
  name: string;
  file: string;
  dtype: SafetensorsDType;
  shape: number[];
  offset: number;
  length: number;
}

export interface NativePolicyOptions {
  /** 'cpu', 'cuda' or 'cuda:N'. */
  device: string;
  dtype: DType;
}

/** A Qwen3 causal LM held by the addon (native/policy/policy_wrap.cpp). */
export interface NativePolicy {
  /** Every parameter the model expects, in HF names and order (lm_head.weight only when untied). */
  parameterInfo(): TensorInfo[];
  /**
   * Adds LoRA adapters (PEFT layout: A [r, in] kaiming-uniform from `seed`, B [out, r] zero; scaling
   * alpha / r) to the `targetModules` projections of every layer. From then on every forward
   * (scoring, rollouts, training) applies them unmerged, and a Trainer built on this policy updates
   * the adapters only (the base is frozen, with no gradient or AdamW state). Throws naming a bad
   * field or an unknown module.
   */
  enableLora(config: { r: number; alpha: number; dropout?: number; targetModules: string[]; seed?: number }): void;
  /** The adapters by name (`model.layers.{i}.self_attn.q_proj.lora_A.weight`, ...); [] without LoRA. */
  adapterInfo(): TensorInfo[];
  /** Folds the adapters into the base weights (W += alpha / r * B A) and removes them. */
  mergeLora(): Promise<void>;
  /** HF-style init: normal(0, std) for embeddings and linears, ones for RMSNorm weights. */
  initRandom(seed: number, std: number): Promise<void>;
  /** Reads (memory-mapped) and copies the given tensors into the parameters, converting dtype. */
  loadTensors(sources: TensorSource[]): Promise<void>;
  /**
   * Writes one safetensors file: `header` is the complete prefix (8-byte little-endian length +
   * JSON header, padded), then the named parameters' bytes in the given order, stored as `dtype`.
   * The caller built the header's offsets for exactly that order and dtype. The file is fsynced.
   */
  writeSafetensors(path: string, header: Uint8Array, names: string[], dtype: SafetensorsDType): Promise<void>;
  /** Logits of a packed batch: returns float32 [totalTokens x vocabSize], row-major. */
  forwardLogits(tokens: Int32Array, seqLens: Int32Array): Promise<Float32Array>;
  /**
   * Per-token log-probs of a packed batch without gradient: out[i] = log p(tokens[i] | tokens[<i]
   * of the same sequence); 0 at each sequence's first token. Float32Array [totalTokens].
   */
  tokenLogprobs(tokens: Int32Array, seqLens: Int32Array): Promise<Float32Array>;
  /**
   * Bytes held now: the weights (parameters and LoRA adapters, by dtype) plus the registered
   * categories (the KV pool of a running or past generate call: its peak; gathered buffers).
   * Gradients and optimizer state are the Trainer's ({@link NativeTrainer.memory}).
   */
  memory(options?: MemoryReportOptions): Promise<MemoryReport>;
  /** Frees the weights now (the object is unusable after). */
  dispose(): void;
  /** Number of parameter elements (a tied lm_head counted once). Throws after dispose(). */
  readonly numParameters: number;
  /** Where the weights live, as libtorch names it: 'cpu', 'cuda:0'. Throws after dispose(). */
  readonly device: string;
  /** The weights' dtype: 'float32' | 'bfloat16'. Throws after dispose(). */
  readonly dtype: 'float32' | 'bfloat16';
}

export interface NativeVersions {
  addon: string;
  libtorch: string;
  cudaCompiled: boolean;
  /** Built with NCCL (c10d::ProcessGroupNCCL): multi-GPU `--nproc-per-node` on CUDA. */
  ncclCompiled: boolean;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  cudaDeviceNames: string[];
  numThreads: number;
}

/**
 * Options of the native rollout engine (native/generate). Every field is optional; the sampler
 * follows transformers' warpers in its order: temperature, top-k, top-p, min-p.
 */
export interface NativeGenerateOptions {
  /** Samples per prompt (group size), integer >= 1. Default 1. */
  n?: number;
  /** New tokens per sample at most, integer >= 1. Default 128. */
  maxNewTokens?: number;
  /** >= 0; 0 = greedy argmax. Default 1. */
  temperature?: number;
  /** (0, 1]; 1 = off. Default 1. */
  topP?: number;
  /** Integer >= 0; 0 (or >= vocab) = off. Default 0. */
  topK?: number;
  /** [0, 1]; 0 = off. Default 0. */
  minP?: number;
  /** Token ids that end a sample (included as its last token). Default none. */
  stopTokenIds?: Int32Array | number[];
  /** Integer in [0, 2^53). Default 0. */
  seed?: number;
  /**
   * The tokenizer's size (Tokenizer.vocabSize): ids >= vocabSize, the rows of a padded embedding
   * (Qwen3: 151936 rows for 151669 tokens), are never sampled and take no part in the warpers; the
   * returned log-probs stay over every id, as the trainer computes them. Default: every id.
   */
  vocabSize?: number;
  /**
   * Added to each prompt's index in the sampling stream (integer >= 0, default 0): a data-parallel
   * rank sampling prompts [offset, offset + P) of a global batch draws exactly their tokens.
   */
  promptIndexOffset?: number;
  /** Running sequences at most (block-table rows); 0 / absent = min(total sequences, 256). */
  maxNumSeqs?: number;
  /** Token budget of one packed prefill pass. Default 8192. */
  prefillTokens?: number;
  /** Debug: return each step's float32 logits per sample (`logits`, [tokens x vocab]). */
  returnLogits?: boolean;
  /** Tokens per KV block, a power of two in [1, 1024]. Default 32. */
  blockSize?: number;
  /**
   * KV pool budget in GiB (2^30 bytes); 0 / absent = as many blocks as the call can use (every
   * sequence at full length: nothing is ever preempted). Too small for the longest sequence: an
   * error naming the budget and the minimum.
   */
  kvCacheGib?: number;
  /** KV pool size in blocks (overrides kvCacheGib; tests). */
  kvCacheBlocks?: number;
  /** Stop strings, matched on the generated bytes; need `tokenBytes`. */
  stopStrings?: string[];
  /** Byte string of every token id: id i is bytes[offsets[i], offsets[i + 1]). */
  tokenBytes?: { bytes: Uint8Array; offsets: Int32Array };
  /** Debug: check the KV block allocator's invariants every step (also GTR_KV_DEBUG=1). */
  checkBlocks?: boolean;
  /** Test hook: preempt one running sequence every k decode steps (0 = off). */
  preemptEvery?: number;
  /**
   * Benchmarks: a length cap per sequence (prompt-major, prompts x n entries in [1, maxNewTokens]),
   * standing in for EOS with random weights (finishReason 'length' at the cap).
   */
  targetLengths?: Int32Array;
  /**
   * Benchmarks: schedule only (blocks allocated, shared, preempted and freed as in a real call; no
   * model runs, every token is 0). Measures a shape's KV memory in seconds.
   */
  dryRun?: boolean;
}

/** One sample as the native engine returns it. */
export interface NativeRollout {
  promptIndex: number;
  sampleIndex: number;
  /** Generated token ids (the prompt excluded; a stop token is the last one). */
  tokens: Int32Array;
  /** log softmax(logits / T)[token] per token (untruncated; T = 1 when greedy). */
  logprobs: Float32Array;
  finishReason: 'stop' | 'length';
  /** With stop strings: byte offset (in the response's UTF-8 bytes) where the matched stop string begins. */
  stopOffset?: number;
  /** Times this sample was preempted (its KV blocks freed) and recomputed. */
  preemptions: number;
  timings: { prefillMs: number; decodeMs: number; tokens: number };
  /** Only with returnLogits: float32 [tokens x vocab], the raw logits each token was drawn from. */
  logits?: Float32Array;
}

export interface NativeGenerateStats {
  wallMs: number;
  prefillMs: number;
  decodeMs: number;
  steps: number;
  generatedTokens: number;
  prefillTokens: number;
  /** Prompt prefills run: one per prompt (samples share it). */
  promptPrefills: number;
  /** Block-table rows (running sequences at most). */
  slots: number;
  /** Longest sequence the call can hold, in tokens (longest prompt + maxNewTokens - 1). */
  maxLen: number;
  /** True when the CUDA kernels ran the decode step. */
  cudaKernels: boolean;
  /** Decode steps replayed from CUDA graphs, and graphs captured. */
  graphSteps: number;
  graphs: number;
  /** KV pool: allocatable blocks, tokens per block, bytes (the null block included). */
  kvBlocks: number;
  blockSize: number;
  kvBytes: number;
  /** Blocks in use at the peak and at the end (0 unless blocks leaked). */
  peakBlocks: number;
  blocksInUseEnd: number;
  /** Sequences preempted (blocks freed) and the recomputation prefills that resumed them. */
  preemptions: number;
  resumePrefills: number;
  /** Mean running sequences per decode step. */
  meanRunning: number;
}

export interface NativeGenerateResult {
  /** rollouts[prompt][sample]. */
  rollouts: NativeRollout[][];
  stats: NativeGenerateStats;
}

export interface NativeGenerateProgress {
  finishedSequences: number;
  totalSequences: number;
  generatedTokens: number;
}

/** A running native generation: cancel() makes `promise` reject with Error('generation cancelled'). */
export interface NativeGenerateHandle {
  promise: Promise<NativeGenerateResult>;
  cancel(): void;
}

/** Kernels with test / bench hooks (native/cuda/kernel_hooks.cpp). */
export type KernelName =
  | 'decode_attention'
  | 'decode_attention_paged'
  | 'rms_norm'
  | 'rope'
  | 'swiglu'
  | 'logprob_entropy'
  | 'sample'
  | 'sample_stats'
  | 'sample_host';

/**
 * Options of a kernel hook; every field optional. Shapes: batch / rows / tokens, heads, kvHeads,
 * headDim, capacity (KV slots' positions), hidden, inter (MLP width), vocab; dtype 'bfloat16'
 * (default) | 'float32'; device 'cuda' | 'cpu'; seed (inputs are drawn from it). Kernel specific:
 * decode_attention { layout: 'bhsd' | 'bshd', splits (0 = auto), maxLength, zeroLength };
 * rms_norm { residual }; swiglu { strided }; sample / sample_stats { temperature, topK, topP, minP,
 * draws, std }. Host runs of the kernels' reduction trees (any build, no GPU; native/cuda/kernel_math.h):
 * decode_attention_paged { host: true, splits, blockSize, sharedBlocks }; sample_host { pattern:
 * 'normal' | 'ties' | 'neginf' | 'nan', and the sampler options } -> keptMismatch, tokenMismatch,
 * tokenErrors, libtorchMismatch, logprobMaxAbsDiff, nanRowsMarked.
 */
export type KernelHookOptions = Record<string, number | string | boolean>;

/**
 * kernelDebug's metrics: relative errors ||out - ref|| / ||ref|| against a float64 reference
 * (relErr, logprobRelErr, entropyRelErr, lseRelErr, gradRelErr, residualRelErr), the same for
 * libtorch's path in the kernel's dtype (refRelErr, refGradRelErr), max abs differences
 * (maxAbsErr, maxAbsVsRef, residualMaxAbsDiff, logprobMaxAbsDiff), sampler agreement
 * (mismatchFraction, inKeepFraction, keptMean, tokensInRange), sampler statistics (chi2PerDof,
 * dof, outsideKeep, tv), and usedKernel / finite / inPlace flags.
 */
export type KernelDebugResult = Record<string, number | boolean>;

/** kernelBench's timings (median ms over CUDA events) and effective bandwidth (bytes moved once). */
export interface KernelBenchResult {
  kernelMs: number;
  refMs: number;
  bytes: number;
  kernelGBps: number;
  refGBps: number;
}

/**
 * The loss configuration, one form from the recipe (src/train/loss-config.ts `lossConfig` builds it
 * from algorithm.loss) to the native trainer (native/train/losses.h LossConfig). Token loss
 * (docs/GTR.md "Token loss and aggregation"):
 *   loss(t) = surrogate(t) + beta_t * P_e(t) + klCoef * KL_ref(t) - entropyCoef * H(t)
 * - surrogate: PPO clip -min(r A, clip(r, 1 - clipLow, 1 + clipHigh) A) with verl's dual clip
 *   (verl core_algos.compute_policy_loss); 'spo' uses the unclipped -r A.
 * - P_e(t) = 1/(e+1) sum_{k=0..e} phi(r_k), r_k = exp(logp - logp_k), logp_0 = oldLogprobs,
 *   logp_k = the snapshot at the start of epoch k (docs/GTR.md "Mixture Gaussian anchor").
 * - phi: gaussian sigma^2 (1 - exp(-(r-1)^2 / (2 sigma^2))); pearson (r-1)^2; spo |A|/(2 eps) (r-1)^2;
 *   kl r log r - r + 1 (reverse KL to the anchor); k3 1/r + log r - 1.
 * - beta_t = beta ('fixed') or beta |A| / eps ('advantage'; eps = penaltyEps, default clipLow).
 * - KL_ref: k1 = logp - logp_ref, k2 = (logp - logp_ref)^2 / 2, k3 = exp(logp_ref - logp) -
 *   (logp_ref - logp) - 1 (Schulman's note; verl kl_penalty 'kl' / 'mse' / 'low_var_kl').
 * - aggregation (verl agg_loss): token-mean (DAPO, default), seq-mean-token-mean, seq-mean-token-sum,
 *   always normalised by the MINI-BATCH's counts.
 * Each field's recipe key and default are documented once, in the recipe schema (algorithm.loss).
 */
export interface LossConfig {
  /**
   * Native loss registry name: grpo (clip, no penalty), ppo (clip + `penalty`), gtr (clip +
   * gaussian), pearson, spo, kl (unknown names list the valid ones). The recipe's
   * algorithm.loss.penalty names it (none -> grpo, else the same name).
   */
  name: 'grpo' | 'ppo' | 'gtr' | 'pearson' | 'spo' | 'kl';
  /** algorithm.loss.clip_ratio_low (eps_low, applies where A < 0). */
  clipLow: number;
  /** algorithm.loss.clip_ratio_high (eps_high, A > 0). */
  clipHigh: number;
  /** algorithm.loss.dual_clip: c > 1 caps the loss of A < 0 tokens at -c A; 0 = off. */
  dualClip: number;
  /** Only for name 'ppo': 'none' | 'gaussian' | 'pearson' | 'spo' | 'kl' | 'k3'; must match (or be absent) for the others. */
  penalty?: 'none' | 'gaussian' | 'pearson' | 'spo' | 'kl' | 'k3';
  /** algorithm.loss.sigma: Gaussian width in ratio units. */
  sigma: number;
  /** algorithm.loss.beta: penalty weight (0 for penalty none). */
  beta: number;
  /** algorithm.loss.beta_mode: 'fixed' (beta) or 'advantage' (beta |A| / penaltyEps, paper App. B.2). */
  betaMode: 'fixed' | 'advantage';
  /** eps of the advantage-weighted beta and of SPO's |A|/(2 eps); absent = clipLow. */
  penaltyEps?: number;
  /** algorithm.loss.kl_ref.coef: reference-model KL weight (needs refLogprobs). */
  klCoef: number;
  /** algorithm.loss.kl_ref.estimator. */
  klEstimator: 'k1' | 'k2' | 'k3';
  /** algorithm.loss.entropy_coef: entropy bonus weight (subtracted from the loss). */
  entropyCoef: number;
  /** algorithm.loss.aggregation. */
  aggregation: 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum';
  /**
   * algorithm.loss.rollout_is_threshold (0 / absent = off): the cap C of the truncated importance
   * weight w = min(exp(oldLogprobs - rolloutLogprobs), C) that multiplies each token's surrogate
   * (AReaL's decoupled PPO objective with verl's token-level TIS; docs/GTR.md "Off-policy samples").
   * Needs rolloutLogprobs.
   */
  rolloutIsThreshold?: number;
}

/** Options of `new Trainer(policy, options)` (native/train/trainer_wrap.cpp). */
export interface NativeTrainerOptions {
  /** AdamW (beta1, beta2); default [0.9, 0.999]. */
  betas?: [number, number];
  /** AdamW eps; default 1e-8. */
  eps?: number;
  /** Decoupled weight decay; default 0.01. */
  weightDecay?: number;
  /** Global L2 gradient-norm clip; <= 0 = off; default 1. */
  maxGradNorm?: number;
  /** fp32 master weights and gradient accumulation for bf16 params; default true. */
  fp32Master?: boolean;
  /** Rows of logits per chunk in the log-prob path (memory O(chunk x vocab)); default 1024. */
  logprobChunk?: number;
  /** Activation checkpointing per decoder layer; default false. */
  checkpointLayers?: boolean;
  /**
   * Sharded training state (recipe train.sharding): 'none' (default; every rank holds the whole
   * AdamW state) | 'optimizer' (ZeRO-1/2: fp32 masters, AdamW moments and the gradients
   * sharded 1/W over the ranks of the process group, each micro-batch's gradients reduce-scattered
   * after its backward (every rank runs the same number of micro-batches: idleMicroBatch('train')
   * pads), updated shards all-gathered) | 'full' (ZeRO-3 /
   * FSDP: the parameters sharded too, each decoder layer gathered around its forward and backward,
   * gradients reduce-scattered per layer; `gatherWeights` before a rollout phase). Another name
   * throws, listing the valid ones. Not with LoRA at 'full'.
   */
  sharding?: 'none' | 'optimizer' | 'full';
  /** sharding 'full': keep the gathered weights between rollout phases (releaseWeights is a no-op); default false. */
  keepGatheredWeights?: boolean;
  /** A frozen reference Policy (same vocabulary) for referenceLogprobs. */
  reference?: NativePolicy;
}

/**
 * One micro-batch for `trainMicroBatch`. Packed layout: per-token arrays have one value per token
 * (value i is about token i given tokens [< i] of its sequence); values outside `responseMask`
 * are ignored; a sequence's first token must not be in the mask.
 */
export interface NativeMicroBatch {
  tokens: Int32Array;
  seqLens: Int32Array;
  /** 1 = response token (trained on). */
  responseMask: Uint8Array;
  /** Per-token advantage, float32 [T]. */
  advantages: Float32Array;
  /** Behaviour-policy log-probs (anchor k = 0), float32 [T]. */
  oldLogprobs: Float32Array;
  /** Snapshot log-probs of update epochs 1..e (the mixture anchor), each float32 [T]. */
  anchorLogprobs?: Float32Array[];
  /** Reference-model log-probs, float32 [T]; required when loss.klCoef > 0. */
  refLogprobs?: Float32Array;
  /** Behaviour-policy log-probs from the rollout engine, float32 [T]; required when loss.rolloutIsThreshold > 0. */
  rolloutLogprobs?: Float32Array;
  /** The loss configuration; a field left out takes the native default (src/train/loss-config.ts resolveLossConfig fills them). */
  loss: Pick<LossConfig, 'name'> & Partial<LossConfig>;
  /** The MINI-BATCH's response-token and sequence counts (global loss normalisation). */
  denominators: { tokens: number; sequences: number };
}

/** Metrics of a micro-batch or (merged over its micro-batches) of a step. Means are over response tokens. */
export interface NativeTrainMetrics {
  /** Loss contribution (= pgLoss + penaltyLoss + klLoss - entropyBonus). */
  loss: number;
  pgLoss: number;
  /** beta-weighted aggregated penalty. */
  penaltyLoss: number;
  /** klCoef-weighted aggregated reference KL. */
  klLoss: number;
  /** entropyCoef-weighted aggregated entropy (subtracted from the loss). */
  entropyBonus: number;
  ratioMean: number;
  ratioMin: number;
  ratioMax: number;
  ratioP5: number;
  ratioP50: number;
  ratioP95: number;
  /** Fraction of tokens with A < 0 and r < 1 - clipLow. */
  clipFracLow: number;
  /** Fraction of tokens with A > 0 and r > 1 + clipHigh. */
  clipFracHigh: number;
  clipFrac: number;
  dualClipFrac: number;
  /** Mean mixture penalty P_e (before beta). */
  penaltyMean: number;
  /** Mean |d P_e / d logp| (closed form). */
  penaltyGradAbsMean: number;
  /** Mean token entropy (nats). */
  entropy: number;
  /** Mean k3 estimate of KL(old || new): r - 1 - log r. */
  approxKl: number;
  /** Mean reference KL estimate (before klCoef); 0 when unused. */
  refKl: number;
  /** loss.rolloutIsThreshold > 0 only: mean truncated importance weight min(exp(old - rollout), C). */
  rolloutIsMean?: number;
  /** loss.rolloutIsThreshold > 0 only: largest untruncated weight exp(old - rollout). */
  rolloutIsMax?: number;
  /** loss.rolloutIsThreshold > 0 only: fraction of tokens whose weight was truncated. */
  rolloutIsClipFrac?: number;
  responseTokens: number;
  sequences: number;
  microBatches: number;
}

/** Result of `step`: the step's merged metrics and the update's outcome. */
export interface NativeStepResult extends NativeTrainMetrics {
  /** Global gradient L2 norm before clipping (NaN / Infinity when non-finite). */
  gradNorm: number;
  clipCoef: number;
  /** True when the update was skipped (weights untouched); `reason` says why. */
  skipped: boolean;
  reason?: string;
  lr: number;
  /** Updates applied so far. */
  step: number;
}

/** No-grad per-token log-probs and entropies, float32 [T], 0 outside the response mask. */
export interface NativeTokenScores {
  logprobs: Float32Array;
  entropy: Float32Array;
}

/** One category of a {@link MemoryReport}: bytes, and the same split into named parts. */
export interface MemoryCategory {
  /** Bytes (storage nbytes, each storage counted once in the whole report). */
  bytes: number;
  /**
   * The split: weights / reference / gradients by dtype ('bfloat16', 'float32'); optimizer by
   * state ('master', 'exp_avg', 'exp_avg_sq'); registered categories by registration name.
   */
  parts: Record<string, number>;
}

/** A registered category (buffers that live outside the model and optimizer): with its peak. */
export interface RegisteredMemoryCategory extends MemoryCategory {
  /** The largest live bytes seen since start or the last `resetPeaks` (at allocation points). */
  peak: number;
}

/**
 * Bytes per rank by category (Policy.memory / Trainer.memory; native/policy/memory_report.cpp).
 * A category with nothing in it reads 0.
 */
export interface MemoryReport {
  /** The model's device ('cpu', 'cuda:0'); every byte counted is the process's, on any device. */
  device: string;
  /** Sum of the categories' bytes now. */
  total: number;
  weights: MemoryCategory;
  /** The frozen reference policy's weights (0 without one). */
  reference: MemoryCategory;
  gradients: MemoryCategory;
  optimizer: MemoryCategory;
  /** All-gathered parameters of sharded training (ZeRO-3 layers, the rollout's full copy). */
  gathered: RegisteredMemoryCategory;
  /** The paged KV pool of generate calls: allocated bytes now / at peak, and the blocks in use. */
  kvPool: RegisteredMemoryCategory & {
    /** Bytes of the KV blocks in use now (0 between calls). */
    inUse: number;
    /** The most block bytes in use at once since start or the last resetPeaks. */
    peakInUse: number;
  };
}

export interface MemoryReportOptions {
  /** Restart the registered categories' peaks after this report (default false). */
  resetPeaks?: boolean;
}

/** The training engine bound to one Policy (native/train/trainer_wrap.cpp). */
export interface NativeTrainer {
  /**
   * No-grad log-probs / entropies under the policy, through the training forward path. Mask
   * default: all but first tokens.
   */
  logprobs(tokens: Int32Array, seqLens: Int32Array, responseMask?: Uint8Array): Promise<NativeTokenScores>;
  /** The same under the reference Policy; rejects when the trainer has none. */
  referenceLogprobs(tokens: Int32Array, seqLens: Int32Array, responseMask?: Uint8Array): Promise<NativeTokenScores>;
  /** Forward + loss + backward; gradients accumulate until step(). Input errors throw synchronously. */
  trainMicroBatch(mb: NativeMicroBatch): Promise<NativeTrainMetrics>;
  /** AdamW update from the accumulated gradients (skipped on a non-finite loss or gradient). */
  step(opts: { lr: number }): Promise<NativeStepResult>;
  /** Drops accumulated gradients and step metrics. */
  zeroGrad(): Promise<void>;
  /** Writes moments (+ fp32 masters), step counters and RNG states to one safetensors file, atomically. */
  saveState(path: string): Promise<void>;
  /** Restores what saveState wrote; rejects when the file does not match this trainer. */
  loadState(path: string): Promise<void>;
  /** Test hook: accumulated gradients by parameter name (float32 copies; zeros when none). */
  gradients(): Promise<{ name: string; grad: Float32Array }[]>;
  /**
   * Data parallelism over `pg` (null: single process): broadcasts rank 0's weights now; then every
   * step() sums the gradients over ranks (in buckets, before clipping), skips on every rank when
   * any rank's loss was non-finite, and reduces the step's metrics. Denominators must be global.
   */
  setProcessGroup(pg: NativeProcessGroup | null): Promise<void>;
  /** Rejects unless every rank holds bitwise rank 0's weights (names the ranks and the first parameter). */
  verifyReplicas(): Promise<void>;
  /**
   * Bytes this rank holds now, by category, counted by walking the real tensors (storage bytes,
   * each storage once; native/core/memory.h): the policy's weights, the reference policy's,
   * gradients (accumulated fp32 buffers and pending .grad), AdamW state (fp32 masters, exp_avg,
   * exp_avg_sq: created at the first step()), gathered buffers and the rollout KV pool. Waits for
   * a running step. The planner (src/train/memory-plan.ts) predicts the same categories.
   */
  memory(options?: MemoryReportOptions): Promise<MemoryReport>;
  /**
   * sharding 'full': all-gathers every layer's shards into the policy's weights (the hybrid
   * engine's reshard before a rollout phase, an evaluation or a checkpoint) / frees them again
   * (unless keepGatheredWeights). Collectives: every rank calls them together. No-ops otherwise.
   */
  gatherWeights(): Promise<void>;
  releaseWeights(): Promise<void>;
  /**
   * sharding 'full': the collectives of one micro-batch with no tokens ('score': a scoring
   * forward; 'train': forward and backward), for a rank with fewer micro-batches than another;
   * sharding 'optimizer' with 'train': the micro-batch's gradient reduce-scatter, with zeros. No-op otherwise.
   */
  idleMicroBatch(kind: 'score' | 'train'): Promise<void>;
  /** Bytes of this rank's optimizer state (moments, fp32 masters; their shards when sharded). */
  stateBytes(): number;
  /** sharding 'full': bytes of the gathered full-weight buffers now; 0 otherwise. */
  gatheredBytes(): number;
  /** Updates applied so far. */
  readonly stepCount: number;
  /** Frees the optimizer state now (workers in flight finish first); the object is unusable after. */
  dispose(): void;
}

/** Result of `Trainer.lossDebug` (float64, full length; 0 outside the mask). */
export interface NativeLossDebugResult {
  loss: number;
  pgLoss: number;
  penaltyLoss: number;
  klLoss: number;
  entropyBonus: number;
  /** d loss / d logp by autograd. */
  grad: Float64Array;
  /** d loss / d entropy, when `extra.entropy` was given. */
  entropyGrad?: Float64Array;
  ratio: Float64Array;
  penalty: Float64Array;
  penaltyGradAbs: Float64Array;
  clippedLow: Float64Array;
  clippedHigh: Float64Array;
  dualClipped: Float64Array;
  /** The truncated importance weight per token, when config.rolloutIsThreshold > 0. */
  rolloutIsWeight?: Float64Array;
}

/** The Trainer class with its registries' names as statics. */
export interface NativeTrainerConstructor {
  new (policy: NativePolicy, options?: NativeTrainerOptions): NativeTrainer;
  /** The loss registry's names. */
  lossNames(): string[];
  /** The penalty registry's names (what `penalty` takes with loss 'ppo'), in registry order. */
  penaltyNames(): string[];
}

/** What cudaMemory reports, in bytes. */
export interface NativeCudaMemory {
  allocated: number;
  peakAllocated: number;
  reserved: number;
  peakReserved: number;
  deviceFree: number;
  deviceTotal: number;
}

/** Options of `new ProcessGroup(...)` (native/parallel/process_group.h). */
export interface NativeProcessGroupOptions {
  rank: number;
  worldSize: number;
  /** The rendezvous TCPStore's host and port (MASTER_ADDR / MASTER_PORT). */
  masterAddr: string;
  masterPort: number;
  /**
   * This process serves the store (rank 0 of a `--nproc-per-node` launch); false under torchrun
   * (its agent serves it).
   */
  storeServer: boolean;
  /** 'gloo' (CPU tensors; Debian libgloo through build/Release/gtr_gloo.so) | 'nccl' (CUDA; c10d::ProcessGroupNCCL). */
  backend: 'gloo' | 'nccl';
  /** Store connect and every collective time out after this (ms). Default 30 min (torch's). */
  timeoutMs?: number;
  /** gloo: network interface to bind (GLOO_SOCKET_IFNAME); else `hostname`, else this host's name. */
  iface?: string;
  hostname?: string;
  /** nccl: this rank's CUDA device (LOCAL_RANK). */
  deviceIndex?: number;
  /** Path of gtr_gloo.so (default: next to the addon). */
  glooLibrary?: string;
}

/**
 * A group of ranks on a distributed engine (gloo or NCCL). Every rank must issue the same
 * collectives in the same order (await each before the next). A failure (a peer that exited, a
 * timeout) rejects with an Error naming this rank, the operation and its label. Construction only
 * records the options; `connect()` joins.
 */
export interface NativeProcessGroup {
  readonly rank: number;
  readonly size: number;
  readonly backend: string;
  /**
   * Joins the rendezvous store and the backend on a pool thread; resolves once every rank joined,
   * rejects on a failure or the store's timeout. A store that accepts connections but never answers
   * can keep it pending: callers bound the wait (src/dist/context.ts).
   */
  connect(): Promise<void>;
  /** In-place sum over ranks; resolves to the same array. */
  allReduceSum<T extends Float64Array | Float32Array>(values: T, label: string): Promise<T>;
  /** Every rank's array concatenated in rank order (lengths may differ); bitwise the inputs. */
  allGather(values: Float64Array, label: string): Promise<Float64Array>;
  /** Overwrites `bytes` on every rank with root's (same length everywhere). */
  broadcast(bytes: Uint8Array, root: number, label: string): Promise<Uint8Array>;
  barrier(label: string): Promise<void>;
  /** Drops this process's handle (the connection closes when no call uses it). */
  close(): void;
  /**
   * Weight sync, sending side (native/parallel/weight_sync.h): packs `policy`'s trainable tensors
   * (every parameter, or the LoRA adapters alone) into one byte buffer now, under the policy's
   * lock, so an update queued after this call does not change what is sent, then broadcasts a
   * header {tensors, bytes, layout hash, version} and the bytes from this rank. Resolves when the
   * broadcast is done; `ms` is the broadcast's wall time, `bytes` the packed size.
   */
  sendWeights(policy: NativePolicy, version: number, label: string): Promise<{ bytes: number; ms: number }>;
  /**
   * Weight sync, receiving side: receives `root`'s weights into a staging buffer on the policy's
   * device, leaving the live weights untouched (a generation may run meanwhile). Rejects when the
   * sender's layout differs from `policy`'s (another model, dtype or LoRA), naming both; one
   * receive at a time per group. Resolves to the version the root sent.
   */
  receiveWeights(
    policy: NativePolicy,
    root: number,
    label: string,
  ): Promise<{ version: number; bytes: number; ms: number }>;
  /**
   * Copies the staged weights into `policy` (under its lock, on the calling thread, so a generation
   * queued after this call uses them) and returns their version. Throws while a receive is in
   * flight or when nothing was received since the last load.
   */
  loadReceivedWeights(policy: NativePolicy): number;
}

export interface NativeAddon {
  /** The distributed engine's process group (native/parallel). */
  ProcessGroup: new (options: NativeProcessGroupOptions) => NativeProcessGroup;
  versions(): NativeVersions;
  Policy: new (config: NativeQwen3Config, options: NativePolicyOptions) => NativePolicy;
  /**
   * CUDA memory in bytes (after a device synchronise): the caching allocator's current and peak
   * allocated / reserved bytes, and the device's free and total memory (cudaMemGetInfo); null in
   * a build or on a machine without CUDA. reset = true resets the peaks after reading them.
   */
  cudaMemory(reset?: boolean, device?: number): NativeCudaMemory | null;
  /**
   * Rollout engine: samples `options.n` continuations of every prompt (token-id arrays of any
   * lengths) on the policy's device, with a KV cache and continuous batching, on a worker thread
   * (holding the policy's lock). Input errors (empty prompt, id outside the vocabulary with prompt
   * index and position, bad option) throw synchronously.
   */
  generate(
    policy: NativePolicy,
    prompts: Int32Array[],
    options: NativeGenerateOptions,
    onProgress?: (p: NativeGenerateProgress) => void,
  ): NativeGenerateHandle;
  /** The training engine (native/train): losses, chunked log-probs, AdamW, state. */
  Trainer: NativeTrainerConstructor;
  /** Test and bench hooks, apart from the production surface above. */
  testing: NativeTesting;
}

/**
 * The addon's test and bench hooks (`native().testing`): small synchronous entry points that run a
 * piece of the engine on given or seeded inputs so tests can compare it with an independent
 * reference. Not for production use; their inputs are not validated beyond what the tests need.
 */
export interface NativeTesting {
  /** Test hook: a native call that sleeps `ms` on the worker thread (async-worker tests). */
  sleepAsync(ms: number): Promise<void>;
  /**
   * Test hook: an FSDP-style gather cycle through the memory registry (native/core/memory.h): one
   * uint8 buffer of each size (bytes), tracked under `category` while it lives, freed before the
   * next (`prefetch`: after the next is allocated, two live at once). `keepLast` keeps one more
   * buffer of the last size alive until the next call, tracked twice (counted once). Throws for an
   * unknown category.
   */
  memoryTrackCycle(category: string, sizes: number[], options?: { prefetch?: boolean; keepLast?: boolean }): void;
  /**
   * Test hook (synchronous): runs kernel `name` and its libtorch reference on random inputs drawn
   * from opts.seed and returns error metrics. Uses the CUDA kernel when the device is CUDA and the
   * addon has CUDA kernels, the reference path otherwise (metrics are then trivially small).
   */
  kernelDebug(name: KernelName, opts?: KernelHookOptions): KernelDebugResult;
  /** Bench hook (synchronous, CUDA builds only; throws otherwise): kernel vs libtorch timing. */
  kernelBench(name: Exclude<KernelName, 'sample_stats' | 'sample_host'>, opts?: KernelHookOptions): KernelBenchResult;
  /**
   * Test hook: which tokens the sampler's warpers keep for float32 logits [rows x vocab] (row-major)
   * under the sampling options; returns a 0/1 Uint8Array of the same length. Synchronous.
   */
  sampleDebug(logits: Float32Array, vocab: number, options: NativeGenerateOptions): Uint8Array;
  /**
   * Test hook (synchronous): the registry's loss on float64 tensors with autograd. Arrays have one
   * entry per token; only `mask` tokens count. extra: seqLens (default one sequence), ref, entropy,
   * denominators (default: this call's counts).
   */
  lossDebug(
    logp: Float64Array,
    old: Float64Array,
    anchors: Float64Array[],
    adv: Float64Array,
    mask: Uint8Array,
    config: Partial<LossConfig>,
    extra?: {
      seqLens?: Int32Array;
      ref?: Float64Array;
      /** Behaviour-policy (rollout) log-probs; needed when config.rolloutIsThreshold > 0. */
      rollout?: Float64Array;
      entropy?: Float64Array;
      denominators?: { tokens: number; sequences: number };
    },
  ): NativeLossDebugResult;
  /**
   * Test hook (synchronous, float32): chunked (or, with naive, full-logits) log-probs and entropies of
   * hidden [N x hiddenSize] against weight [V x hiddenSize], and the gradients of
   * sum(logp * gradLogp) + sum(entropy * gradEntropy) with respect to hidden and weight.
   */
  chunkedLogprobDebug(args: {
    hidden: Float32Array;
    weight: Float32Array;
    targets: Int32Array;
    hiddenSize: number;
    chunk: number;
    gradLogp: Float32Array;
    gradEntropy: Float32Array;
    naive?: boolean;
  }): {
    logprobs: Float32Array;
    entropy: Float32Array;
    gradHidden: Float32Array;
    gradWeight: Float32Array;
  };
}
