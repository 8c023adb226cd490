/**
 * The update phase of one RL step (GTR.md "Mixture Gaussian anchor"; DAPO token-level loss):
 * old log-probs recomputed by the trainer, then for each of E epochs the snapshot log-probs taken
 * at the epoch's start (GTR's anchors), the epoch's shuffled mini-batches, micro-batches by token
 * budget with gradient accumulation, and one optimizer step per mini-batch.
 */
import { gatherPerToken, microBatches, miniBatches, packSamples, responseTokenCount, scatterPerSample, type TrainSample } from './batch.js';
import type { LossSettings, StepMetrics, TrainerEngine } from './engines.js';

export interface UpdateSettings {
  epochs: number;
  miniBatchesPerEpoch: number;
  tokensPerMicroBatch: number;
  loss: LossSettings;
  /** 'mixture': anchors are the behaviour policy plus one snapshot per epoch; 'behavior': only the former. */
  anchor: 'mixture' | 'behavior';
  useReference: boolean;
  seed: number;
}

export interface UpdateResult {
  /** Mean |sampler - trainer| log-prob over response tokens (the rollout/training mismatch). */
  logprobGap: number;
  /** The last optimizer step's metrics per epoch, and averages over all steps. */
  metrics: Record<string, number>;
  optimizerSteps: number;
  skippedSteps: number;
  oldLogprobMs: number;
  snapshotMs: number;
  updateMs: number;
}

async function scoreAll(trainer: TrainerEngine, samples: TrainSample[], budget: number, reference = false): Promise<{ lp: Float32Array[]; entropy: Float32Array[] }> {
  const lp: Float32Array[] = new Array(samples.length);
  const entropy: Float32Array[] = new Array(samples.length);
  const all = samples.map((_, i) => i);
  for (const mb of microBatches(samples, all, budget)) {
    const b = packSamples(samples, mb);
    const r = await trainer.logprobs({ tokens: b.tokens, seqLens: b.seqLens, responseMask: b.responseMask }, { reference });
    scatterPerSample(samples, b, r.logprobs, lp);
    scatterPerSample(samples, b, r.entropy, entropy);
  }
  return { lp, entropy };
}

/** Runs the update phase on the step's samples. Throws what the trainer throws. */
export async function updatePolicy(trainer: TrainerEngine, samples: TrainSample[], s: UpdateSettings, step: number): Promise<UpdateResult> {
  let t = performance.now();
  const old = await scoreAll(trainer, samples, s.tokensPerMicroBatch);
  let gap = 0, gapN = 0;
  samples.forEach((smp, i) => {
    for (let j = 0; j < smp.responseTokens.length; j++) {
      gap += Math.abs(smp.samplerLogprobs[j] - old.lp[i][j]);
      gapN++;
    }
  });
  const ref = s.useReference ? (await scoreAll(trainer, samples, s.tokensPerMicroBatch, true)).lp : undefined;
  const oldLogprobMs = performance.now() - t;

  const anchors: Float32Array[][] = [];
  const sums: Record<string, number> = {};
  let counted = 0, optimizerSteps = 0, skippedSteps = 0, snapshotMs = 0, updateMs = 0;
  for (let epoch = 0; epoch < s.epochs; epoch++) {
    if (epoch > 0 && s.anchor === 'mixture' && s.loss.penalty !== 'none' ) {
      t = performance.now();
      anchors.push((await scoreAll(trainer, samples, s.tokensPerMicroBatch)).lp);
      snapshotMs += performance.now() - t;
    }
    t = performance.now();
    for (const mini of miniBatches(samples, s.miniBatchesPerEpoch, s.seed, step, epoch)) {
      const denominators = { tokens: responseTokenCount(samples, mini), sequences: mini.length };
      for (const micro of microBatches(samples, mini, s.tokensPerMicroBatch)) {
        const b = packSamples(samples, micro);
        await trainer.trainMicroBatch({
          tokens: b.tokens,
          seqLens: b.seqLens,
          responseMask: b.responseMask,
          advantages: b.advantages,
          oldLogprobs: gatherPerToken(samples, b, old.lp),
          anchorLogprobs: anchors.map((a) => gatherPerToken(samples, b, a)),
          refLogprobs: ref ? gatherPerToken(samples, b, ref) : undefined,
          denominators,
        }, s.loss);
      }
      const m: StepMetrics = await trainer.step();
      optimizerSteps++;
      if (m.skipped === true) skippedSteps++;
      for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && Number.isFinite(v)) sums[k] = (sums[k] ?? 0) + v;
      counted++;
    }
    updateMs += performance.now() - t;
  }
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(sums)) metrics[k] = v / Math.max(1, counted);
  return { logprobGap: gapN ? gap / gapN : 0, metrics, optimizerSteps, skippedSteps, oldLogprobMs, snapshotMs, updateMs };
}
