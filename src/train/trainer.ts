/**
 * The training engine's TS face: a native Trainer (native/train) bound to one policy, with
 * micro-batch splitting by a token budget, mini-batch loss normalisation, the learning-rate
 * schedule, the multi-epoch mixture-anchor loop (docs/GTR.md "Mixture Gaussian anchor") and state files.
 * The RL loop (src/rl/update.ts) drives the epochs, snapshots and mini-batches with these methods.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { native } from '../native/binding.js';
import type {
  MemoryReport,
  MemoryReportOptions,
  NativePolicy,
  NativeProcessGroup,
  NativeStepResult,
  NativeTokenScores,
  NativeTrainer,
  NativeTrainerOptions,
  NativeTrainMetrics,
} from '../native/types.js';
import { resolveLossConfig, type LossConfig } from './loss-config.js';
import {
  checkBatch,
  countResponse,
  sliceBatch,
  splitByTokenBudget,
  type PackedBatch,
  type TrainBatch,
} from './microbatch.js';
import { lrAt, type LrSchedule } from './schedule.js';
import type { Recipe } from '../recipe/index.js';
import { writeFileAtomic, writeFileAtomicWith } from '../checkpoint/save.js';
import { shardStateFile } from '../run/dir.js';

export interface TrainerOptions extends Omit<NativeTrainerOptions, 'reference'> {
  /** Learning-rate schedule (the lr of optimizer step k is lrAt(k, schedule)). */
  schedule: LrSchedule;
  /** Max tokens per micro-batch (recipe train.tokens_per_micro_batch; forward + backward at once). Default 8192. */
  tokensPerMicroBatch?: number;
  /** Frozen reference policy (a second Policy loaded from the same checkpoint) for KL. */
  reference?: NativePolicy;
}

/**
 * The trainer's options from a recipe's `train` section: AdamW, gradient clipping, activation
 * checkpointing, sharding (with `weightBytes`, the trained weights' bytes, against
 * train.gathered_weights_budget_gib at 'full'), the micro-batch token budget and the learning-rate schedule. Recipe warm-up and
 * total steps count the caller's steps; `optimizerStepsPerStep` converts them to optimizer steps
 * (RL: epochs_per_step x mini_batches_per_epoch; SFT: 1).
 */
export function trainerOptionsFromRecipe(
  t: Recipe['train'],
  optimizerStepsPerStep = 1,
  reference?: NativePolicy,
  weightBytes?: number,
): TrainerOptions {
  return {
    betas: t.adam_betas,
    eps: t.adam_eps,
    weightDecay: t.weight_decay,
    maxGradNorm: t.max_grad_norm ?? 0,
    checkpointLayers: t.activation_checkpointing,
    // Only when sharded, so an unsharded trainer's options (and trainer_state.json) stay as they were.
    ...(t.sharding !== 'none' ? { sharding: t.sharding } : {}),
    ...(t.sharding === 'full' && weightBytes !== undefined
      ? { keepGatheredWeights: weightBytes <= t.gathered_weights_budget_gib * 2 ** 30 }
      : {}),
    tokensPerMicroBatch: t.tokens_per_micro_batch,
    ...(reference ? { reference } : {}),
    schedule: {
      lr: t.lr,
      warmupSteps: t.warmup_steps * optimizerStepsPerStep,
      kind: t.schedule,
      totalSteps: t.steps * optimizerStepsPerStep,
    },
  };
}

/** File names inside a trainer state directory. */
export const STATE_TENSORS_FILE = 'optimizer.safetensors';
export const STATE_JSON_FILE = 'trainer_state.json';

/** How a sharded trainer state was written (trainer_state.json `sharding`). */
export interface ShardingJson {
  level: 'optimizer' | 'full';
  worldSize: number;
}

interface StateJson {
  format: 'gtr-trainer-state';
  version: 1;
  step: number;
  tokensPerMicroBatch: number;
  schedule: LrSchedule;
  options: Omit<NativeTrainerOptions, 'reference'>;
  /** Present when sharded: every rank's shard file is `shardStateFile(rank, worldSize)`. */
  sharding?: ShardingJson;
}

