// The GPU transition recipe (recipes/qwen3-1.7b-transition-dapo.yaml) validates, its schedule is
// A 50 then six alternating 75-step phases on the paper's setting (1,024 new tokens, symmetric
// clip), its grader modules load; and the two one-format
// graders against labelled responses.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRecipe } from '../src/recipe/index.js';
import { phaseSpans, resolvePhases } from '../src/recipe/schedule.js';
import { answerLineOnly, boxedOnly } from '../src/transition/dapo-formats.js';
import { repoRoot } from './helpers/paths.js';

describe('qwen3-1.7b-transition-dapo.yaml', () => {
  it('parses: the paper setting with six switches, 1,024 new tokens and a symmetric clip', async () => {
    const r = loadRecipe(join(repoRoot, 'recipes', 'qwen3-1.7b-transition-dapo.yaml'));
    const paper = loadRecipe(join(repoRoot, 'recipes', 'qwen3-1.7b-gtr-dapo.yaml'));
    expect({ ...r.algorithm, loss: { ...r.algorithm.loss, clip_ratio_high: 0.28 } }).toEqual(paper.algorithm);
    expect(r.algorithm.loss.clip_ratio_high).toBe(0.2);
    expect([r.rollout.max_new_tokens, r.eval.max_new_tokens]).toEqual([1024, 1024]);
    expect(r.train).toEqual(paper.train);
    expect(r.model.path).toBe('Qwen/Qwen3-1.7B-Base');
    const phases = resolvePhases(r);
    expect(phases.map((p) => [p.name, (p.grader as { export: string }).export, p.train, p.template, p.eval])).toEqual([
      ['A', 'answerLineOnly', 'dapo-math-17k', 'dapo', ['math500']],
      ['B', 'boxedOnly', 'dapo-math-17k', 'dapo', ['math500']],
    ]);
    // Phase 0 = A, 1 = B (entries that share a name are one phase met again).
    expect(phaseSpans(r).map((s) => [s.phase, s.firstStep, s.lastStep])).toEqual([
      [0, 1, 50],
      [1, 51, 125],
      [0, 126, 200],
      [1, 201, 275],
      [0, 276, 350],
      [1, 351, 425],
      [0, 426, 500],
    ]);
    for (const p of phases) {
      const g = p.grader as { module: string; export: string };
      // Module paths in a recipe are read from the recipe's folder (recipes/../src/transition).
      expect(g.module).toBe(join(repoRoot, 'src', 'transition', 'dapo-formats.ts'));
      const mod = await import(g.module);
      expect(typeof mod[g.export]).toBe('function');
    }
  });
});

describe('one-format graders', () => {
  const row = { answer: '12' };
  it.each([
    ['So x = 12.\nAnswer: 12', 1, 0],
    ['So x = 12, and the answer is $\\boxed{12}$.', 0, 1],
    ['$\\boxed{12}$\nAnswer: 12', 0, 0],
    ['Answer: 13', 0, 0],
    ['\\boxed{13}', 0, 0],
    ['\\boxed{\\frac{24}{2}}', 0, 1],
    ['no answer', 0, 0],
  ] as const)('%j -> answerLineOnly %d, boxedOnly %d', (response, a, b) => {
    expect(answerLineOnly(response, row).score).toBe(a);
    expect(boxedOnly(response, row).score).toBe(b);
  });
});
