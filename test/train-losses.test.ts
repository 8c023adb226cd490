// Loss registry (native/train/losses.cpp) against independent references: the closed forms of
// docs/GTR.md, verl's compute_policy_loss / kl_penalty / agg_loss semantics, and
// float64 central finite differences of the native loss itself.
import { describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import type { LossConfig, NativeLossDebugResult } from '../src/native/types.js';
import { RECIPE_PENALTIES } from '../src/recipe/schema.js';
import { LOSS_NAMES, PENALTY_NAMES, RECIPE_PENALTY_LOSS, resolveLossConfig } from '../src/train/loss-config.js';

const T = native().Trainer;
const hooks = native().testing;

interface Case {
  logp: number[];
  old: number[];
  anchors?: number[][];
  adv: number[];
  mask?: number[];
  ref?: number[];
  /** Behaviour-policy (rollout engine) log-probs, for rolloutIsThreshold. */
  rollout?: number[];
  entropy?: number[];
  seqLens?: number[];
  denominators?: { tokens: number; sequences: number };
}

/**
 * The references below use the symmetric clip 0.2 unless a case sets its own (the defaults are
 * the recipe's 0.2 / 0.28).
 */
function run(c: Case, config: Partial<LossConfig>, logp = c.logp): NativeLossDebugResult {
  const cfg: Partial<LossConfig> = { clipLow: 0.2, clipHigh: 0.2, ...config };
  const f = (a: number[]) => Float64Array.from(a);
  const extra: Parameters<typeof hooks.lossDebug>[6] = {};
  if (c.ref) extra.ref = f(c.ref);
  if (c.rollout) extra.rollout = f(c.rollout);
  if (c.entropy) extra.entropy = f(c.entropy);
  if (c.seqLens) extra.seqLens = Int32Array.from(c.seqLens);
  if (c.denominators) extra.denominators = c.denominators;
  return hooks.lossDebug(
    f(logp),
    f(c.old),
    (c.anchors ?? []).map(f),
    f(c.adv),
    Uint8Array.from(c.mask ?? c.logp.map(() => 1)),
    cfg,
    extra,
  );
}

/** Central finite differences of the native float64 loss with respect to each logp. */
function finiteDiff(c: Case, cfg: Partial<LossConfig>, h = 1e-6): number[] {
  return c.logp.map((_, i) => {
    const up = [...c.logp];
    const dn = [...c.logp];
    up[i]! += h;
    dn[i]! -= h;
    return (run(c, cfg, up).loss - run(c, cfg, dn).loss) / (2 * h);
  });
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (Math.abs(a - e) > tol * Math.max(1, Math.abs(e)))
      throw new Error(`index ${i}: ${a} vs expected ${e} (tol ${tol})`);
  }
}

const gauss = (r: number, s: number) => s * s * (1 - Math.exp(-((r - 1) ** 2) / (2 * s * s)));
const gaussF = (r: number, s: number) => r * (r - 1) * Math.exp(-((r - 1) ** 2) / (2 * s * s));
const clip = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** PPO clipped surrogate per token and its d/dlogp (verl compute_policy_loss, with dual clip). */
function ppo(r: number, A: number, el: number, eh: number, c = 0): { loss: number; grad: number } {
  const pg1 = -A * r;
  const pg2 = -A * clip(r, 1 - el, 1 + eh);
  let loss = Math.max(pg1, pg2);
  let grad = pg1 >= pg2 ? -A * r : 0;
  if (c > 0 && A < 0 && loss > -A * c) {
    loss = -A * c;
    grad = 0;
  }
  return { loss, grad };
}

// Ratios from near 0 to far above 1, both advantage signs.
const ratios = [1e-4, 0.05, 0.5, 0.9, 1, 1.05, 1.3, 2, 5, 40];
const base: Case = {
  old: ratios.map((_, i) => -1 - 0.1 * i),
  logp: ratios.map((r, i) => -1 - 0.1 * i + Math.log(r)),
  adv: ratios.map((_, i) => (i % 3 === 0 ? -0.7 : 1.3) * (1 + 0.1 * i)),
};

