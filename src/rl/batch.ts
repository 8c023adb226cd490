/**
 * Packing a rollout batch for the trainer: each sample becomes one packed sequence (prompt tokens
 * then response tokens) with a response mask, per-token advantages and log-prob slots aligned to
 * the tokens (position i holds log p(tokens[i] | tokens[<i]); prompt positions are masked out).
 * Then the epoch's shuffled mini-batches (the one mini-batch planner; the trainer cuts each into
 * micro-batches by its token budget, src/train/trainer.ts).
 *
 * Units: a sample = one response to one prompt (prompts x samples_per_prompt of them per step); a
 * sequence = a packed prompt + response; tokens are counted over whole sequences for the micro-batch
 * budget and over response tokens for the loss denominators.
 */
import { Xoshiro128, mixSeeds, shuffleInPlace } from '../data/prng.js';
import { packSequences, type PackedBatch } from '../train/microbatch.js';

/** One graded response, with what the trainer needs. */
export interface TrainSample {
  /** Index of its prompt within the step (group id). */
  group: number;
  promptTokens: Int32Array;
  responseTokens: Int32Array;
  /** The sampler's log-prob of each response token (float32, natural log). */
  samplerLogprobs: Float32Array;
  /** Sequence-level advantage (the same for every response token). */
  advantage: number;
  /** The policy version that generated it (src/rl/rollout-source.ts); absent = the current step's weights. */
  policyVersion?: number;
}

/** Samples packed for one native forward (src/train/microbatch.ts layout), with their indices and advantages. */
export interface PackedSamples extends PackedBatch {
  /** Indices into the step's sample list, in packing order. */
  samples: number[];
  /** Advantage per token (0 on prompt tokens). */
  advantages: Float32Array;
}

/** Packs the given samples (by index) into one batch. */
export function packSamples(all: readonly TrainSample[], indices: readonly number[]): PackedSamples {
  const packed = packSequences(indices.map((i) => all[i]));
  const advantages = new Float32Array(packed.tokens.length);
  let o = 0;
  indices.forEach((i, k) => {
    const p = all[i].promptTokens.length;
    advantages.fill(all[i].advantage, o + p, o + packed.seqLens[k]);
    o += packed.seqLens[k];
  });
  return { ...packed, samples: [...indices], advantages };
}

/**
 * Per-token values of a packed batch gathered from per-sample response arrays (e.g. old or snapshot
 * log-probs stored per sample): prompt positions get 0.
 */
export function gatherPerToken(
  all: readonly TrainSample[],
  batch: PackedSamples,
  perSample: readonly Float32Array[],
): Float32Array {
  const out = new Float32Array(batch.tokens.length);
  let o = 0;
  batch.samples.forEach((i, k) => {
    const p = all[i].promptTokens.length;
    out.set(perSample[i], o + p);
    o += batch.seqLens[k];
  });
  return out;
}

/** Splits a packed batch's per-token values back into per-sample response arrays. */
export function scatterPerSample(
  all: readonly TrainSample[],
  batch: PackedSamples,
  perToken: Float32Array,
  into: Float32Array[],
): void {
  let o = 0;
  batch.samples.forEach((i, k) => {
    const p = all[i].promptTokens.length,
      r = all[i].responseTokens.length;
    into[i] = perToken.slice(o + p, o + p + r);
    o += batch.seqLens[k];
  });
}

/**
 * The epoch's mini-batches: a seeded shuffle of the sample indices (seed mixed with step and
 * epoch, so a resumed run reshuffles identically) split into `count` near-equal parts. Samples with
 * an empty response are left out (nothing to train on).
 */
export function miniBatches(
  all: readonly TrainSample[],
  count: number,
  seed: number,
  step: number,
  epoch: number,
): number[][] {
  const idx = all.map((_, i) => i).filter((i) => all[i].responseTokens.length > 0);
  shuffleInPlace(idx, new Xoshiro128(mixSeeds(seed, step, epoch)));
  const parts = Math.max(1, Math.min(count, idx.length));
  const out: number[][] = [];
  for (let m = 0; m < parts; m++) {
    const a = Math.floor((m * idx.length) / parts),
      b = Math.floor(((m + 1) * idx.length) / parts);
    out.push(idx.slice(a, b));
  }
  return out.filter((p) => p.length > 0);
}

/** Number of response tokens of the given samples (the token-mean loss denominator). */
export function responseTokenCount(all: readonly TrainSample[], indices: readonly number[]): number {
  let n = 0;
  for (const i of indices) n += all[i].responseTokens.length;
  return n;
}
