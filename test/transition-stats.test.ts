// The transition statistics against scipy: Student t (values computed with scipy 1.17.1: t.ppf,
// t.cdf, numpy mean / std(ddof=1)); and, computed by scipy in this test's own run
// (test/python/transition_stats_reference.py), the sign-flip permutation p (permutation_test,
// exact), the percentile bootstrap interval (bootstrap, 200,000 resamples: ours uses 10,000, so
// they agree within Monte Carlo error), Kaplan-Meier (ecdf on CensoredData) and Holm's adjusted p
// (by its definition; scipy has no Holm).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bootstrapMeanCi,
  holm,
  kaplanMeier,
  kmMedian,
  logGamma,
  meanCi,
  signFlipTest,
  tCdf,
  tQuantile,
} from '../src/transition/stats.js';
import { repoRoot } from './helpers/paths.js';
import { python, pythonHas } from './helpers/python.js';

const SCIPY: [df: number, q975: number, q90: number, cdfMinus13: number][] = [
  [1, 12.706204736174694, 3.0776835371752544, 0.20871440016015272],
  [2, 4.302652729749462, 1.8856180831641272, 0.16162351590802015],
  [4, 2.7764451051977934, 1.533206274058944, 0.13172579823561206],
  [9, 2.262157162798205, 1.3830287383966329, 0.11295318633652467],
  [29, 2.045229642132703, 1.311433647301551, 0.1019195918310149],
  [100, 1.9839715185235518, 1.290074761346516, 0.09829473171118308],
];

describe('Student t', () => {
  it.each(SCIPY)('df %d: quantiles and CDF match scipy', (df, q975, q90, c) => {
    expect(tQuantile(0.975, df)).toBeCloseTo(q975, 9);
    expect(tQuantile(0.9, df)).toBeCloseTo(q90, 9);
    expect(tQuantile(0.025, df)).toBeCloseTo(-q975, 9);
    expect(tCdf(-1.3, df)).toBeCloseTo(c, 12);
  });
  it('ln Gamma matches factorials', () => {
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
  });
  it('rejects p outside (0, 1)', () => {
    expect(() => tQuantile(1, 3)).toThrow(/p must be in/);
  });
});

describe('meanCi', () => {
  it('matches numpy / scipy on a 5-seed sample', () => {
    const r = meanCi([0.2, 0.5, 0.45, 0.8, 0.1]);
    expect(r.mean).toBeCloseTo(0.41, 12);
    expect(r.sd).toBeCloseTo(0.27477263328068174, 12);
    expect(r.halfWidth).toBeCloseTo(0.341175286436268, 9);
    expect(r.lo).toBeCloseTo(0.41 - 0.341175286436268, 9);
  });
  it('has no interval for one value and refuses non-finite values', () => {
    expect(Number.isNaN(meanCi([3]).halfWidth)).toBe(true);
    expect(() => meanCi([1, Infinity])).toThrow(/non-finite/);
    expect(() => meanCi([])).toThrow(/empty/);
  });
});

const sci = pythonHas(['numpy', 'scipy']);
if (!sci.ok) console.warn(`skipping the scipy cross-checks of the transition statistics: ${sci.why}`);

// Labelled samples: paired differences as the analysis sees them (ties, zeros, a sign mix, a
// one-sided sample), censored times at N = 6 with ties between events and censorings, p-values
// with ties and values whose Holm product exceeds 1.
const PERM = [
  [0.12, -0.03, 0.2, 0.05, 0.07, -0.01, 0.09, 0.11],
  [1, -1, 2, -2, 0, 0.5],
  [0.3, 0.3, 0.3, 0.3, 0.3],
  [0.02, -0.05, 0.01, 0.04, -0.03, 0.06, 0.0, -0.02, 0.03, 0.05, -0.01, 0.02],
];
const BOOT = [
  { d: [0.12, -0.03, 0.2, 0.05, 0.07, -0.01, 0.09, 0.11, 0.02, 0.15], level: 0.95 },
  { d: [3, 9, -6, 3, 9, 1, 0, 4, -2, 5, 7, 2], level: 0.99285714 },
];
const KM = [
  { times: [1, 2, 2, 6, 6, 3, 6, 4], events: [true, true, false, false, true, true, false, true] },
  { times: [6, 6, 6, 6], events: [false, false, false, false] },
  { times: [1, 1, 2, 5, 6, 6], events: [true, true, true, true, true, false] },
];
const HOLM = [
  [0.01, 0.04, 0.03, 0.2, 0.001, 0.5, 0.04],
  [0.3, 0.3, 0.6],
];