export class Trainer {
  /** The native engine (for calls this class does not wrap). */
  readonly native: NativeTrainer;
  /** The one micro-batch split's budget: sequences are packed in order up to this many tokens. */
  readonly tokensPerMicroBatch: number;
  schedule: LrSchedule;
  private readonly options: Omit<NativeTrainerOptions, 'reference'>;
  private disposed = false;
  /** This rank and the world size (set by setProcessGroup; a single process is rank 0 of 1). */
  private rank = 0;
  private worldSize = 1;

  /**
   * @param policy the native Policy to train (its parameters are updated in place)
   * @throws Error when the policy was disposed, the reference is the same object, or an option is invalid
   */
  constructor(policy: NativePolicy, options: TrainerOptions) {
    const { schedule, tokensPerMicroBatch, reference, ...nativeOptions } = options;
    this.tokensPerMicroBatch = tokensPerMicroBatch ?? 8192;
    if (!Number.isInteger(this.tokensPerMicroBatch) || this.tokensPerMicroBatch <= 0)
      throw new Error(`tokensPerMicroBatch must be a positive integer, got ${tokensPerMicroBatch}`);
    lrAt(0, schedule); // validates
    this.schedule = schedule;
    this.options = nativeOptions;
    this.native = new (native().Trainer)(policy, reference ? { ...nativeOptions, reference } : nativeOptions);
  }

  /** train.sharding (NativeTrainerOptions.sharding): 'none' unless the recipe shards. */
  get sharding(): 'none' | 'optimizer' | 'full' {
    return this.options.sharding ?? 'none';
  }

  /**
   * Data parallelism over `pg` (null: a single process): rank 0's weights are broadcast, and with
   * train.sharding: optimizer each rank keeps its 1/W shard of the optimizer state from now on. Call
   * before loadState when sharded (the shards depend on the world size).
   * @throws Error when a collective fails, or when sharded and a step or loadState already ran
   */
  async setProcessGroup(pg: NativeProcessGroup | null): Promise<void> {
    this.check();
    await this.native.setProcessGroup(pg);
    this.rank = pg && pg.size > 1 ? pg.rank : 0;
    this.worldSize = pg && pg.size > 1 ? pg.size : 1;
  }

  /** sharding 'full': gathers the full weights into the policy (collective; see NativeTrainer.gatherWeights). */
  gatherWeights(): Promise<void> {
    this.check();
    return this.native.gatherWeights();
  }

  /** sharding 'full': frees the gathered weights unless kept (collective). */
  releaseWeights(): Promise<void> {
    this.check();
    return this.native.releaseWeights();
  }

  /** How many micro-batches `logprobs` / `accumulate` split `b` into (the token budget's split). */
  microBatchCount(b: PackedBatch): number {
    return splitByTokenBudget(b.seqLens, this.tokensPerMicroBatch).length;
  }

  /**
   * Sharded levels: `n` micro-batches' collectives with no tokens (a rank with fewer micro-batches
   * than another joins the others' collectives: at 'full' the per-layer gathers and reduce-scatters,
   * at 'optimizer' each training micro-batch's gradient reduce-scatter, with zeros); no-op otherwise.
   */
  async idleMicroBatches(kind: 'score' | 'train', n: number): Promise<void> {
    this.check();
    if (this.sharding === 'none' || (this.sharding === 'optimizer' && kind === 'score')) return;
    for (let k = 0; k < n; k++) await this.native.idleMicroBatch(kind);
  }

  /** This rank's shard file name (sharded levels). */
  get shardFile(): string {
    return shardStateFile(this.rank, this.worldSize);
  }

  /**
   * Sharded levels: writes this rank's shards of the optimizer state to `dir/<shardFile>`
   * atomically (temporary file, fsync, rename). Every rank calls it; `saveState` then writes the
   * JSON beside them (rank 0). Call between steps.
   * @throws Error when not sharded, when gradients are pending, or when a write fails
   */
  async saveShard(dir: string): Promise<string> {
    this.check();
    if (this.sharding === 'none') throw new Error('saveShard: train.sharding is none (saveState writes the state)');
    await mkdir(dir, { recursive: true });
    const path = join(dir, this.shardFile);
    await writeFileAtomicWith(path, (tmp) => this.native.saveState(tmp));
    return path;
  }

