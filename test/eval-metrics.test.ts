import { describe, expect, it } from 'vitest';
import { defaultMetrics, majAtN, majorityVote, meanAtN, parseMetric, passAtK } from '../src/eval/metrics.js';

/** All k-subsets of {0..n-1}, counting those holding at least one of the first c (correct) samples. */
function bruteForcePassAtK(n: number, c: number, k: number): number {
  let total = 0;
  let hit = 0;
  const rec = (start: number, left: number, anyCorrect: boolean): void => {
    if (left === 0) {
      total++;
      if (anyCorrect) hit++;
      return;
    }
    for (let i = start; i <= n - left; i++) rec(i + 1, left - 1, anyCorrect || i < c);
  };
  rec(0, k, false);
  return hit / total;
}

/** Log-space reference: C(n-c,k)/C(n,k) = prod_{i<k} (1 - c/(n-i)), summed as log1p terms. */
function logSpacePassAtK(n: number, c: number, k: number): number {
  if (n - c < k) return 1;
  let logRatio = 0;
  for (let i = 0; i < k; i++) logRatio += Math.log1p(-c / (n - i));
  return -Math.expm1(logRatio);
}

describe('passAtK (Chen et al. 2021 unbiased estimator)', () => {
  it('matches brute-force enumeration over all k-subsets for n <= 10, every c and k', () => {
    let cases = 0;
    for (let n = 1; n <= 10; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) {
          expect(Math.abs(passAtK(n, c, k) - bruteForcePassAtK(n, c, k))).toBeLessThan(1e-12);
          cases++;
        }
      }
    }
    expect(cases).toBe(440);
  });

  it('hand-computed values', () => {
    expect(passAtK(4, 2, 2)).toBeCloseTo(5 / 6, 15);
    expect(passAtK(4, 1, 2)).toBeCloseTo(0.5, 15);
    expect(passAtK(10, 3, 1)).toBeCloseTo(0.3, 15);
    expect(passAtK(5, 0, 3)).toBe(0);
    expect(passAtK(5, 5, 1)).toBe(1);
    expect(passAtK(5, 3, 3)).toBe(1); // n - c < k
  });

  it('pass@1 equals c/n', () => {
    for (let n = 1; n <= 50; n++) for (let c = 0; c <= n; c++) expect(passAtK(n, c, 1)).toBeCloseTo(c / n, 14);
  });

  it('is stable for n = 1000 (finite, within 1e-12 of a log-space reference)', () => {
    const n = 1000;
    const cs = [0, 1, 2, 3, 5, 10, 50, 100, 500, 900, 990, 995, 998, 999, 1000];
    const ks = [1, 2, 4, 8, 16, 32, 64, 100, 250, 500, 999, 1000];
    for (const c of cs) {
      for (const k of ks) {
        const v = passAtK(n, c, k);
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        expect(Math.abs(v - logSpacePassAtK(n, c, k))).toBeLessThan(1e-12);
      }
    }
    // naive binomials overflow here; the estimator must not
    expect(passAtK(1000, 1, 1)).toBeCloseTo(0.001, 15);
    expect(passAtK(1000, 999, 1)).toBeCloseTo(0.999, 15);
  });

  it('is monotone in k and c', () => {
    for (let k = 1; k < 20; k++) expect(passAtK(20, 3, k + 1)).toBeGreaterThanOrEqual(passAtK(20, 3, k));
    for (let c = 0; c < 20; c++) expect(passAtK(20, c + 1, 4)).toBeGreaterThanOrEqual(passAtK(20, c, 4));
  });

  it('rejects k > n, c > n and invalid arguments', () => {
    expect(() => passAtK(4, 1, 5)).toThrow(/k=5 exceeds .* n=4/);
    expect(() => passAtK(4, 5, 1)).toThrow(/c=5 .* n=4/);
    expect(() => passAtK(4, 1, 0)).toThrow(RangeError);
    expect(() => passAtK(0, 0, 1)).toThrow(RangeError);
    expect(() => passAtK(4, -1, 1)).toThrow(RangeError);
    expect(() => passAtK(4.5, 1, 1)).toThrow(RangeError);
    expect(() => passAtK(4, 1, Number.NaN)).toThrow(RangeError);
  });
});

describe('meanAtN', () => {
  it('averages correctness', () => {
    expect(meanAtN([true, false, true, true])).toBe(0.75);
    expect(meanAtN([false])).toBe(0);
    expect(() => meanAtN([])).toThrow(/no samples/);
  });
});

describe('majorityVote / majAtN', () => {
  const v = (key: string | null, correct: boolean) => ({ key, correct });

  it('most frequent key wins and carries its verdict', () => {
    const out = majorityVote([v('1', true), v('2', false), v('2', false), v('3', false)]);
    expect(out).toEqual({ key: '2', index: 1, votes: 2, correct: false });
    expect(majAtN([v('7', true), v('5', false), v('7', true)])).toBe(1);
  });

  it('ties go to the key that occurred first', () => {
    expect(majorityVote([v('a', false), v('b', true), v('b', true), v('a', false)]).key).toBe('a');
    expect(majorityVote([v('b', true), v('a', false), v('a', false), v('b', true)])).toMatchObject({
      key: 'b',
      correct: true,
    });
  });

  it('samples without an extracted answer do not vote', () => {
    // three nulls would win if null voted
    const out = majorityVote([v(null, false), v(null, false), v(null, false), v('4', true)]);
    expect(out).toEqual({ key: '4', index: 3, votes: 1, correct: true });
  });

  it('no votes at all counts as incorrect', () => {
    expect(majorityVote([v(null, false), v(null, false)])).toEqual({ key: null, index: -1, votes: 0, correct: false });
    expect(majAtN([])).toBe(0);
  });
});

describe('metric names', () => {
  it('parses pass@k, mean@k, maj@k and rejects others', () => {
    expect(parseMetric('pass@4')).toEqual({ kind: 'pass', k: 4, name: 'pass@4' });
    expect(parseMetric('maj@16')).toMatchObject({ kind: 'maj', k: 16 });
    for (const bad of ['pass@0', 'avg@4', 'pass@', 'pass@1.5', 'mean@-1'])
      expect(() => parseMetric(bad)).toThrow(/unknown metric/);
  });

  it('default metric set', () => {
    expect(defaultMetrics(16)).toEqual(['pass@1', 'pass@2', 'pass@4', 'pass@8', 'pass@16', 'mean@16', 'maj@16']);
    expect(defaultMetrics(6)).toEqual(['pass@1', 'pass@2', 'pass@4', 'pass@6', 'mean@6', 'maj@6']);
    expect(defaultMetrics(1)).toEqual(['pass@1', 'mean@1', 'maj@1']);
  });
});
