/**
 * Advantage estimators for group-sampled RL (GRPO family), DAPO's dynamic-sampling filter and
 * DAPO's soft overlong reward shaping.
 *
 * Layout convention (shared by every function here): rewards are a flat `Float64Array` of
 * `prompts × samplesPerPrompt` in prompt-major order, i.e. sample j of prompt p sits at index
 * `p * G + j` where `G = samplesPerPrompt` is the group size. Advantages come back in the same
 * layout and length (one scalar per response; the trainer broadcasts it over that response's tokens).
 */

/** An advantage estimator: rewards `[prompts * G]` (float64, any unit) -> advantages, same shape. */
export type AdvantageEstimator = (rewards: Float64Array, groupSize: number) => Float64Array;

/** Epsilon added to the group std in GRPO's denominator (DeepSeekMath / verl use 1e-6). */
export const GRPO_STD_EPS = 1e-6;

/** Throws unless `groupSize` is a positive integer dividing `rewards.length` and every reward is finite. */
function checkGroups(rewards: Float64Array, groupSize: number, what: string): number {
  if (!Number.isInteger(groupSize) || groupSize < 1) {
    throw new RangeError(`${what}: groupSize must be a positive integer, got ${groupSize}`);
  }
  if (rewards.length % groupSize !== 0) {
    throw new RangeError(
      `${what}: rewards.length ${rewards.length} is not a multiple of groupSize ${groupSize} ` +
        `(expected prompts × samples per prompt)`,
    );
  }
  for (let i = 0; i < rewards.length; i++) {
    if (!Number.isFinite(rewards[i])) {
      throw new RangeError(
        `${what}: rewards[${i}] (prompt ${Math.floor(i / groupSize)}, sample ${i % groupSize}) is ${rewards[i]}`,
      );
    }
  }
  return rewards.length / groupSize;
}

function groupMean(rewards: Float64Array, start: number, g: number): number {
  let s = 0;
  for (let j = 0; j < g; j++) s += rewards[start + j]!;
  return s / g;
}

/**
 * GRPO group-normalized advantage (Shao et al., 2024, DeepSeekMath, Sec. 4.1.2 "outcome
 * supervision"):  `A_i = (R_i - mean_j R_j) / (std_j R_j + 1e-6)` over the G responses of a prompt.
 *
 * `std` is the SAMPLE standard deviation (Bessel-corrected, divisor G - 1), following verl's
 * `compute_grpo_outcome_advantage`, which uses `torch.std` (unbiased by default).
 * Groups of size 1 have no defined sample std and no baseline: their advantage is 0.
 * Groups with all-equal rewards get 0 (numerator 0).
 */
export function grpoAdvantages(rewards: Float64Array, groupSize: number): Float64Array {
  const prompts = checkGroups(rewards, groupSize, 'grpo');
  const out = new Float64Array(rewards.length);
  const g = groupSize;
  if (g === 1) return out;
  for (let p = 0; p < prompts; p++) {
    const start = p * g;
    const mean = groupMean(rewards, start, g);
    let ss = 0;
    for (let j = 0; j < g; j++) {
      const d = rewards[start + j]! - mean;
      ss += d * d;
    }
    const std = Math.sqrt(ss / (g - 1));
    for (let j = 0; j < g; j++) out[start + j] = (rewards[start + j]! - mean) / (std + GRPO_STD_EPS);
  }
  return out;
}

/**
 * Dr. GRPO advantage (Liu et al., 2025, "Understanding R1-Zero-Like Training: A Critical
 * Perspective", Sec. 3.2, "Dr. GRPO"): GRPO without the std division, `A_i = R_i - mean_j R_j`.
 * Groups of size 1: advantage 0 (the response is its own baseline).
 */
export function drGrpoAdvantages(rewards: Float64Array, groupSize: number): Float64Array {
  const prompts = checkGroups(rewards, groupSize, 'dr_grpo');
  const out = new Float64Array(rewards.length);
  const g = groupSize;
  for (let p = 0; p < prompts; p++) {
    const start = p * g;
    const mean = groupMean(rewards, start, g);
    for (let j = 0; j < g; j++) out[start + j] = rewards[start + j]! - mean;
  }
  return out;
}

/**
 * RLOO leave-one-out advantage (Kool et al., 2019, "Buy 4 REINFORCE Samples, Get a Baseline for
 * Free!", ICLR workshop; Ahmadian et al., 2024, "Back to Basics: Revisiting REINFORCE Style
 * Optimization for Learning from Human Feedback in LLMs", the RLOO estimator):
 * `A_i = R_i - 1/(G-1) * sum_{j != i} R_j`  (equivalently `G/(G-1) * (R_i - mean_j R_j)`).
 * Groups of size 1 have no other samples to form a baseline: advantage 0.
 */
export function rlooAdvantages(rewards: Float64Array, groupSize: number): Float64Array {
  const prompts = checkGroups(rewards, groupSize, 'rloo');
  const out = new Float64Array(rewards.length);
  const g = groupSize;
  if (g === 1) return out;
  for (let p = 0; p < prompts; p++) {
    const start = p * g;
    let sum = 0;
    for (let j = 0; j < g; j++) sum += rewards[start + j]!;
    for (let j = 0; j < g; j++) {
      const r = rewards[start + j]!;
      out[start + j] = r - (sum - r) / (g - 1);
    }
  }
  return out;
}

