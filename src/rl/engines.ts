/**
 * What the RL loop needs from the rollout and training engines, as small interfaces: the loop is
 * written against these (so it can be tested with fakes), and ./adapters.ts binds them to the
 * native addon. Per-token arrays follow the packed layout of ./batch.ts.
 */

/** One sampled response. */
export interface GeneratedResponse {
  tokens: Int32Array;
  /** The sampler's log-prob of each token (float32, natural log, at the sampling temperature). */
  logprobs: Float32Array;
  finishReason: 'stop' | 'length';
}

export interface GenerateRequest {
  /** Samples per prompt (group size). */
  n: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  stopTokenIds: number[];
  seed: number;
}

export interface RolloutEngine {
  /** result[prompt][sample]; rejects with Error('generation cancelled') when `signal` aborts. */
  generate(prompts: Int32Array[], request: GenerateRequest, signal?: AbortSignal): Promise<GeneratedResponse[][]>;
}

/** The loss knobs the trainer takes (camelCase of recipe algorithm.loss, penalty resolved). */
export interface LossSettings {
  clipLow: number;
  clipHigh: number;
  dualClip: number | null;
  aggregation: 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum';
  penalty: 'gtr' | 'pearson' | 'spo' | 'kl' | 'none';
  sigma: number;
  beta: number;
  betaMode: 'fixed' | 'advantage';
  klCoef: number;
  klEstimator: 'k1' | 'k2' | 'k3';
  entropyCoef: number;
}

export interface PackedTokens {
  tokens: Int32Array;
  seqLens: Int32Array;
  responseMask: Uint8Array;
}

export interface MicroBatch extends PackedTokens {
  advantages: Float32Array;
  oldLogprobs: Float32Array;
  /** Snapshot log-probs of epochs 1..e (the behaviour policy, epoch 0's anchor, is oldLogprobs). */
  anchorLogprobs: Float32Array[];
  refLogprobs?: Float32Array;
  /** Response tokens and sequences of the whole mini-batch (loss normalisation). */
  denominators: { tokens: number; sequences: number };
}

export type StepMetrics = Record<string, number | boolean | string>;

export interface TrainerEngine {
  /** No-grad per-token log-probs and entropies (0 outside the response mask). */
  logprobs(batch: PackedTokens, options?: { reference?: boolean }): Promise<{ logprobs: Float32Array; entropy: Float32Array }>;
  /** Forward + loss + backward; gradients accumulate until step(). */
  trainMicroBatch(mb: MicroBatch, loss: LossSettings): Promise<Record<string, number>>;
  /** One optimizer update at the schedule's learning rate; `skipped` when the loss or a gradient was not finite. */
  step(): Promise<StepMetrics>;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
}
