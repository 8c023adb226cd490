/**
 * The update phase of one RL step (docs/GTR.md "Mixture Gaussian anchor"; DAPO token-level loss):
 * old log-probs recomputed by the trainer, then for each of E epochs the snapshot log-probs taken
 * at the epoch's start (GTR's anchors: epoch e averages the behaviour policy and e snapshots, e + 1
 * anchors), the epoch's shuffled mini-batches (./batch.ts, the one mini-batch planner), each
 * handed whole to the trainer, which cuts it into micro-batches by its token budget (the one
 * micro-batch split, src/train/trainer.ts) and accumulates their gradients, and one optimizer
 * step per mini-batch.
 *
 * Old and snapshot log-probs are scored mini-batch by mini-batch as the epoch trains (so the
 * trainer cuts the same micro-batches), so every ratio is exactly 1 before the epoch's first
 * update, on any device.
 */
import {
  gatherPerToken,
  miniBatches,
  packSamples,
  responseTokenCount,
  scatterPerSample,
  type TrainSample,
} from './batch.js';
import { DistContext } from '../parallel/context.js';
import { hasPenalty } from '../train/loss-config.js';
import type { LossConfig, StepMetrics, TrainerEngine } from './engines.js';

export interface UpdateSettings {
  epochs: number;
  miniBatchesPerEpoch: number;
  loss: LossConfig;
  /** 'mixture': anchors are the behaviour policy plus one snapshot per epoch; 'behavior': only the former. */
  anchor: 'mixture' | 'behavior';
  useReference: boolean;
  seed: number;
}

export interface UpdateResult {
  /** Mean |sampler - trainer| log-prob over response tokens (the rollout/training mismatch). */
  logprobGap: number;
  /** The applied (not skipped) optimizer steps' metrics averaged over them (finite numeric values only). */
  metrics: Record<string, number>;
  /** Each optimizer step's metrics, in order (epoch-major). */
  steps: StepMetrics[];
  optimizerSteps: number;
  skippedSteps: number;
  oldLogprobMs: number;
  snapshotMs: number;
  updateMs: number;
}

/**
 * An epoch's plan: its mini-batches (indices of this rank's samples in each), with the loss
 * denominators of the whole (global) mini-batch.
 */
type EpochPlan = {
  local: number[];
  denominators: { tokens: number; sequences: number };
  /** train.sharding optimizer / full: the most micro-batches any rank runs for this mini-batch (ranks pad to it). */
  microBatches?: number;
}[];

/**
 * The epoch's mini-batches. Data-parallel: every rank draws the single-process shuffle of the
 * global sample list (rank blocks concatenated in rank order; only response lengths are needed),
 * trains its own members of each global mini-batch, and divides by the global counts, so the summed
 * gradient is the single-process one. A rank with no member still joins the optimizer step.
 */
function planEpoch(
  samples: TrainSample[],
  s: UpdateSettings,
  step: number,
  epoch: number,
  global?: { lengths: Float64Array; offset: number },
): EpochPlan {
  const all = global
    ? Array.from(global.lengths, (n) => ({ responseTokens: { length: n } }) as unknown as TrainSample)
    : samples;
  const offset = global?.offset ?? 0;
  return miniBatches(all, s.miniBatchesPerEpoch, s.seed, step, epoch).map((mini) => {
    const local = mini.filter((i) => i >= offset && i < offset + samples.length).map((i) => i - offset);
    return {
      local,
      denominators: { tokens: responseTokenCount(all, mini), sequences: mini.length },
    };
  });
}

/** No-grad log-probs per sample (response positions only), scored mini-batch by mini-batch as `plan` packs them. */
async function score(
  trainer: TrainerEngine,
  samples: TrainSample[],
  plan: EpochPlan,
  reference = false,
): Promise<Float32Array[]> {
  const lp: Float32Array[] = samples.map(() => new Float32Array(0));
  for (const { local, microBatches } of plan) {
    // train.sharding: full: a rank with fewer micro-batches joins the others' per-layer gathers
    // (a no-op at optimizer, whose scoring has no collectives). The reference policy is not sharded.
    if (!reference && microBatches !== undefined)
      await trainer.idleMicroBatches!('score', microBatches - localMicroBatches(trainer, samples, local));
    if (local.length === 0) continue;
    const b = packSamples(samples, local);
    const r = await trainer.logprobs(
      { tokens: b.tokens, seqLens: b.seqLens, responseMask: b.responseMask },
      { reference },
    );
    scatterPerSample(samples, b, r.logprobs, lp);
  }
  return lp;
}

/** The micro-batches this rank's part of a mini-batch is split into (0 when it has none). */
function localMicroBatches(trainer: TrainerEngine, samples: TrainSample[], local: number[]): number {
  return local.length === 0 ? 0 : trainer.microBatchCount!(packSamples(samples, local));
}

/**
 * train.sharding optimizer / full (the trainer has idleMicroBatches): at full every forward and
 * backward is a collective (each layer all-gathered), at optimizer every training micro-batch ends
 * in a reduce-scatter of its gradients (ZeRO-2), so every rank must run the same number of
 * micro-batches.
 * Sets each mini-batch's `microBatches` to the most any rank runs (one gather of the counts).
 */