const REGISTRY: Readonly<Record<string, AdvantageEstimator>> = Object.freeze({
  grpo: grpoAdvantages,
  dr_grpo: drGrpoAdvantages,
  rloo: rlooAdvantages,
});

/** The registered estimator names, e.g. for a recipe's zod enum: `['grpo', 'dr_grpo', 'rloo']`. */
export const ADVANTAGE_ESTIMATORS = Object.freeze(Object.keys(REGISTRY)) as readonly string[];

/**
 * Looks up an advantage estimator by name (see {@link ADVANTAGE_ESTIMATORS}).
 * @throws Error naming the unknown estimator and listing the valid names.
 */
export function getAdvantageEstimator(name: string): AdvantageEstimator {
  const est = Object.prototype.hasOwnProperty.call(REGISTRY, name) ? REGISTRY[name] : undefined;
  if (!est) {
    throw new Error(`unknown advantage estimator '${name}'; valid names: ${ADVANTAGE_ESTIMATORS.join(', ')}`);
  }
  return est;
}

/**
 * Computes advantages with the named estimator. `rewards`: float64 `[prompts * groupSize]`,
 * prompt-major; returns a new float64 array of the same shape. Formula sources: see each estimator.
 * @throws Error for an unknown name; RangeError for a bad group size or a non-finite reward.
 */
export function computeAdvantages(name: string, rewards: Float64Array, groupSize: number): Float64Array {
  return getAdvantageEstimator(name)(rewards, groupSize);
}

/**
 * DAPO dynamic sampling (Yu et al., 2025, "DAPO", Sec. 3.2, the constraint of Eq. 11:
 * `0 < |{o_i | is_equivalent(a, o_i)}| < G`): groups whose rewards are all equal carry zero
 * advantage and no gradient, so they are dropped. Generalized here from 0/1 accuracy to any reward
 * (verl's `filter_groups` does the same with its metric): a group is kept when
 * `max_j R_j - min_j R_j > tolerance`.
 *
 * @param rewards float64 `[prompts * groupSize]`, prompt-major.
 * @param tolerance absolute spread at or below which a group counts as all-equal (default 0: exact).
 * @returns the indices (0-based, ascending) of the prompts/groups to KEEP.
 */
export function dynamicSamplingFilter(rewards: Float64Array, groupSize: number, tolerance = 0): number[] {
  const prompts = checkGroups(rewards, groupSize, 'dynamicSamplingFilter');
  if (!(tolerance >= 0)) throw new RangeError(`dynamicSamplingFilter: tolerance must be >= 0, got ${tolerance}`);
  const kept: number[] = [];
  for (let p = 0; p < prompts; p++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = 0; j < groupSize; j++) {
      const r = rewards[p * groupSize + j]!;
      if (r < lo) lo = r;
      if (r > hi) hi = r;
    }
    if (hi - lo > tolerance) kept.push(p);
  }
  return kept;
}

/**
 * DAPO soft overlong punishment (Yu et al., 2025, "DAPO", Sec. 3.4 "Overlong Reward Shaping",
 * Eq. 13), scaled by `penaltyFactor` as in verl's `overlong_buffer.penalty_factor`. With
 * `Lmax = maxNewTokens`, `Lcache = bufferTokens`, `L = responseLength` (tokens):
 *
 *     0                                        if L <= Lmax - Lcache
 *     -((L - (Lmax - Lcache)) / Lcache) * f    if Lmax - Lcache < L <= Lmax
 *     -f                                       if L > Lmax   (clamped)
 *
 * The result is added to the task reward. Units: tokens in, reward units out (range [-f, 0]).
 * @throws RangeError if lengths are negative/non-integer, `bufferTokens` is not in
 *   `(0, maxNewTokens]`, or `penaltyFactor` is negative or non-finite.
 */
export function overlongPenalty(
  responseLength: number,
  maxNewTokens: number,
  bufferTokens: number,
  penaltyFactor: number,
): number {
  if (!Number.isInteger(responseLength) || responseLength < 0) {
    throw new RangeError(`overlongPenalty: responseLength must be a non-negative integer, got ${responseLength}`);
  }
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new RangeError(`overlongPenalty: maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  }
  if (!Number.isInteger(bufferTokens) || bufferTokens < 1 || bufferTokens > maxNewTokens) {
    throw new RangeError(
      `overlongPenalty: bufferTokens must be an integer in [1, maxNewTokens=${maxNewTokens}], got ${bufferTokens}`,
    );
  }
  if (!Number.isFinite(penaltyFactor) || penaltyFactor < 0) {
    throw new RangeError(`overlongPenalty: penaltyFactor must be finite and >= 0, got ${penaltyFactor}`);
  }
  const expected = maxNewTokens - bufferTokens;
  if (responseLength <= expected) return 0;
  const p = -((responseLength - expected) / bufferTokens) * penaltyFactor;
  return Math.max(p, -penaltyFactor);
}
