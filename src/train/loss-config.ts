/**
 * The loss configuration (LossConfig, declared once at the native boundary in src/native/types.ts
 * with its formula) built from the recipe's algorithm.loss, its defaults (the recipe schema's,
 * src/recipe/schema.ts LossSchema, the one place they live: clip 0.2 / 0.28 (DAPO clip-higher),
 * sigma 0.2, beta 1, no dual clip, no KL, no entropy bonus) and its validation.
 */
import type { LossConfig } from '../native/types.js';
import { LossSchema, type Recipe, type RecipePenalty } from '../recipe/schema.js';

export type { LossConfig };

/**
 * Names of the native loss registry (native/train/losses.cpp loss_registry;
 * test/train-losses.test.ts checks they agree).
 */
export const LOSS_NAMES = ['grpo', 'ppo', 'gtr', 'pearson', 'spo', 'kl'] as const;
export type LossName = LossConfig['name'];

/** Penalties that loss 'ppo' can take (the other names fix their own); native/train/losses.cpp penalty_registry. */
export const PENALTY_NAMES = ['none', 'gaussian', 'pearson', 'spo', 'kl', 'k3'] as const;
export type PenaltyName = NonNullable<LossConfig['penalty']>;

export type Aggregation = LossConfig['aggregation'];

/** Recipe penalty name -> native loss registry name (the recipe's `none` is plain GRPO, beta = 0). */
export const RECIPE_PENALTY_LOSS: Readonly<Record<RecipePenalty, LossName>> = Object.freeze({
  gtr: 'gtr',
  none: 'grpo',
  pearson: 'pearson',
  spo: 'spo',
  kl: 'kl',
});

/**
 * The loss configuration of a recipe's algorithm.loss (its defaults filled and its penalty
 * resolved by the schema): the penalty names the native loss (RECIPE_PENALTY_LOSS), and plain
 * GRPO (penalty none) trains with beta = 0 (docs/GTR.md).
 */
export function lossConfig(l: Recipe['algorithm']['loss'] & { penalty: RecipePenalty }): LossConfig {
  return {
    name: RECIPE_PENALTY_LOSS[l.penalty],
    clipLow: l.clip_ratio_low,
    clipHigh: l.clip_ratio_high,
    dualClip: l.dual_clip ?? 0,
    sigma: l.sigma,
    beta: l.penalty === 'none' ? 0 : l.beta,
    betaMode: l.beta_mode,
    klCoef: l.kl_ref.coef,
    klEstimator: l.kl_ref.estimator,
    entropyCoef: l.entropy_coef,
    aggregation: l.aggregation,
    // Absent when off, so an on-policy run sends the native trainer the same configuration as before.
    ...(l.rollout_is_threshold !== null ? { rolloutIsThreshold: l.rollout_is_threshold } : {}),
  };
}

/**
 * Whether the loss has a trust-region penalty, so that its anchors matter: every registry name but
 * grpo, and ppo with a penalty other than none (native/train/losses.cpp resolve_loss).
 */
export function hasPenalty(c: LossConfig): boolean {
  return c.name === 'ppo' ? (c.penalty ?? 'none') !== 'none' : c.name !== 'grpo';
}

/** The recipe schema's defaults (penalty gtr, as algorithm.name's default gtr resolves it). */
export const DEFAULT_LOSS: Readonly<LossConfig> = Object.freeze(
  lossConfig({ ...LossSchema.parse({}), penalty: 'gtr' }),
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
  if (c.rolloutIsThreshold !== undefined)
    num('rolloutIsThreshold', c.rolloutIsThreshold, (x) => x === 0 || x >= 1, '0 (off) or >= 1');
  return c;
}