  /** Optimizer updates applied so far. */
  get stepCount(): number {
    return this.native.stepCount;
  }

  private check(): void {
    if (this.disposed) throw new Error('the trainer was disposed');
  }

  private async score(b: PackedBatch, reference: boolean): Promise<NativeTokenScores> {
    this.check();
    checkBatch(b);
    const total = b.tokens.length;
    const out = { logprobs: new Float32Array(total), entropy: new Float32Array(total) };
    for (const r of splitByTokenBudget(b.seqLens, this.tokensPerMicroBatch)) {
      const mb = sliceBatch(b, r);
      const s = reference
        ? await this.native.referenceLogprobs(mb.tokens, mb.seqLens, mb.responseMask)
        : await this.native.logprobs(mb.tokens, mb.seqLens, mb.responseMask);
      out.logprobs.set(s.logprobs, r.tokStart);
      out.entropy.set(s.entropy, r.tokStart);
    }
    return out;
  }

  /**
   * No-grad per-token log-probs and entropies under the policy (float32 [T], 0 outside the mask),
   * split into the same micro-batches as `accumulate` would split `b` (score one mini-batch per
   * call), so ratios against them start at exactly 1 (the same rows in the same matmuls). Use for
   * oldLogprobs (before the update) and per-epoch snapshots.
   */
  logprobs(b: PackedBatch): Promise<NativeTokenScores> {
    return this.score(b, false);
  }

  /** The same under the reference policy; rejects when the trainer has none. */
  referenceLogprobs(b: PackedBatch): Promise<NativeTokenScores> {
    return this.score(b, true);
  }

  /**
   * Forward + loss + backward of every micro-batch of `b` (one mini-batch); gradients accumulate
   * until `step`. Denominators default to b's own response-token / sequence counts.
   * @param anchors snapshot log-probs of epochs 1..e (each float32 [T]); [] in epoch 0
   * @returns each micro-batch's metrics
   * @throws Error on mismatched array lengths or an invalid loss config (before any native work)
   */
  async accumulate(
    b: TrainBatch,
    loss: Partial<LossConfig> | LossConfig,
    anchors: Float32Array[] = [],
    denominators = countResponse(b),
  ): Promise<NativeTrainMetrics[]> {
    this.check();
    checkBatch(b, anchors);
    const nl = resolveLossConfig(loss);
    if (nl.klCoef! > 0 && !b.refLogprobs)
      throw new Error('loss.klCoef > 0 needs batch.refLogprobs (Trainer.referenceLogprobs)');
    if ((nl.rolloutIsThreshold ?? 0) > 0 && !b.rolloutLogprobs)
      throw new Error("loss.rolloutIsThreshold > 0 needs batch.rolloutLogprobs (the rollout engine's log-probs)");
    const d = { tokens: Math.max(1, denominators.tokens), sequences: Math.max(1, denominators.sequences) };
    const out: NativeTrainMetrics[] = [];
    for (const r of splitByTokenBudget(b.seqLens, this.tokensPerMicroBatch)) {
      const mb = sliceBatch(b, r);
      out.push(
        await this.native.trainMicroBatch({
          tokens: mb.tokens,
          seqLens: mb.seqLens,
          responseMask: mb.responseMask,
          advantages: mb.advantages,
          oldLogprobs: mb.oldLogprobs,
          anchorLogprobs: anchors.map((a) => a.subarray(r.tokStart, r.tokEnd)),
          ...(mb.refLogprobs ? { refLogprobs: mb.refLogprobs } : {}),
          ...(mb.rolloutLogprobs ? { rolloutLogprobs: mb.rolloutLogprobs } : {}),
          loss: nl,
          denominators: d,
        }),
      );
    }
    return out;
  }

  /** One optimizer update at `lr` (default: the schedule's lr for this step). Skips on non-finite loss / gradient. */
  step(lr?: number): Promise<NativeStepResult> {
    this.check();
    return this.native.step({ lr: lr ?? lrAt(this.stepCount, this.schedule) });
  }

