/**
 * What the RL loop needs from the training engine, as a small interface: the loop is written
 * against it and src/rollout/engine.ts's RolloutEngine (so it can be tested with fakes), and
 * ./adapters.ts binds them to the native addon. Per-token arrays follow the packed layout of ./batch.ts.
 */
import type { NativeProcessGroup } from '../native/types.js';
import type { Policy } from '../policy.js';
import type { Recipe } from '../recipe/index.js';
import type { RolloutEngine } from '../rollout/engine.js';
import type { LossConfig } from '../train/loss-config.js';

/** The loss configuration the trainer takes (src/native/types.ts; built from the recipe by src/train/loss-config.ts). */
export type { LossConfig };

export interface PackedTokens {
  tokens: Int32Array;
  seqLens: Int32Array;
  responseMask: Uint8Array;
}

/** One mini-batch (this rank's part of it); the trainer cuts it into micro-batches by its token budget. */
export interface MiniBatch extends PackedTokens {
  advantages: Float32Array;
  oldLogprobs: Float32Array;
  /** Snapshot log-probs of epochs 1..e (the behaviour policy, epoch 0's anchor, is oldLogprobs). */
  anchorLogprobs: Float32Array[];
  refLogprobs?: Float32Array;
  /** The rollout engine's (behaviour-policy) log-probs, when the loss has rolloutIsThreshold > 0. */
  rolloutLogprobs?: Float32Array;
  /** Response tokens and sequences of the whole mini-batch (loss normalisation). */
  denominators: { tokens: number; sequences: number };
}

export type StepMetrics = Record<string, number | boolean | string>;

export interface TrainerEngine {
  /** No-grad per-token log-probs and entropies (0 outside the response mask). */
  logprobs(
    batch: PackedTokens,
    options?: { reference?: boolean },
  ): Promise<{ logprobs: Float32Array; entropy: Float32Array }>;
  /** Forward + loss + backward of each micro-batch of the mini-batch; gradients accumulate until step(). */
  trainMiniBatch(mb: MiniBatch, loss: LossConfig): Promise<Record<string, number>>;
  /**
   * One optimizer update at the schedule's learning rate; `skipped` when the loss or a gradient was
   * not finite. `position`: where the update sits in the schedule, in optimizer steps (fractional
   * when a step ran fewer updates than planned); default: the updates applied so far.
   */
  step(position?: number): Promise<StepMetrics>;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  /** Data parallelism: sum gradients over the group's ranks at each step (broadcasts rank 0's weights first). */
  setProcessGroup?(group: NativeProcessGroup): Promise<void>;
  /** Data parallelism: rejects unless every rank holds bitwise rank 0's weights. */
  verifyReplicas?(): Promise<void>;
  /**
   * Sharded training state (train.sharding: optimizer) only: every rank writes its shard file into
   * `dir` (atomically) and returns its path; rank 0's saveState writes the JSON. Present iff the
   * state is sharded; then loadState must run after setProcessGroup.
   */
  saveShard?(dir: string): Promise<string>;
  /**
   * train.sharding: full only (present iff): the hybrid engine's reshard. gatherWeights before a
   * rollout phase, an evaluation or a checkpoint's weights; releaseWeights after (a no-op when
   * the memory budget keeps them). Collectives: every rank calls them together.
   */
  gatherWeights?(): Promise<void>;
  releaseWeights?(): Promise<void>;
  /**
   * train.sharding optimizer / full only: at full every forward and backward gathers each layer
   * from every rank, at optimizer every training micro-batch reduce-scatters its gradients, so the
   * ranks must run the same number of micro-batches. microBatchCount: how many `logprobs` /
   * `trainMiniBatch` split a mini-batch into; idleMicroBatches: n micro-batches' collectives with
   * no tokens.
   */
  microBatchCount?(b: { seqLens: Int32Array }): number;
  idleMicroBatches?(kind: 'score' | 'train', n: number): Promise<void>;
}

/** Builds the engines for a policy (the native ones in ./adapters.ts; fakes in tests). */
export type EngineFactory = (
  policy: Policy,
  reference: Policy | undefined,
  recipe: Recipe,
) => { rollout: RolloutEngine; trainer: TrainerEngine & { dispose?(): void } };
