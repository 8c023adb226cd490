import { describe, expect, it } from 'vitest';
import {
  ADVANTAGE_ESTIMATORS,
  computeAdvantages,
  drGrpoAdvantages,
  dynamicSamplingFilter,
  getAdvantageEstimator,
  grpoAdvantages,
  overlongPenalty,
  rlooAdvantages,
} from '../src/rl/advantages.js';

// Independent straightforward reference implementations (plain arrays, per-group loops).
function groupsOf(r: number[], g: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < r.length; i += g) out.push(r.slice(i, i + g));
  return out;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sampleStd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
function refGrpo(r: number[], g: number): number[] {
  return groupsOf(r, g).flatMap((xs) => (g === 1 ? [0] : xs.map((x) => (x - mean(xs)) / (sampleStd(xs) + 1e-6))));
}
function refDr(r: number[], g: number): number[] {
  return groupsOf(r, g).flatMap((xs) => xs.map((x) => x - mean(xs)));
}
function refRloo(r: number[], g: number): number[] {
  return groupsOf(r, g).flatMap((xs) =>
    xs.map((x, i) => {
      if (g === 1) return 0;
      const others = xs.filter((_, j) => j !== i);
      return x - mean(others);
    }),
  );
}

// Deterministic pseudo-random rewards (LCG), mixing binary and continuous groups.
function rewards(count: number, seed: number, binary: boolean): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    out.push(binary ? (u < 0.4 ? 1 : 0) : u * 4 - 1);
  }
  return out;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(tol);
}

describe('advantage registry', () => {
  it('lists the estimators and resolves them by name', () => {
    expect([...ADVANTAGE_ESTIMATORS]).toEqual(['grpo', 'dr_grpo', 'rloo']);
    expect(getAdvantageEstimator('grpo')).toBe(grpoAdvantages);
    expect(getAdvantageEstimator('dr_grpo')).toBe(drGrpoAdvantages);
    expect(getAdvantageEstimator('rloo')).toBe(rlooAdvantages);
  });

  it('unknown names list the valid ones', () => {
    expect(() => getAdvantageEstimator('ppo')).toThrow(
      "unknown advantage estimator 'ppo'; valid names: grpo, dr_grpo, rloo",
    );
    expect(() => getAdvantageEstimator('toString')).toThrow(/valid names/);
  });

  it('validates shapes and values', () => {
    expect(() => computeAdvantages('grpo', new Float64Array(5), 2)).toThrow(/5 is not a multiple of groupSize 2/);
    expect(() => computeAdvantages('rloo', new Float64Array(4), 0)).toThrow(/positive integer/);
    expect(() => computeAdvantages('dr_grpo', Float64Array.from([0, 1, Number.NaN, 1]), 2)).toThrow(
      /rewards\[2\] \(prompt 1, sample 0\)/,
    );
  });
});

describe('hand-computed values', () => {
  const r = Float64Array.from([1, 0, 0, 0, /* prompt 1 */ 1, 1, 0, 0, /* prompt 2 */ 1, 1, 1, 1]);

  it('grpo uses the sample std (n - 1), as verl torch.std', () => {
    // group 0: mean .25, sample std sqrt((.5625 + 3 * .0625) / 3) = 0.5
    // group 1: mean .5, sample std sqrt(4 * .25 / 3) = 1/sqrt(3)
    const a = grpoAdvantages(r, 4);
    const s1 = 1 / Math.sqrt(3);
    expectClose(a, [
      0.75 / 0.500001,
      -0.25 / 0.500001,
      -0.25 / 0.500001,
      -0.25 / 0.500001,
      0.5 / (s1 + 1e-6),
      0.5 / (s1 + 1e-6),
      -0.5 / (s1 + 1e-6),
      -0.5 / (s1 + 1e-6),
      0,
      0,
      0,
      0,
    ]);
  });

  it('dr_grpo only centers', () => {
    expectClose(drGrpoAdvantages(r, 4), [0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5, 0, 0, 0, 0]);
  });

  it('rloo subtracts the mean of the other samples', () => {
    // group 0: 1 - 0 = 1; 0 - 1/3. group 1: 1 - 1/3 = 2/3; 0 - 2/3
    expectClose(rlooAdvantages(r, 4), [1, -1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3, 0, 0, 0, 0]);
  });

  it('groups of size 1 get advantage 0', () => {
    const one = Float64Array.from([1, 0, 0.5]);
    for (const name of ADVANTAGE_ESTIMATORS) expectClose(computeAdvantages(name, one, 1), [0, 0, 0]);
  });

  it('empty input gives empty output', () => {
    for (const name of ADVANTAGE_ESTIMATORS) expect(computeAdvantages(name, new Float64Array(0), 8)).toHaveLength(0);
  });
});