describe('loss registry', () => {
  it('lists its names, and an unknown name lists the valid ones', () => {
    expect([...T.lossNames()].sort()).toEqual(['grpo', 'gtr', 'kl', 'pearson', 'ppo', 'spo']);
    expect(() => run(base, { name: 'trpo' })).toThrow(
      /unknown loss 'trpo' \(valid: grpo, gtr, kl, pearson, ppo, spo\)/,
    );
    expect(() => run(base, { name: 'gtr', penalty: 'pearson' })).toThrow(/use loss 'ppo'/);
    expect(() => run(base, { name: 'ppo', penalty: 'huber' })).toThrow(/valid: none, gaussian/);
    expect(() => run(base, { name: 'grpo', dualClip: 0.5 })).toThrow(/dualClip/);
    expect(() => resolveLossConfig({ name: 'trpo' as never })).toThrow(/grpo, ppo, gtr/);
  });

  it('TypeScript names agree with the native registries, and every recipe penalty maps onto a loss', () => {
    expect([...T.lossNames()].sort()).toEqual([...LOSS_NAMES].sort());
    expect([...T.penaltyNames()]).toEqual([...PENALTY_NAMES]);
    expect(() => run(base, { name: 'ppo', penalty: 'huber' })).toThrow(`valid: ${PENALTY_NAMES.join(', ')})`);
    for (const p of RECIPE_PENALTIES) expect(T.lossNames()).toContain(RECIPE_PENALTY_LOSS[p]);
  });
});

describe('PPO clipped surrogate', () => {
  it('matches verl compute_policy_loss: value, gradient, clip flags on both sides', () => {
    const cfg = { name: 'grpo', clipLow: 0.2, clipHigh: 0.28 };
    const out = run(base, cfg);
    const N = ratios.length;
    const ref = ratios.map((r, i) => ppo(r, base.adv[i]!, 0.2, 0.28));
    expect(out.loss).toBeCloseTo(ref.reduce((s, x) => s + x.loss, 0) / N, 12);
    expectClose(
      out.grad,
      ref.map((x) => x.grad / N),
      1e-9,
    );
    expectClose(out.grad, finiteDiff(base, cfg), 1e-6);
    expectClose(
      out.clippedHigh,
      ratios.map((r, i) => (base.adv[i]! > 0 && r > 1.28 ? 1 : 0)),
      0,
    );
    expectClose(
      out.clippedLow,
      ratios.map((r, i) => (base.adv[i]! < 0 && r < 0.8 ? 1 : 0)),
      0,
    );
    expect(out.clippedHigh.reduce((a, b) => a + b)).toBeGreaterThan(0);
    expect(out.clippedLow.reduce((a, b) => a + b)).toBeGreaterThan(0);
    expect(out.penaltyLoss).toBe(0);
  });

  it('dual clip caps the loss of A < 0 tokens at -c A (zero gradient past c)', () => {
    const c: Case = {
      logp: [Math.log(5), Math.log(2), Math.log(5), Math.log(0.5)],
      old: [0, 0, 0, 0],
      adv: [-1, -1, 1, -2],
    };
    const cfg = { name: 'grpo', clipLow: 0.2, clipHigh: 0.2, dualClip: 3 };
    const out = run(c, cfg);
    const ref = [5, 2, 5, 0.5].map((r, i) => ppo(r, c.adv[i]!, 0.2, 0.2, 3));
    expect(out.loss).toBeCloseTo(ref.reduce((s, x) => s + x.loss, 0) / 4, 12);
    expectClose(
      out.grad,
      ref.map((x) => x.grad / 4),
      1e-9,
    );
    expectClose(out.dualClipped, [1, 0, 0, 0], 0);
    expect(out.grad[0]).toBe(0);
    expect(out.grad[1]).toBeCloseTo(-(-1 * 2) / 4, 12); // A < 0, r = 2 < c: unclipped gradient -A r
    expectClose(out.grad, finiteDiff(c, cfg), 1e-6);
  });
});

