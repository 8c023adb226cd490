/**
 * The transition experiment's statistics: means with Student-t confidence intervals, Holm's
 * adjusted p-values, the seeded percentile bootstrap of a paired mean, the sign-flip permutation
 * test, and the Kaplan-Meier estimate (each checked against scipy in test/transition-stats.test.ts).
 *
 * The t quantile is found by bisection on the t CDF, which is written through the regularized
 * incomplete beta function I_x(a, b) (Numerical Recipes, 3rd ed., Sec. 6.4: the continued
 * fraction evaluated by the modified Lentz method; ln Gamma by the Lanczos approximation, g = 7,
 * n = 9). Checked against scipy.stats.t.ppf in test/transition-stats.test.ts.
 */

import { Xoshiro128 } from '../data/prng.js';

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Gamma(x) for x > 0 (Lanczos, relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of I_x(a, b) (modified Lentz). */
function betaCf(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), x in [0, 1], a, b > 0. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaCf(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaCf(1 - x, b, a)) / b;
}

/** The Student t CDF with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const ib = incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - ib / 2 : ib / 2;
}

/**
 * The Student t quantile: the t with CDF(t) = p, for p in (0, 1) and df > 0 (bisection to 1e-12).
 * @throws RangeError for p outside (0, 1) or df <= 0
 */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`tQuantile: df must be positive, got ${df}`);
  if (p === 0.5) return 0;
  let lo = -1,
    hi = 1;
  while (tCdf(lo, df) > p) lo *= 2;
  while (tCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, Math.abs(hi)); i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Mean and two-sided confidence interval of a sample (n values). */
export interface MeanCi {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1 denominator); 0 for n = 1. */
  sd: number;
  /** Half-width t_{(1+level)/2, n-1} * sd / sqrt(n); NaN for n < 2. */
  halfWidth: number;
  lo: number;
  hi: number;
}

/**
 * Mean ± the Student-t confidence interval (default 95%) of `xs`. Non-finite values are an error
 * (a run that never reached a target is counted by the caller, not passed as Infinity).
 * @throws Error for an empty sample or a non-finite value
 */
export function meanCi(xs: readonly number[], level = 0.95): MeanCi {
  if (xs.length === 0) throw new Error('meanCi: empty sample');
  if (xs.some((x) => !Number.isFinite(x))) throw new Error(`meanCi: non-finite value in [${xs.join(', ')}]`);
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  const halfWidth = n > 1 ? (tQuantile((1 + level) / 2, n - 1) * sd) / Math.sqrt(n) : NaN;
  return { n, mean, sd, halfWidth, lo: mean - halfWidth, hi: mean + halfWidth };
}

/**
 * Holm's step-down adjusted p-values (Holm 1979): with p sorted ascending, p_(i) (i = 1..m),
 * adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)); returned in the input's order. Rejecting
 * adj < alpha controls the family-wise error at alpha.
 * @throws Error for a p-value outside [0, 1] or NaN
 */
export function holm(p: readonly number[]): number[] {
  if (p.some((x) => !(x >= 0 && x <= 1))) throw new Error(`holm: p-values must be in [0, 1], got [${p.join(', ')}]`);
  const m = p.length;
  const order = p.map((_, i) => i).sort((a, b) => p[a]! - p[b]! || a - b);
  const out = new Array<number>(m);
  let run = 0;
  order.forEach((i, k) => {
    run = Math.max(run, Math.min(1, (m - k) * p[i]!));
    out[i] = run;
  });
  return out;
}

/** A seeded uniform in [0, 1) from the project's PRNG (Xoshiro128, src/data/prng.ts). */
function uniform(seed: number): () => number {
  const rng = new Xoshiro128(seed);
  return () => rng.nextUint32() / 4294967296;
}

/**
 * Percentile bootstrap interval of the mean of `d` (paired differences: resample the pairs with
 * replacement `resamples` times, seeded), at `level` (two-sided). The quantiles are taken with
 * linear interpolation (numpy's default, as scipy.stats.bootstrap's percentile method).
 * @throws Error for fewer than 2 values or a non-finite value
 */
