/**
 * The loss configuration of the training engine (native/train/losses.h), with its defaults.
 *
 * Token loss (docs/GTR.md "Token loss and aggregation"):
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
 *
 * Defaults are the recipe schema's (src/recipe/schema.ts LossSchema, the one place they live):
 * clip 0.2 / 0.28 (DAPO clip-higher), sigma 0.2, beta 1, no dual clip, no KL, no entropy bonus.
 */
import type { NativeLossConfig } from '../native/types.js';
import { LossSchema, type RecipePenalty } from '../recipe/schema.js';

/**
 * Names of the native loss registry (native/train/losses.cpp loss_registry;
 * test/train-losses.test.ts checks they agree).
 */
export const LOSS_NAMES = ['grpo', 'ppo', 'gtr', 'pearson', 'spo', 'kl'] as const;
export type LossName = (typeof LOSS_NAMES)[number];

/** Penalties that loss 'ppo' can take (the other names fix their own); native/train/losses.cpp penalty_registry. */
export const PENALTY_NAMES = ['none', 'gaussian', 'pearson', 'spo', 'kl', 'k3'] as const;
export type PenaltyName = (typeof PENALTY_NAMES)[number];

export type Aggregation = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum';
export type KlEstimator = 'k1' | 'k2' | 'k3';
export type BetaMode = 'fixed' | 'advantage';

/** A complete loss configuration (every field set). */
export interface LossConfig {
  /** Registry name: grpo (clip, no penalty), ppo (clip + `penalty`), gtr (clip + gaussian), pearson, spo, kl. */
  name: LossName;
  /** eps_low: the ratio's lower clip is 1 - clipLow (applies where A < 0). Default: recipe clip_ratio_low. */
  clipLow: number;
  /** eps_high: the upper clip is 1 + clipHigh (A > 0). Default: recipe clip_ratio_high (0.28, DAPO clip-higher). */
  clipHigh: number;
  /** Dual-clip constant c > 1 for A < 0 (loss capped at -c A); 0 = off. Default 0. */
  dualClip: number;
  /** Penalty for name 'ppo'; must match (or be absent) for the other names. */
  penalty?: PenaltyName;
  /** Gaussian width in ratio units (phi bounded by sigma^2). Default: recipe sigma (0.2). */
  sigma: number;
  /** Penalty weight. Default 1. */
  beta: number;
  /** 'fixed' (beta) or 'advantage' (beta |A| / penaltyEps, paper App. B.2). Default 'fixed'. */
  betaMode: BetaMode;
  /** eps of the advantage-weighted beta and of SPO's |A|/(2 eps); absent = clipLow. */
  penaltyEps?: number;
  /** Reference-model KL weight (needs refLogprobs). Default 0. */
  klCoef: number;
  /** Reference KL estimator. Default 'k3' (verl low_var_kl). */
  klEstimator: KlEstimator;
  /** Entropy bonus weight (subtracted from the loss). Default 0. */
  entropyCoef: number;
  /** Default 'token-mean'. */
  aggregation: Aggregation;
}

/** Recipe penalty name -> native loss registry name (the recipe's `none` is plain GRPO, beta = 0). */
export const RECIPE_PENALTY_LOSS: Readonly<Record<RecipePenalty, LossName>> = Object.freeze({
  gtr: 'gtr',
  none: 'grpo',
  pearson: 'pearson',
  spo: 'spo',
  kl: 'kl',
});

/** The recipe's algorithm.loss (its defaults filled, penalty resolved) in camelCase. */
export interface LossSettings {
  clipLow: number;
  clipHigh: number;
  dualClip: number | null;
  aggregation: Aggregation;
  penalty: RecipePenalty;
  sigma: number;
  beta: number;
  betaMode: BetaMode;
  klCoef: number;
  klEstimator: KlEstimator;
  entropyCoef: number;
}

/** The trainer's loss configuration for recipe-vocabulary settings (every field set). */
export function lossFromSettings(l: LossSettings): LossConfig {
  return {
    name: RECIPE_PENALTY_LOSS[l.penalty],
    clipLow: l.clipLow,
    clipHigh: l.clipHigh,
    dualClip: l.dualClip ?? 0,
    sigma: l.sigma,
    beta: l.beta,
    betaMode: l.betaMode,
    klCoef: l.klCoef,
    klEstimator: l.klEstimator,
    entropyCoef: l.entropyCoef,
    aggregation: l.aggregation,
  };
}

