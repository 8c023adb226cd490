// The transition task's generator and graders against labelled cases.
import { describe, expect, it } from 'vitest';
import { formatAnswer, generateTransitionTask, gradeModeA, gradeModeB, responseMode } from '../src/transition/task.js';

describe('transition graders', () => {
  const row = { answer: '55' };
  it.each([
    ['Answer: 55', 1, 0, 'A'],
    ['#### 55', 0, 1, 'B'],
    ['  Answer: 55\n', 1, 0, 'A'],
    ['Answer: 56', 0, 0, 'A'],
    ['#### 54', 0, 0, 'B'],
    ['Answer: 55 #### 55', 0, 0, 'other'],
    ['#### 55\nAnswer: 55', 0, 0, 'other'],
    ['The answer is 55', 0, 0, 'other'],
    ['Answer:55', 0, 0, 'other'],
    ['###55', 0, 0, 'other'],
    ['', 0, 0, 'other'],
  ] as const)('%j -> A %d, B %d (mode %s)', (response, a, b, mode) => {
    expect(gradeModeA(response, row).score).toBe(a);
    expect(gradeModeB(response, row).score).toBe(b);
    expect(gradeModeA(response, row).correct).toBe(a === 1);
    expect(gradeModeA(response, row).response_mode).toBe(mode);
    expect(responseMode(response) ?? 'other').toBe(mode);
  });
  it('reads the gold from row.gold too, and extracts the number of either format', () => {
    expect(gradeModeB('#### 7', { gold: '7' }).score).toBe(1);
    expect(gradeModeA('#### 7', { gold: '7' }).extracted).toBe('7');
  });
  it('formats each mode', () => {
    expect(formatAnswer('A', 85)).toBe('Answer: 85');
    expect(formatAnswer('B', 85)).toBe('#### 85');
  });
});

describe('generateTransitionTask', () => {
  it('draws disjoint, correct, deterministic splits with the asked mode share', () => {
    const t = generateTransitionTask({ train: 800, heldOut: 100, shareB: 0.1, seed: 3 });
    expect(t.train).toHaveLength(800);
    expect(t.heldOut).toHaveLength(100);
    const held = new Set(t.heldOut.map((p) => p.problem));
    expect(t.train.some((p) => held.has(p.problem))).toBe(false);
    expect(new Set(t.train.map((p) => p.problem)).size).toBe(800);
    for (const p of [...t.train, ...t.heldOut]) {
      const m = /^(\d+)\+(\d)=$/.exec(p.problem)!;
      expect(Number(m[1]) + Number(m[2])).toBe(Number(p.answer));
      expect(Number(m[1])).toBeGreaterThanOrEqual(10);
      expect(p.solution).toBe(formatAnswer(p.mode, p.answer));
      // each SFT target earns 1 from its own mode's grader, 0 from the other
      expect(gradeModeA(p.solution, p).score).toBe(p.mode === 'A' ? 1 : 0);
      expect(gradeModeB(p.solution, p).score).toBe(p.mode === 'B' ? 1 : 0);
    }
    const shareB = t.train.filter((p) => p.mode === 'B').length / 800;
    expect(shareB).toBe(0.1);
    expect(t.heldOut.filter((p) => p.mode === 'B')).toHaveLength(10);
    expect(generateTransitionTask({ train: 800, heldOut: 100, seed: 3 })).toEqual(t);
    expect(generateTransitionTask({ train: 800, heldOut: 100, seed: 4 }).train[0]).not.toEqual(t.train[0]);
  });
  it('refuses more problems than exist', () => {
    expect(() => generateTransitionTask({ train: 850, heldOut: 100 })).toThrow(/exceeds the 900/);
  });
});
