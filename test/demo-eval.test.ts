// The demo's standard errors and paired comparison (src/demo/eval.ts): hand-computed references.
import { describe, expect, it } from 'vitest';
import { meanStdErr, pairedDiff, type DemoEvalResult } from '../src/demo/eval.js';

/** An evaluation result holding only what pairedDiff reads. */
function ev(correct: number[], n: number): DemoEvalResult {
  return {
    passAt: {},
    stdErr: {},
    correct,
    n,
    meanAccuracy: 0,
    meanResponseTokens: 0,
    problems: correct.length,
    seconds: 0,
  };
}

describe('meanStdErr', () => {
  it('is the mean and the sample sd / sqrt(N)', () => {
    // [1, 2, 3, 4]: mean 2.5, sample variance 5/3, SE sqrt(5/3 / 4) = 0.6454972...
    const r = meanStdErr([1, 2, 3, 4]);
    expect(r.mean).toBe(2.5);
    expect(r.stdErr).toBeCloseTo(0.6454972244, 9);
    expect(meanStdErr([0.3]).stdErr).toBe(0);
    expect(Number.isNaN(meanStdErr([]).mean)).toBe(true);
  });
});

describe('pairedDiff', () => {
  it('compares pass@1 problem by problem', () => {
    // per-problem pass@1 = c / 4: a 0, .25, .5; b .25, .25, 1 -> d .25, 0, .5: mean .25, sd .25, SE .25 / sqrt 3
    const d = pairedDiff(ev([0, 1, 2], 4), ev([1, 1, 4], 4), 1);
    expect(d.diff).toBeCloseTo(0.25, 12);
    expect(d.stdErr).toBeCloseTo(0.25 / Math.sqrt(3), 12);
    expect(d.z).toBeCloseTo(Math.sqrt(3), 9);
  });
  it('uses the unbiased pass@k per problem', () => {
    // n = 4, k = 4: pass@4 = 1 when any sample is right: a 0, 1, 1; b 1, 1, 1 -> d 1, 0, 0:
    // mean 1/3, sd sqrt(1/3), SE 1/3
    const d = pairedDiff(ev([0, 1, 3], 4), ev([2, 1, 4], 4), 4);
    expect(d.diff).toBeCloseTo(1 / 3, 12);
    expect(d.stdErr).toBeCloseTo(1 / 3, 12);
    expect(d.z).toBeCloseTo(1, 9);
    // n = 4, k = 2, c = 1: 1 - C(3,2)/C(4,2) = 0.5; c = 0: 0 -> one problem, d = 0.5, SE 0
    expect(pairedDiff(ev([0], 4), ev([1], 4), 2)).toEqual({ diff: 0.5, stdErr: 0, z: Infinity });
  });
  it('refuses evaluations of different sizes', () => {
    expect(() => pairedDiff(ev([0, 1], 4), ev([0], 4))).toThrow(/problems \(2 vs 1\)/);
    expect(() => pairedDiff(ev([0], 4), ev([0], 8))).toThrow(/samples \(4 vs 8\)/);
  });
});
