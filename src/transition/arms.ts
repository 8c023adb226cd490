/**
 * The arms of the transition experiment (docs/TRANSITION.md "Analysis plan"): each arm is one
 * loss setting (penalty, its anchor, sigma, beta, clip range) and one optimisation regime. Every
 * arm names its anchor explicitly: `behavior` = the previous policy (the weights that sampled the
 * step's batch; paper eq. 4), `mixture` = GTR's per-epoch mixture (paper eq. 5). The clip-only
 * arms have no penalty, so no anchor.
 *
 * Curvature matching (docs/GTR.md "Other penalties"): near r = 1, beta * phi(r) is
 *   gtr      beta * sigma^2 (1 - exp(-(r-1)^2 / (2 sigma^2))) ~ 0.5 beta (r-1)^2   (any sigma)
 *   kl       beta * (r log r - r + 1)                         ~ 0.5 beta (r-1)^2
 *   pearson  beta * (r-1)^2                                   =     beta (r-1)^2
 *   spo      beta * |A| / (2 eps) (r-1)^2                     = 2.5 beta |A| (r-1)^2 at eps 0.2
 * so GTR at beta 1 is matched by KL at beta 1 and by Pearson at beta 0.5.
 */

/** Optimisation regime: `base` (the design's lr and epochs) or `hi` (many epochs, higher lr). */
export type Regime = 'base' | 'hi';

/** One arm. */
export interface ArmSpec {
  key: string;
  label: string;
  /** The recipe's algorithm.name and algorithm.loss.penalty. */
  algorithm: 'gtr' | 'grpo';
  penalty: 'gtr' | 'kl' | 'pearson' | 'none';
  anchor: 'mixture' | 'behavior';
  sigma: number;
  beta: number;
  clipLow: number;
  clipHigh: number;
  regime: Regime;
}

const base = { clipLow: 0.2, clipHigh: 0.2, sigma: 0.2, beta: 1, regime: 'base' as Regime };

/** Every arm the experiment knows (the plan names which it runs). */
export const ARMS: Record<string, ArmSpec> = Object.fromEntries(
  (
    [
      { key: 'grpo', label: 'GRPO clip 0.2', algorithm: 'grpo', penalty: 'none', anchor: 'behavior', ...base },
      {
        key: 'grpo-ch',
        label: 'GRPO clip-higher 0.2/0.28',
        algorithm: 'grpo',
        penalty: 'none',
        anchor: 'behavior',
        ...base,
        clipHigh: 0.28,
      },
      { key: 'gtr', label: 'GTR s0.2 mixture', algorithm: 'gtr', penalty: 'gtr', anchor: 'mixture', ...base },
      {
        key: 'gtr-single',
        label: 'GTR s0.2 single anchor',
        algorithm: 'gtr',
        penalty: 'gtr',
        anchor: 'behavior',
        ...base,
      },
      {
        key: 'gtr-s0.1',
        label: 'GTR s0.1 mixture',
        algorithm: 'gtr',
        penalty: 'gtr',
        anchor: 'mixture',
        ...base,
        sigma: 0.1,
      },
      {
        key: 'gtr-s0.5',
        label: 'GTR s0.5 mixture',
        algorithm: 'gtr',
        penalty: 'gtr',
        anchor: 'mixture',
        ...base,
        sigma: 0.5,
      },
      {
        key: 'gtr-s1',
        label: 'GTR s1 mixture',
        algorithm: 'gtr',
        penalty: 'gtr',
        anchor: 'mixture',
        ...base,
        sigma: 1,
      },
      {
        key: 'gtr-s10',
        label: 'GTR s10 mixture (~quadratic)',
        algorithm: 'gtr',
        penalty: 'gtr',
        anchor: 'mixture',
        ...base,
        sigma: 10,
      },
      { key: 'kl', label: 'KL b1 own anchor (matched)', algorithm: 'grpo', penalty: 'kl', anchor: 'behavior', ...base },
      {
        key: 'pearson-m',
        label: 'Pearson b0.5 own anchor (matched)',
        algorithm: 'grpo',
        penalty: 'pearson',
        anchor: 'behavior',
        ...base,
        beta: 0.5,
      },
      {
        key: 'pearson',
        label: 'Pearson b1 own anchor',
        algorithm: 'grpo',
        penalty: 'pearson',
        anchor: 'behavior',
        ...base,
      },
      {
        key: 'grpo-hi',
        label: 'GRPO clip 0.2, many epochs',
        algorithm: 'grpo',
        penalty: 'none',
        anchor: 'behavior',
        ...base,
        regime: 'hi',
      },
      {
        key: 'gtr-hi',
        label: 'GTR s0.2 mixture, many epochs',
        algorithm: 'gtr',
        penalty: 'gtr',
        anchor: 'mixture',
        ...base,
        regime: 'hi',
      },
    ] satisfies ArmSpec[]
  ).map((a) => [a.key, a]),
);

/**
 * The arm of `key`.
 * @throws Error naming the valid keys
 */
export function armOf(key: string): ArmSpec {
  const a = ARMS[key];
  if (!a) throw new Error(`unknown arm "${key}"; valid: ${Object.keys(ARMS).join(', ')}`);
  return a;
}

/**
 * The per-token gradient of an arm's loss with respect to logp at ratio r (advantage A), split
 * into the surrogate's part and the penalty's part (docs/GTR.md "Surrogate", "Other penalties"):
 * surrogate -A r where the clip is inactive, else 0; penalty beta f(r) with f = r phi'(r).
 * The penalty is taken against one anchor (the behaviour policy) only.
 */
export function tokenGradients(a: ArmSpec, r: number, adv: number): { pg: number; penalty: number } {
  const clipped = (adv > 0 && r > 1 + a.clipHigh) || (adv < 0 && r < 1 - a.clipLow);
  const pg = clipped ? 0 : -adv * r;
  let f = 0;
  if (a.penalty === 'gtr') f = r * (r - 1) * Math.exp(-((r - 1) ** 2) / (2 * a.sigma ** 2));
  else if (a.penalty === 'kl') f = r * Math.log(r);
  else if (a.penalty === 'pearson') f = 2 * r * (r - 1);
  return { pg, penalty: a.beta * f };
}