  /** accumulate + step: one optimizer step on one mini-batch. */
  async trainStep(
    b: TrainBatch,
    loss: Partial<LossConfig> | LossConfig,
    anchors: Float32Array[] = [],
  ): Promise<NativeStepResult> {
    await this.accumulate(b, loss, anchors);
    return this.step();
  }

  /** Drops accumulated gradients and step metrics. */
  zeroGrad(): Promise<void> {
    this.check();
    return this.native.zeroGrad();
  }

  /**
   * Writes `dir/optimizer.safetensors` (AdamW moments, fp32 masters, step counters, RNG states;
   * written by the native addon to a temporary path) and `dir/trainer_state.json` (step, schedule,
   * options), each committed atomically by src/checkpoint/save.ts (fsync, rename, directory fsync).
   * Weights are saved separately by src/checkpoint. Call between steps. Sharded (train.sharding:
   * optimizer): only the JSON (with the level and world size) is written here; each rank's
   * `saveShard` writes its shard file, which the caller places in `dir`.
   * @throws Error when gradients are pending or a write fails
   */
  async saveState(dir: string): Promise<void> {
    this.check();
    await mkdir(dir, { recursive: true });
    const sharding = this.sharding;
    if (sharding === 'none')
      await writeFileAtomicWith(join(dir, STATE_TENSORS_FILE), (tmp) => this.native.saveState(tmp));
    const json: StateJson = {
      format: 'gtr-trainer-state',
      version: 1,
      step: this.stepCount,
      tokensPerMicroBatch: this.tokensPerMicroBatch,
      schedule: this.schedule,
      options: this.options,
      ...(sharding !== 'none' ? { sharding: { level: sharding, worldSize: this.worldSize } } : {}),
    };
    await writeFileAtomic(join(dir, STATE_JSON_FILE), JSON.stringify(json, null, 2) + '\n');
  }

  /**
   * Restores what `saveState(dir)` wrote. The policy's weights must be loaded separately (same
   * checkpoint step). On CPU, continuing gives bitwise the weights of never having stopped.
   * @throws Error naming the file when it is missing, not a trainer state, or does not match this
   *   trainer (parameter names / shapes, fp32 masters), or when the JSON's step disagrees
   */
  async loadState(dir: string): Promise<void> {
    this.check();
    const path = join(dir, STATE_JSON_FILE);
    let json: StateJson;
    try {
      json = JSON.parse(await readFile(path, 'utf8')) as StateJson;
    } catch (e) {
      throw new Error(`${path}: cannot read trainer state: ${(e as Error).message}`);
    }
    if (json?.format !== 'gtr-trainer-state' || json.version !== 1)
      throw new Error(`${path}: not a GTR trainer state (format/version)`);
    const saved = json.sharding?.level ?? 'none';
    if (saved !== this.sharding)
      throw new Error(
        `${path}: the trainer state was saved with train.sharding: ${saved}, and this run has train.sharding: ${this.sharding}; resume with train.sharding: ${saved}` +
          (saved !== 'none' ? ` (or consolidate it with gtr checkpoint consolidate)` : ''),
      );
    if (json.sharding && json.sharding.worldSize !== this.worldSize)
      throw new Error(
        `${path}: the sharded trainer state was saved by ${json.sharding.worldSize} rank(s), and this run has ${this.worldSize}: each rank's optimizer shard depends on the world size, so resume with --nproc-per-node ${json.sharding.worldSize} (resharding to another world size is not supported)`,
      );
    await this.native.loadState(join(dir, json.sharding ? this.shardFile : STATE_TENSORS_FILE));
    if (this.stepCount !== json.step) {
      throw new Error(`${path}: step ${json.step} disagrees with ${STATE_TENSORS_FILE} (step ${this.stepCount})`);
    }
  }

  /** Frees the native optimizer state; the trainer is unusable after. Idempotent. */
  /**
   * Bytes this rank holds now by category, counted on the live tensors (NativeTrainer.memory):
   * weights, reference, gradients, optimizer state, gathered buffers, the rollout KV pool.
   */
  memory(options?: MemoryReportOptions): Promise<MemoryReport> {
    return this.native.memory(options);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.native.dispose();
  }
}