describe('GTR Gaussian penalty', () => {
  const sigma = 0.5;
  const beta = 0.7;
  const cfg = { name: 'gtr', clipLow: 0.2, clipHigh: 0.28, sigma, beta };

  it('value, penalty and |d phi/d logp| equal the closed forms of GTR.md; gradient equals finite differences', () => {
    const out = run(base, cfg);
    const N = ratios.length;
    const pen = ratios.map((r) => gauss(r, sigma));
    const f = ratios.map((r) => gaussF(r, sigma));
    expectClose(out.penalty, pen, 1e-12);
    expectClose(out.penaltyGradAbs, f.map(Math.abs), 1e-12);
    const pg = ratios.map((r, i) => ppo(r, base.adv[i]!, 0.2, 0.28));
    expect(out.loss).toBeCloseTo(pg.reduce((s, x) => s + x.loss, 0) / N + (beta * pen.reduce((a, b) => a + b)) / N, 12);
    expectClose(
      out.grad,
      pg.map((x, i) => (x.grad + beta * f[i]!) / N),
      1e-9,
    );
    expectClose(out.grad, finiteDiff(base, cfg), 1e-6);
  });

  it('has the four properties: f(1) = 0, f -> 0 as r -> 0 and as r -> infinity, f ~ (r - 1) near 1', () => {
    const c: Case = {
      logp: [Math.log(1e-6), 0, Math.log(1 + 1e-4), Math.log(40)],
      old: [0, 0, 0, 0],
      adv: [0, 0, 0, 0],
    };
    const out = run(c, { name: 'gtr', sigma, beta: 1 });
    expect(out.penaltyGradAbs[0]).toBeLessThan(1e-5); // forgetting
    expect(out.penaltyGradAbs[1]).toBe(0); // unchanged policy
    expect(out.penaltyGradAbs[2]! / 1e-4).toBeCloseTo(1, 3); // local trust region
    expect(out.penaltyGradAbs[3]).toBeLessThan(1e-100); // vanishing at scale
    expect(out.penalty[3]).toBeCloseTo(sigma * sigma, 12); // bounded by sigma^2
    expect(Math.abs(out.grad[3]!)).toBeLessThan(1e-100);
  });

  it('advantage-weighted beta uses beta |A| / eps', () => {
    const w = { ...cfg, betaMode: 'advantage' as const, penaltyEps: 0.25 };
    const out = run(base, w);
    const N = ratios.length;
    const pg = ratios.map((r, i) => ppo(r, base.adv[i]!, 0.2, 0.28));
    const expected = ratios.map(
      (r, i) => (pg[i]!.grad + ((beta * Math.abs(base.adv[i]!)) / 0.25) * gaussF(r, sigma)) / N,
    );
    expectClose(out.grad, expected, 1e-9);
    expectClose(out.grad, finiteDiff(base, w), 1e-6);
  });

  it('the mixture anchor of epoch e averages exactly e + 1 anchors', () => {
    const n = 5;
    const logp = Array.from({ length: n }, (_, i) => -0.5 - 0.2 * i);
    const old = logp.map((x) => x - Math.log(1.3));
    // anchor k (k = 1..3) puts r_k = 1 + 0.1 k on every token
    const anchorsAll = [1, 2, 3].map((k) => logp.map((x) => x - Math.log(1 + 0.1 * k)));
    const rs = [1.3, 1.1, 1.2, 1.3];
    for (let e = 0; e <= 3; e++) {
      const c: Case = { logp, old, anchors: anchorsAll.slice(0, e), adv: logp.map(() => 0) };
      for (const [name, phi, f] of [
        ['gtr', (r: number) => gauss(r, sigma), (r: number) => gaussF(r, sigma)],
        ['pearson', (r: number) => (r - 1) ** 2, (r: number) => 2 * r * (r - 1)],
      ] as const) {
        const out = run(c, { name, sigma, beta: 1 });
        const used = rs.slice(0, e + 1);
        const P = used.reduce((s, r) => s + phi(r), 0) / (e + 1);
        const F = used.reduce((s, r) => s + f(r), 0) / (e + 1);
        expectClose(
          out.penalty,
          logp.map(() => P),
          1e-12,
        );
        expect(out.loss).toBeCloseTo(P, 12);
        expectClose(
          out.grad,
          logp.map(() => F / n),
          1e-10,
        );
        expectClose(out.grad, finiteDiff(c, { name, sigma, beta: 1 }), 1e-6);
      }
    }
  });
});