describe.skipIf(!sci.ok)('transition statistics against scipy (computed in this run)', () => {
  const ref = sci.ok
    ? (JSON.parse(
        execFileSync(python, [join(repoRoot, 'test', 'python', 'transition_stats_reference.py')], {
          input: JSON.stringify({ perm: PERM, boot: BOOT, km: KM, holm: HOLM }),
          encoding: 'utf8',
          timeout: 300_000,
        }),
      ) as { perm: number[]; boot: [number, number][]; km: number[][]; holm: number[][] })
    : { perm: [], boot: [], km: [], holm: [] };

  it.each(PERM.map((d, i) => [i, d] as const))('sign-flip p, sample %d: exact, equal to permutation_test', (i, d) => {
    const r = signFlipTest(d);
    expect(r.exact).toBe(true);
    expect(r.p).toBeCloseTo(ref.perm[i]!, 12);
  });
  it('sign-flip p by random flips approximates the exact one; the estimate is never 0', () => {
    const d = PERM[3]!;
    const mc = signFlipTest(d, { exactUpTo: 4, resamples: 40000, seed: 7 });
    expect(mc.exact).toBe(false);
    expect(Math.abs(mc.p - ref.perm[3]!)).toBeLessThan(0.01);
    expect(signFlipTest([5, 6, 7, 8, 9, 10, 11, 12], { exactUpTo: 2, resamples: 100 }).p).toBeGreaterThan(0);
  });
  it.each(BOOT.map((c, i) => [i, c] as const))('bootstrap interval %d within Monte Carlo error of scipy', (i, c) => {
    const r = bootstrapMeanCi(c.d, c.level);
    const [lo, hi] = ref.boot[i]!;
    const tol = 0.03 * (hi - lo);
    expect(Math.abs(r.lo - lo)).toBeLessThan(tol);
    expect(Math.abs(r.hi - hi)).toBeLessThan(tol);
    // Seeded: the same call gives the same interval.
    expect(bootstrapMeanCi(c.d, c.level)).toEqual(r);
  });
  it.each(KM.map((c, i) => [i, c] as const))('Kaplan-Meier %d equals ecdf(CensoredData).sf', (i, c) => {
    const km = kaplanMeier(c.times, c.events);
    expect(km.map((s) => s.time)).toEqual([...new Set(c.times)].sort((a, b) => a - b));
    km.forEach((s, j) => expect(s.survival).toBeCloseTo(ref.km[i]![j]!, 12));
  });
  it.each(HOLM.map((p, i) => [i, p] as const))('Holm %d equals the definition', (i, p) => {
    holm(p).forEach((v, j) => expect(v).toBeCloseTo(ref.holm[i]![j]!, 14));
  });
});

describe('transition statistics: hand-worked cases', () => {
  it('Holm: sorted step-down, monotone, capped at 1; refuses p outside [0, 1]', () => {
    // p (0.01, 0.04, 0.03): sorted 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max so far 0.06.
    expect(holm([0.01, 0.04, 0.03])).toEqual([0.03, 0.06, 0.06]);
    expect(holm([0.9, 0.8])).toEqual([1, 1]);
    expect(() => holm([0.1, 1.2])).toThrow(/\[0, 1\]/);
  });
  it('sign-flip: all 2^n flips for a small sample (n = 3: 8 flips)', () => {
    // d = (1, 2, 3): |sum| >= 6 only for all + and all -: p = 2 / 8.
    expect(signFlipTest([1, 2, 3])).toEqual({ p: 0.25, exact: true });
    expect(signFlipTest([0, 0]).p).toBe(1);
  });
  it('Kaplan-Meier: censoring at N keeps S above 0 and the median undefined when S stays above 0.5', () => {
    // 4 switches: events at 1 and 3, two censored at N = 6: S(1) = 3/4, S(3) = 3/4 x 2/3 = 1/2, S(6) = 1/2.
    const km = kaplanMeier([1, 3, 6, 6], [true, true, false, false]);
    expect(km.map((s) => s.survival)).toEqual([0.75, 0.5, 0.5]);
    expect(km[2]).toMatchObject({ time: 6, atRisk: 2, events: 0, censored: 2 });
    expect(kmMedian(km)).toBe(3);
    expect(kmMedian(kaplanMeier([6, 6], [false, false]))).toBeNull();
  });
});