async function matchMicroBatches(
  trainer: TrainerEngine,
  samples: TrainSample[],
  plans: EpochPlan[],
  dist: DistContext,
): Promise<void> {
  if (!trainer.idleMicroBatches || !dist.distributed) return;
  const entries = plans.flat();
  const counts = entries.map((e) => localMicroBatches(trainer, samples, e.local));
  const all = await dist.gather(counts, 'micro-batch counts (train.sharding)');
  entries.forEach((e, i) => {
    let m = 0;
    for (let r = 0; r < dist.worldSize; r++) m = Math.max(m, all[r * entries.length + i]!);
    e.microBatches = m;
  });
}

/**
 * Runs the update phase on the step's samples. Throws what the trainer throws. `onPhase` is told
 * when the old log-probs and the updates start (the progress bar). With a distributed `dist`,
 * `samples` are this rank's block of the global batch (ranks in order) and every rank must call
 * this together; the trainer must have the same process group (gradients summed at each step).
 */
export async function updatePolicy(
  trainer: TrainerEngine,
  samples: TrainSample[],
  s: UpdateSettings,
  step: number,
  onPhase?: (phase: 'old_log_prob' | 'update') => void,
  dist: DistContext = DistContext.single(),
): Promise<UpdateResult> {
  let global: { lengths: Float64Array; offset: number } | undefined;
  if (dist.distributed) {
    const counts = await dist.counts(samples.length, 'sample counts');
    global = {
      lengths: await dist.gather(
        samples.map((x) => x.responseTokens.length),
        'response lengths',
      ),
      offset: counts.slice(0, dist.rank).reduce((a, b) => a + b, 0),
    };
  }
  const plans = Array.from({ length: s.epochs }, (_, e) => planEpoch(samples, s, step, e, global));
  await matchMicroBatches(trainer, samples, plans, dist);
  onPhase?.('old_log_prob');
  let t = performance.now();
  const old = await score(trainer, samples, plans[0]);
  let gap = 0,
    gapN = 0;
  samples.forEach((smp, i) => {
    for (let j = 0; j < old[i].length; j++) {
      gap += Math.abs(smp.samplerLogprobs[j] - old[i][j]);
      gapN++;
    }
  });
  [gap, gapN] = await dist.sum([gap, gapN], 'rollout/training log-prob gap');
  const ref = s.useReference ? await score(trainer, samples, plans[0], true) : undefined;
  const oldLogprobMs = performance.now() - t;
  onPhase?.('update');

  // The schedule plans epochs x mini_batches_per_epoch updates per step, but a mini-batch with no
  // sample is dropped (more mini-batches than sequences): the K updates that run are spread over the
  // step's P planned positions, the last at the step's last one, so the schedule ends where the
  // recipe says (K = P: positions are exactly the update counts).
  const planned = s.epochs * s.miniBatchesPerEpoch;
  const taken = plans.reduce((n, p) => n + p.length, 0);
  let update = 0;
  const position = () => (step - 1) * planned + (++update * planned) / taken - 1;
  const usesAnchors = s.anchor === 'mixture' && hasPenalty(s.loss);
  // Rollout correction: the behaviour log-probs are the rollout engine's (docs/GTR.md "Off-policy samples").
  const rolloutIs = (s.loss.rolloutIsThreshold ?? 0) > 0;
  const behaviour = samples.map((x) => x.samplerLogprobs);
  const anchors: Float32Array[][] = [];
  const steps: StepMetrics[] = [];
  let snapshotMs = 0,
    updateMs = 0;
  for (let epoch = 0; epoch < s.epochs; epoch++) {
    if (epoch > 0 && usesAnchors) {
      t = performance.now();
      anchors.push(await score(trainer, samples, plans[epoch]));
      snapshotMs += performance.now() - t;
    }
    t = performance.now();
    for (const { local, denominators, microBatches } of plans[epoch]) {
      if (microBatches !== undefined)
        await trainer.idleMicroBatches!('train', microBatches - localMicroBatches(trainer, samples, local));
      if (local.length > 0) {
        const b = packSamples(samples, local);
        await trainer.trainMiniBatch(
          {
            tokens: b.tokens,
            seqLens: b.seqLens,
            responseMask: b.responseMask,
            advantages: b.advantages,
            oldLogprobs: gatherPerToken(samples, b, old),
            anchorLogprobs: anchors.map((a) => gatherPerToken(samples, b, a)),
            refLogprobs: ref ? gatherPerToken(samples, b, ref) : undefined,
            rolloutLogprobs: rolloutIs ? gatherPerToken(samples, b, behaviour) : undefined,
            denominators,
          },
          s.loss,
        );
      }
      steps.push(await trainer.step(position()));
    }
    updateMs += performance.now() - t;
  }
  // Averages over the updates that were applied: a skipped (non-finite) update reports no ratio or
  // entropy, and counting it as 0 would hide the very divergence these metrics exist to show. When
  // every update was skipped the keys are absent (actor/skipped_steps says why).
  const sums: Record<string, { sum: number; n: number }> = {};
  for (const m of steps) {
    if (m.skipped === true) continue;
    for (const [k, v] of Object.entries(m))
      if (typeof v === 'number' && Number.isFinite(v)) {
        const a = (sums[k] ??= { sum: 0, n: 0 });
        a.sum += v;
        a.n++;
      }
  }
  const metrics: Record<string, number> = {};
  for (const [k, { sum, n }] of Object.entries(sums)) metrics[k] = sum / n;
  return {
    logprobGap: gapN ? gap / gapN : 0,
    metrics,
    steps,
    optimizerSteps: steps.length,
    skippedSteps: steps.filter((m) => m.skipped === true).length,
    oldLogprobMs,
    snapshotMs,
    updateMs,
  };
}