describe('baseline penalties', () => {
  it('Pearson, SPO, reverse KL and k3 penalties: value and gradient', () => {
    const N = ratios.length;
    const eps = 0.2;
    const cases: [Partial<LossConfig>, (r: number, A: number) => { pen: number; f: number }, boolean][] = [
      [{ name: 'pearson', beta: 0.3 }, (r) => ({ pen: (r - 1) ** 2, f: 2 * r * (r - 1) }), true],
      [
        { name: 'spo', beta: 1, penaltyEps: eps },
        (r, A) => ({ pen: (Math.abs(A) / (2 * eps)) * (r - 1) ** 2, f: (Math.abs(A) / eps) * r * (r - 1) }),
        false,
      ],
      [{ name: 'kl', beta: 0.5 }, (r) => ({ pen: r * Math.log(r) - r + 1, f: r * Math.log(r) }), true],
      [{ name: 'ppo', penalty: 'k3', beta: 0.5 }, (r) => ({ pen: 1 / r + Math.log(r) - 1, f: 1 - 1 / r }), true],
      [{ name: 'ppo', penalty: 'none', beta: 0.5 }, () => ({ pen: 0, f: 0 }), true],
    ];
    for (const [cfg, phi, clipped] of cases) {
      const out = run(base, cfg);
      const beta = cfg.beta!;
      const exp = ratios.map((r, i) => {
        const A = base.adv[i]!;
        const s = clipped ? ppo(r, A, 0.2, 0.2) : { loss: -A * r, grad: -A * r };
        const p = phi(r, A);
        return { loss: s.loss + beta * p.pen, grad: s.grad + beta * p.f, pen: p.pen };
      });
      expect(out.loss, cfg.name).toBeCloseTo(exp.reduce((a, x) => a + x.loss, 0) / N, 9);
      expectClose(
        out.penalty,
        exp.map((x) => x.pen),
        1e-9,
      );
      expectClose(
        out.grad,
        exp.map((x) => x.grad / N),
        1e-9,
      );
      expectClose(out.grad, finiteDiff(base, cfg), 1e-5);
    }
  });
});

