/**
 * Binds the loop's engine interfaces to the native addon: the rollout engine (src/rollout/engine.ts)
 * and the trainer (./engines.ts, src/train).
 */
import type { Policy } from '../policy.js';
import type { Recipe } from '../recipe/index.js';
import { rolloutEngine } from '../rollout/engine.js';
import { lrAt } from '../train/schedule.js';
import { Trainer, trainerOptionsFromRecipe } from '../train/trainer.js';
import type { PackedBatch } from '../train/microbatch.js';
import type { StepMetrics, TrainerEngine } from './engines.js';

/**
 * The native trainer for a policy, configured by the recipe: AdamW, gradient clipping, activation
 * checkpointing, and the learning-rate schedule in optimizer steps (recipe warm-up and total steps
 * are RL steps, each of epochs_per_step x mini_batches_per_epoch optimizer steps).
 */
export function trainerEngine(
  policy: Policy,
  reference: Policy | undefined,
  recipe: Recipe,
): TrainerEngine & { dispose(): void } {
  const t = recipe.train;
  const perStep = t.epochs_per_step * t.mini_batches_per_epoch;
  const weightBytes = policy.numTrainable * (recipe.model.dtype === 'float32' ? 4 : 2);
  const trainer = new Trainer(policy.native, trainerOptionsFromRecipe(t, perStep, reference?.native, weightBytes));
  return {
    logprobs: (b, o) => (o?.reference ? trainer.referenceLogprobs(b) : trainer.logprobs(b)),
    trainMiniBatch: async (mb, loss) => {
      const metrics = await trainer.accumulate(
        {
          tokens: mb.tokens,
          seqLens: mb.seqLens,
          responseMask: mb.responseMask,
          advantages: mb.advantages,
          oldLogprobs: mb.oldLogprobs,
          ...(mb.refLogprobs ? { refLogprobs: mb.refLogprobs } : {}),
          ...(mb.rolloutLogprobs ? { rolloutLogprobs: mb.rolloutLogprobs } : {}),
        },
        loss,
        mb.anchorLogprobs,
        mb.denominators,
      );
      // A spread has no declared interface, so it fits the engine's Record without a cast.
      const last: Record<string, number> = { ...metrics[metrics.length - 1]! };
      return last;
    },
    step: async (position?: number): Promise<StepMetrics> => {
      const { reason, ...m } = await trainer.step(
        position === undefined ? undefined : lrAt(position, trainer.schedule),
      );
      return reason === undefined ? { ...m } : { ...m, reason };
    },
    saveState: (p) => trainer.saveState(p),
    loadState: (p) => trainer.loadState(p),
    setProcessGroup: (g) => trainer.setProcessGroup(g),
    ...(trainer.sharding !== 'none' ? { saveShard: (dir: string) => trainer.saveShard(dir) } : {}),
    ...(trainer.sharding === 'full'
      ? {
          gatherWeights: () => trainer.gatherWeights(),
          releaseWeights: () => trainer.releaseWeights(),
        }
      : {}),
    // Both sharded levels run collectives per micro-batch (full: per-layer gathers and
    // reduce-scatters; optimizer: each micro-batch's gradient reduce-scatter), so ranks pad to one count.
    ...(trainer.sharding !== 'none'
      ? {
          microBatchCount: (b: { seqLens: Int32Array }) => trainer.microBatchCount(b as PackedBatch),
          idleMicroBatches: (kind: 'score' | 'train', n: number) => trainer.idleMicroBatches(kind, n),
        }
      : {}),
    verifyReplicas: () => trainer.native.verifyReplicas(),
    dispose: () => trainer.dispose(),
  };
}

/** The native engines for `train()`. */
export const nativeEngines = (policy: Policy, reference: Policy | undefined, recipe: Recipe) => ({
  rollout: rolloutEngine(policy),
  trainer: trainerEngine(policy, reference, recipe),
});