export function bootstrapMeanCi(
  d: readonly number[],
  level = 0.95,
  resamples = 10000,
  seed = 12345,
): { lo: number; hi: number; level: number } {
  if (d.length < 2) throw new Error(`bootstrapMeanCi: need at least 2 values, got ${d.length}`);
  if (d.some((x) => !Number.isFinite(x))) throw new Error('bootstrapMeanCi: non-finite value');
  const n = d.length;
  const u = uniform(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[Math.floor(u() * n)]!;
    means[b] = s / n;
  }
  means.sort();
  const q = (p: number) => {
    const x = p * (resamples - 1);
    const lo = Math.floor(x),
      hi = Math.min(lo + 1, resamples - 1);
    return means[lo]! + (means[hi]! - means[lo]!) * (x - lo);
  };
  const a = (1 - level) / 2;
  return { lo: q(a), hi: q(1 - a), level };
}

/**
 * Two-sided paired sign-flip permutation test of mean(d) = 0: the statistic is |mean|, the null
 * distribution flips each difference's sign. Exact (all 2^n flips) when n <= exactUpTo, else
 * `resamples` seeded random flips with p = (b + 1) / (B + 1) (b = flips at least as extreme).
 * scipy.stats.permutation_test(permutation_type='samples', alternative='two-sided') gives the same
 * exact p for the mean difference.
 * @throws Error for an empty sample or a non-finite value
 */
export function signFlipTest(
  d: readonly number[],
  o: { exactUpTo?: number; resamples?: number; seed?: number } = {},
): { p: number; exact: boolean } {
  if (d.length === 0) throw new Error('signFlipTest: empty sample');
  if (d.some((x) => !Number.isFinite(x))) throw new Error('signFlipTest: non-finite value');
  const n = d.length;
  const obs = Math.abs(d.reduce((a, b) => a + b, 0));
  // Relative tolerance: sums in another order differ in the last bits (scipy uses the same idea).
  const tol =
    1e-12 *
    Math.max(
      1,
      d.reduce((a, b) => a + Math.abs(b), 0),
    );
  if (n <= (o.exactUpTo ?? 16)) {
    let hits = 0;
    const total = 2 ** n;
    for (let mask = 0; mask < total; mask++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += mask & (1 << i) ? -d[i]! : d[i]!;
      if (Math.abs(s) >= obs - tol) hits++;
    }
    return { p: hits / total, exact: true };
  }
  const B = o.resamples ?? 20000;
  const u = uniform(o.seed ?? 54321);
  let hits = 0;
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += u() < 0.5 ? -d[i]! : d[i]!;
    if (Math.abs(s) >= obs - tol) hits++;
  }
  return { p: (hits + 1) / (B + 1), exact: false };
}

/** One Kaplan-Meier step: at `time`, `events` of `atRisk` ended; `survival` after it. */
export interface KmStep {
  time: number;
  atRisk: number;
  events: number;
  censored: number;
  survival: number;
}

/**
 * The Kaplan-Meier estimate of the survival function S(t) = P(T > t) from times and event flags
 * (event false = censored at that time; a censored time counts as at risk at its own time, the
 * usual convention). Steps at every distinct time, ascending. Same values as
 * scipy.stats.ecdf(CensoredData(uncensored=..., right=...)).sf.
 * @throws Error for mismatched lengths or a non-finite time
 */
export function kaplanMeier(times: readonly number[], events: readonly boolean[]): KmStep[] {
  if (times.length !== events.length) throw new Error('kaplanMeier: times and events differ in length');
  if (times.some((t) => !Number.isFinite(t))) throw new Error('kaplanMeier: non-finite time');
  const ts = [...new Set(times)].sort((a, b) => a - b);
  let atRisk = times.length;
  let s = 1;
  const out: KmStep[] = [];
  for (const t of ts) {
    let ev = 0,
      ce = 0;
    times.forEach((x, i) => {
      if (x === t) {
        if (events[i]) ev++;
        else ce++;
      }
    });
    if (atRisk > 0) s *= 1 - ev / atRisk;
    out.push({ time: t, atRisk, events: ev, censored: ce, survival: s });
    atRisk -= ev + ce;
  }
  return out;
}

/** The KM median: the first time at which S(t) <= 0.5; null when S never falls to 0.5 (censored beyond). */
export function kmMedian(steps: readonly KmStep[]): number | null {
  return steps.find((s) => s.survival <= 0.5)?.time ?? null;
}