describe('against independent loop implementations and invariants', () => {
  const refs: Record<string, (r: number[], g: number) => number[]> = { grpo: refGrpo, dr_grpo: refDr, rloo: refRloo };
  for (const g of [1, 2, 3, 5, 8, 16]) {
    for (const binary of [true, false]) {
      it(`G=${g}, ${binary ? 'binary' : 'continuous'} rewards`, () => {
        const raw = rewards(g * 12, 7 * g + (binary ? 1 : 0), binary);
        const input = Float64Array.from(raw);
        for (const name of ADVANTAGE_ESTIMATORS) {
          const out = computeAdvantages(name, input, g);
          expect(out).toBeInstanceOf(Float64Array);
          expectClose(out, refs[name]!(raw, g), 1e-9);
          expect(Array.from(input)).toEqual(raw); // input untouched
        }
        const grpo = Array.from(grpoAdvantages(input, g));
        const rloo = Array.from(rlooAdvantages(input, g));
        const dr = Array.from(drGrpoAdvantages(input, g));
        groupsOf(raw, g).forEach((xs, p) => {
          const ga = grpo.slice(p * g, p * g + g);
          expect(Math.abs(mean(ga))).toBeLessThan(1e-9);
          expect(Math.abs(mean(rloo.slice(p * g, p * g + g)))).toBeLessThan(1e-12);
          expect(Math.abs(mean(dr.slice(p * g, p * g + g)))).toBeLessThan(1e-12);
          if (g > 1 && sampleStd(xs) > 0) {
            // std(A) = std / (std + 1e-6): unit up to the epsilon
            expect(Math.abs(sampleStd(ga) - 1)).toBeLessThan(1e-5);
            // rloo = G/(G-1) * dr_grpo
            expectClose(
              rloo.slice(p * g, p * g + g),
              dr.slice(p * g, p * g + g).map((x) => (x * g) / (g - 1)),
              1e-12,
            );
          }
        });
      });
    }
  }
});

describe('dynamicSamplingFilter (DAPO)', () => {
  it('keeps the groups whose rewards are not all equal', () => {
    const r = Float64Array.from([1, 1, 1, /**/ 0, 1, 0, /**/ 0, 0, 0, /**/ 0.5, 0.5, 0.5, /**/ 1, 0, 0]);
    expect(dynamicSamplingFilter(r, 3)).toEqual([1, 4]);
  });

  it('honours a tolerance and handles G = 1 and empty input', () => {
    const r = Float64Array.from([1, 1 + 1e-12, 0, 0.5]);
    expect(dynamicSamplingFilter(r, 2)).toEqual([0, 1]);
    expect(dynamicSamplingFilter(r, 2, 1e-9)).toEqual([1]);
    expect(dynamicSamplingFilter(Float64Array.from([1, 0]), 1)).toEqual([]);
    expect(dynamicSamplingFilter(new Float64Array(0), 4)).toEqual([]);
    expect(() => dynamicSamplingFilter(r, 3)).toThrow(/not a multiple/);
    expect(() => dynamicSamplingFilter(r, 2, -1)).toThrow(/tolerance/);
  });

  it('kept groups are exactly those with nonzero advantages', () => {
    const raw = rewards(8 * 20, 99, true);
    const adv = grpoAdvantages(Float64Array.from(raw), 8);
    const kept = dynamicSamplingFilter(Float64Array.from(raw), 8);
    for (let p = 0; p < 20; p++) {
      const anyNonzero = Array.from(adv.slice(p * 8, p * 8 + 8)).some((x) => x !== 0);
      expect(kept.includes(p)).toBe(anyNonzero);
    }
  });
});

describe('overlongPenalty (DAPO Eq. 13)', () => {
  // max 100, buffer 20: free up to 80, linear to -factor at 100, clamped beyond
  it('is 0 up to max - buffer', () => {
    expect(overlongPenalty(0, 100, 20, 1)).toBe(0);
    expect(overlongPenalty(80, 100, 20, 1)).toBe(0);
  });

  it('is linear inside the buffer', () => {
    expect(overlongPenalty(81, 100, 20, 1)).toBeCloseTo(-0.05, 15);
    expect(overlongPenalty(90, 100, 20, 1)).toBeCloseTo(-0.5, 15);
    expect(overlongPenalty(90, 100, 20, 2)).toBeCloseTo(-1, 15);
    expect(overlongPenalty(100, 100, 20, 1)).toBe(-1);
  });

  it('is clamped to -penaltyFactor beyond max', () => {
    expect(overlongPenalty(101, 100, 20, 1)).toBe(-1);
    expect(overlongPenalty(5000, 100, 20, 0.5)).toBe(-0.5);
    expect(overlongPenalty(150, 100, 100, 1)).toBe(-1);
  });

  it('zero factor means no shaping', () => {
    expect(overlongPenalty(100, 100, 20, 0)).toBe(-0);
  });

  it('validates its arguments', () => {
    expect(() => overlongPenalty(-1, 100, 20, 1)).toThrow(/responseLength/);
    expect(() => overlongPenalty(10, 100, 0, 1)).toThrow(/bufferTokens/);
    expect(() => overlongPenalty(10, 100, 101, 1)).toThrow(/bufferTokens/);
    expect(() => overlongPenalty(10, 0, 1, 1)).toThrow(/maxNewTokens/);
    expect(() => overlongPenalty(10, 100, 20, -1)).toThrow(/penaltyFactor/);
  });
});
