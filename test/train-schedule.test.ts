// Learning-rate schedules, micro-batch splitting and the loss-config defaults (pure TS).
import { describe, expect, it } from 'vitest';
import {
  countResponse,
  DEFAULT_LOSS,
  packSequences,
  lrAt,
  resolveLossConfig,
  seqRange,
  sliceBatch,
  splitByTokenBudget,
  lossConfig,
} from '../src/train/index.js';
import { RecipeSchema } from '../src/recipe/schema.js';

describe('lrAt', () => {
  it('linear warmup then constant', () => {
    const s = { lr: 1e-3, warmupSteps: 4 };
    expect([0, 1, 2, 3, 4, 100].map((k) => lrAt(k, s))).toEqual([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3]);
  });
  it('cosine to the min-lr ratio', () => {
    const s = { lr: 1, warmupSteps: 2, kind: 'cosine' as const, totalSteps: 12, minLrRatio: 0.1 };
    expect(lrAt(1, s)).toBe(1);
    expect(lrAt(2, s)).toBeCloseTo(1, 12);
    expect(lrAt(7, s)).toBeCloseTo(0.1 + 0.9 * 0.5, 12);
    expect(lrAt(12, s)).toBeCloseTo(0.1, 12);
    expect(lrAt(50, s)).toBeCloseTo(0.1, 12);
  });
  it('rejects bad schedules', () => {
    expect(() => lrAt(0, { lr: -1 })).toThrow(/lr/);
    expect(() => lrAt(5, { lr: 1, kind: 'cosine' })).toThrow(/totalSteps/);
    expect(() => lrAt(0, { lr: 1, minLrRatio: 2 })).toThrow(/minLrRatio/);
  });
});

describe('micro-batches', () => {
  it('splits greedily by token budget, keeping order; an oversize sequence gets its own', () => {
    const r = splitByTokenBudget([3, 4, 2, 10, 1, 1], 7);
    expect(r.map((x) => [x.seqStart, x.seqEnd, x.tokStart, x.tokEnd])).toEqual([
      [0, 2, 0, 7],
      [2, 3, 7, 9],
      [3, 4, 9, 19],
      [4, 6, 19, 21],
    ]);
    expect(() => splitByTokenBudget([1], 0)).toThrow(/tokenBudget/);
    expect(() => splitByTokenBudget([1, 0], 4)).toThrow(/seqLens\[1\]/);
  });
  it('slices per-token arrays and counts response tokens / sequences', () => {
    const b = {
      tokens: Int32Array.from([1, 2, 3, 4, 5, 6]),
      seqLens: Int32Array.from([2, 2, 2]),
      responseMask: Uint8Array.from([0, 1, 0, 0, 0, 1]),
      advantages: Float32Array.from([0, 1, 0, 0, 0, 2]),
    };
    expect(countResponse(b)).toEqual({ tokens: 2, sequences: 2 });
    const s = sliceBatch(b, seqRange(b.seqLens, 1, 3));
    expect(Array.from(s.tokens)).toEqual([3, 4, 5, 6]);
    expect(Array.from(s.advantages!)).toEqual([0, 0, 0, 2]);
    expect(Array.from(s.seqLens)).toEqual([2, 2]);
  });
});

describe('packSequences', () => {
  it('puts each prompt then its response end to end, masking the prompts', () => {
    const b = packSequences([
      { promptTokens: Int32Array.from([1, 2]), responseTokens: Int32Array.from([3]) },
      { promptTokens: Int32Array.from([4]), responseTokens: Int32Array.from([5, 6]) },
    ]);
    expect(Array.from(b.tokens)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(b.seqLens)).toEqual([3, 3]);
    expect(Array.from(b.responseMask)).toEqual([0, 0, 1, 0, 1, 1]);
    expect(countResponse(b)).toEqual({ tokens: 3, sequences: 2 });
  });
});

describe('loss config', () => {
  it('fills defaults and validates', () => {
    const c = resolveLossConfig({ name: 'ppo', penalty: 'pearson' });
    expect(c).toMatchObject({ ...DEFAULT_LOSS, name: 'ppo', penalty: 'pearson' });
    expect(c.penalty).toBe('pearson');
    expect(() => resolveLossConfig({ dualClip: 1 })).toThrow(/dualClip/);
    expect(() => resolveLossConfig({ aggregation: 'sum' as never })).toThrow(/token-mean/);
    expect(() => resolveLossConfig({ sigma: 0 })).toThrow(/sigma/);
  });

  it('takes its defaults from the recipe schema: a default recipe trains with DEFAULT_LOSS', () => {
    expect(DEFAULT_LOSS).toMatchObject({ name: 'gtr', clipLow: 0.2, clipHigh: 0.28, sigma: 0.2, beta: 1, dualClip: 0 });
    expect(lossConfig(RecipeSchema.parse({}).algorithm.loss)).toEqual(DEFAULT_LOSS);
    const grpo = lossConfig(RecipeSchema.parse({ algorithm: { name: 'grpo' } }).algorithm.loss);
    expect(grpo).toMatchObject({ name: 'grpo', beta: 0 });
  });
});