describe('reference KL and entropy bonus', () => {
  const c: Case = {
    logp: [-0.3, -1.2, -2.5, -0.01, -4],
    old: [-0.3, -1.2, -2.5, -0.01, -4],
    ref: [-0.5, -1.0, -4.0, -0.2, -1.5],
    adv: [0, 0, 0, 0, 0],
  };
  const d = c.logp.map((x, i) => x - c.ref![i]!);
  it('k1, k2, k3 (Schulman; verl kl_penalty): value and gradient', () => {
    const est = {
      k1: { v: (x: number) => x, g: () => 1 },
      k2: { v: (x: number) => 0.5 * x * x, g: (x: number) => x },
      k3: { v: (x: number) => Math.exp(-x) + x - 1, g: (x: number) => 1 - Math.exp(-x) },
    };
    for (const [k, e] of Object.entries(est)) {
      const cfg = { name: 'grpo', klCoef: 0.4, klEstimator: k as 'k1' };
      const out = run(c, cfg);
      expect(out.klLoss, k).toBeCloseTo((0.4 * d.reduce((s, x) => s + e.v(x), 0)) / 5, 12);
      expect(out.loss).toBeCloseTo(out.klLoss, 12);
      expectClose(
        out.grad,
        d.map((x) => (0.4 * e.g(x)) / 5),
        1e-10,
      );
      expectClose(out.grad, finiteDiff(c, cfg), 1e-6);
    }
    expect(() => run({ ...c, ref: undefined }, { name: 'grpo', klCoef: 0.1 })).toThrow(/refLogprobs/);
  });

  it('entropy bonus: coefficient times mean entropy, subtracted', () => {
    const ent = [1, 2, 3, 4, 5];
    const out = run({ ...c, entropy: ent }, { name: 'grpo', entropyCoef: 0.01 });
    expect(out.entropyBonus).toBeCloseTo(0.03, 12);
    expect(out.loss).toBeCloseTo(-0.03, 12);
    expectClose(
      out.entropyGrad!,
      ent.map(() => -0.01 / 5),
      1e-12,
    );
  });
});

describe('aggregation (verl agg_loss) with global denominators', () => {
  const c: Case = {
    logp: [-1, -0.5, -2, -0.1, -0.7, -1.5, -0.2],
    old: [-1.1, -0.4, -2, -0.3, -0.6, -1.5, -0.25],
    adv: [1, 1, 1, -1, -1, 0.5, 0.5],
    seqLens: [3, 2, 2],
    mask: [1, 1, 1, 1, 1, 1, 0],
  };
  const tok = c.logp.map((x, i) => ppo(Math.exp(x - c.old[i]!), c.adv[i]!, 0.2, 0.2).loss);
  it('token-mean, seq-mean-token-mean, seq-mean-token-sum', () => {
    const seqs = [[0, 1, 2], [3, 4], [5]];
    const sum = (ix: number[]) => ix.reduce((s, i) => s + tok[i]!, 0);
    expect(run(c, { name: 'grpo' }).loss).toBeCloseTo(sum([0, 1, 2, 3, 4, 5]) / 6, 12);
    expect(run(c, { name: 'grpo', aggregation: 'seq-mean-token-mean' }).loss).toBeCloseTo(
      seqs.reduce((s, ix) => s + sum(ix) / ix.length, 0) / 3,
      12,
    );
    expect(run(c, { name: 'grpo', aggregation: 'seq-mean-token-sum' }).loss).toBeCloseTo(
      seqs.reduce((s, ix) => s + sum(ix), 0) / 3,
      12,
    );
  });

  it('split into micro-batches with the mini-batch denominators, losses and gradients add up to the whole', () => {
    for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const) {
      const cfg = { name: 'gtr', aggregation, beta: 0.5 };
      const whole = run(c, cfg);
      const den = { tokens: 6, sequences: 3 };
      const part = (a: number, b: number, lens: number[]): Case => ({
        logp: c.logp.slice(a, b),
        old: c.old.slice(a, b),
        adv: c.adv.slice(a, b),
        mask: c.mask!.slice(a, b),
        seqLens: lens,
        denominators: den,
      });
      const p1 = run(part(0, 3, [3]), cfg);
      const p2 = run(part(3, 7, [2, 2]), cfg);
      expect(p1.loss + p2.loss).toBeCloseTo(whole.loss, 12);
      expectClose([...p1.grad, ...p2.grad], whole.grad, 1e-12);
    }
  });
});