const SCHEMA_DEFAULTS = LossSchema.parse({});

/** The recipe schema's defaults (penalty gtr, as algorithm.name's default gtr resolves it). */
export const DEFAULT_LOSS: Readonly<LossConfig> = Object.freeze(
  lossFromSettings({
    clipLow: SCHEMA_DEFAULTS.clip_ratio_low,
    clipHigh: SCHEMA_DEFAULTS.clip_ratio_high,
    dualClip: SCHEMA_DEFAULTS.dual_clip,
    aggregation: SCHEMA_DEFAULTS.aggregation,
    penalty: 'gtr',
    sigma: SCHEMA_DEFAULTS.sigma,
    beta: SCHEMA_DEFAULTS.beta,
    betaMode: SCHEMA_DEFAULTS.beta_mode,
    klCoef: SCHEMA_DEFAULTS.kl_ref.coef,
    klEstimator: SCHEMA_DEFAULTS.kl_ref.estimator,
    entropyCoef: SCHEMA_DEFAULTS.entropy_coef,
  }),
);

const AGGREGATIONS: readonly Aggregation[] = ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'];

function oneOf<T extends string>(field: string, v: unknown, valid: readonly T[]): T {
  if (typeof v !== 'string' || !(valid as readonly string[]).includes(v)) {
    throw new Error(`loss.${field}: ${JSON.stringify(v)} is not one of ${valid.join(', ')}`);
  }
  return v as T;
}

function num(field: string, v: unknown, ok: (x: number) => boolean, rule: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw new Error(`loss.${field} must be ${rule}, got ${String(v)}`);
  return v;
}

/**
 * Fills defaults and validates (the native side validates again).
 * @throws Error naming the field: unknown name (listing the valid names), penalty, mode or
 *   estimator; clip values outside [0, 1) / >= 0; dualClip not 0 and <= 1; sigma <= 0; negative beta / klCoef.
 */
export function resolveLossConfig(partial: Partial<LossConfig> & { name?: string } = {}): LossConfig {
  const c = { ...DEFAULT_LOSS, ...partial } as LossConfig;
  oneOf('name', c.name, LOSS_NAMES);
  if (c.penalty !== undefined) oneOf('penalty', c.penalty, PENALTY_NAMES);
  num('clipLow', c.clipLow, (x) => x >= 0 && x < 1, 'in [0, 1)');
  num('clipHigh', c.clipHigh, (x) => x >= 0, '>= 0');
  num('dualClip', c.dualClip, (x) => x === 0 || x > 1, '0 (off) or > 1');
  num('sigma', c.sigma, (x) => x > 0, '> 0');
  num('beta', c.beta, (x) => x >= 0, '>= 0');
  oneOf('betaMode', c.betaMode, ['fixed', 'advantage'] as const);
  if (c.penaltyEps !== undefined) num('penaltyEps', c.penaltyEps, (x) => x > 0, '> 0');
  num('klCoef', c.klCoef, (x) => x >= 0, '>= 0');
  oneOf('klEstimator', c.klEstimator, ['k1', 'k2', 'k3'] as const);
  num('entropyCoef', c.entropyCoef, () => true, 'finite');
  oneOf('aggregation', c.aggregation, AGGREGATIONS);
  return c;
}

/** The native boundary's form of a resolved config. */
export function toNativeLoss(c: LossConfig): NativeLossConfig {
  const out: NativeLossConfig = {
    name: c.name,
    clipLow: c.clipLow,
    clipHigh: c.clipHigh,
    dualClip: c.dualClip,
    sigma: c.sigma,
    beta: c.beta,
    betaMode: c.betaMode,
    klCoef: c.klCoef,
    klEstimator: c.klEstimator,
    entropyCoef: c.entropyCoef,
    aggregation: c.aggregation,
  };
  if (c.penalty !== undefined) out.penalty = c.penalty;
  if (c.penaltyEps !== undefined) out.penaltyEps = c.penaltyEps;
  return out;
}
