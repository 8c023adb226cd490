// The confidence-interval code against scipy.stats.t (values computed with scipy 1.17.1:
// t.ppf, t.cdf, and numpy mean / std(ddof=1) for the sample).
import { describe, expect, it } from 'vitest';
import { logGamma, meanCi, tCdf, tQuantile } from '../src/transition/stats.js';

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