describe('off-policy samples: decoupled objective with truncated importance sampling', () => {
  // Behaviour log-probs put w = pi_prox / pi_behav across the cap 2 on both sides (0.3 .. 7).
  const weights = [0.3, 1, 1.9, 2, 2.5, 7, 0.8, 1.2, 3, 1.5];
  const offp: Case = { ...base, rollout: base.old.map((o, i) => o - Math.log(weights[i]!)) };
  const cap = 2;

  it("GRPO: each token's clipped surrogate is weighted by min(w, C), a constant (float64 reference)", () => {
    const cfg = { name: 'grpo', clipLow: 0.2, clipHigh: 0.28, rolloutIsThreshold: cap };
    const out = run(offp, cfg);
    const N = ratios.length;
    const w = weights.map((x) => Math.min(x, cap));
    const ref = ratios.map((r, i) => ppo(r, base.adv[i]!, 0.2, 0.28));
    expect(out.loss).toBeCloseTo(ref.reduce((s, x, i) => s + w[i]! * x.loss, 0) / N, 12);
    expect(out.pgLoss).toBeCloseTo(out.loss, 12);
    expectClose(
      out.grad,
      ref.map((x, i) => (w[i]! * x.grad) / N),
      1e-9,
    );
    expectClose(out.grad, finiteDiff(offp, cfg), 1e-6);
    expectClose(out.rolloutIsWeight!, w, 1e-12);
    // The ratio (and so the clip) is against the proximal policy, not the behaviour one.
    expectClose(out.ratio, ratios, 1e-9);
  });

  it('GTR: the surrogate is weighted, the mixture-anchored Gaussian penalty is not', () => {
    const sigma = 0.3;
    const beta = 0.7;
    const anchor = base.logp.map((x, i) => x - Math.log(1 + 0.05 * (i % 4)));
    const c: Case = { ...offp, anchors: [anchor] };
    const cfg = { name: 'gtr', clipLow: 0.2, clipHigh: 0.28, sigma, beta, rolloutIsThreshold: cap };
    const out = run(c, cfg);
    const N = ratios.length;
    const w = weights.map((x) => Math.min(x, cap));
    const r1 = ratios.map((_, i) => 1 + 0.05 * (i % 4));
    const pg = ratios.map((r, i) => ppo(r, base.adv[i]!, 0.2, 0.28));
    const P = ratios.map((r, i) => (gauss(r, sigma) + gauss(r1[i]!, sigma)) / 2);
    const F = ratios.map((r, i) => (gaussF(r, sigma) + gaussF(r1[i]!, sigma)) / 2);
    expect(out.loss).toBeCloseTo(
      pg.reduce((s, x, i) => s + w[i]! * x.loss, 0) / N + (beta * P.reduce((a, b) => a + b)) / N,
      12,
    );
    expectClose(
      out.grad,
      pg.map((x, i) => (w[i]! * x.grad + beta * F[i]!) / N),
      1e-9,
    );
    expectClose(out.grad, finiteDiff(c, cfg), 1e-6);
  });

  it('off (threshold absent or 0) is the plain loss bit for bit; a cap below 1 or missing log-probs are refused', () => {
    const plain = run(base, { name: 'gtr' });
    const off = run({ ...offp }, { name: 'gtr', rolloutIsThreshold: 0 });
    expect(off.loss).toBe(plain.loss);
    expect(Array.from(off.grad)).toEqual(Array.from(plain.grad));
    expect(off.rolloutIsWeight).toBeUndefined();
    // A cap of 1e9 never truncates: w = pi_prox / pi_behav exactly.
    const untruncated = run(offp, { name: 'grpo', rolloutIsThreshold: 1e9 });
    expectClose(untruncated.rolloutIsWeight!, weights, 1e-12);
    expect(() => run(offp, { name: 'grpo', rolloutIsThreshold: 0.5 })).toThrow(
      /rolloutIsThreshold must be 0 \(off\) or >= 1/,
    );
    expect(() => resolveLossConfig({ rolloutIsThreshold: 0.5 })).toThrow(/rolloutIsThreshold/);
    expect(() => run(base, { name: 'grpo', rolloutIsThreshold: 2 })).toThrow(/rolloutLogprobs/);
  });
});
