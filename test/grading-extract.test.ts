import { describe, expect, it } from 'vitest';
import {
  answersEquivalent,
  extractFinalAnswer,
  getGrader,
  graderNames,
  lastBoxed,
  normalizeAnswer,
  parseGraderSpec,
  parsePlainNumber,
  toGradeResult,
} from '../src/grading/index.js';
import { parseStructure } from '../src/grading/structure.js';

describe('extraction', () => {
  it('brace-matches the last \\boxed{} and \\fbox{}', () => {
    expect(lastBoxed('a \\boxed{1} b \\boxed{\\frac{1}{2}} c')?.text).toBe('\\frac{1}{2}');
    expect(lastBoxed('\\boxed{\\{1,2\\}}')?.text).toBe('\\{1,2\\}');
    expect(lastBoxed('\\boxed{a} then \\fbox{b}')?.text).toBe('b');
    expect(lastBoxed('\\boxed 5$')?.text).toBe('5');
    expect(lastBoxed('\\boxed{unclosed')).toBeNull();
    expect(lastBoxed('\\boxedx{1}')).toBeNull();
    expect(lastBoxed('nothing')).toBeNull();
  });

  it('prefers whichever of box and Answer: line comes last', () => {
    expect(extractFinalAnswer('\\boxed{1}\nAnswer: 2')).toBe('2');
    expect(extractFinalAnswer('Answer: 2\n\\boxed{1}')).toBe('1');
    expect(extractFinalAnswer('Answer: \\boxed{7}.')).toBe('7');
    expect(extractFinalAnswer('**Answer:** 12.')).toBe('12');
    expect(extractFinalAnswer('Answer: $\\frac{1}{2}$.')).toBe('$\\frac{1}{2}$');
    expect(extractFinalAnswer('Final Answer: The final answer is $5$. I hope it is correct.')).toBe('$5$');
    expect(extractFinalAnswer('no answer here')).toBeNull();
    expect(extractFinalAnswer('\\boxed{}')).toBeNull();
  });
});

describe('normalisation and structure', () => {
  it.each([
    ['$\\dfrac{1}{2}$', '\\frac{1}{2}'],
    ['\\left( 3, \\frac{\\pi}{2} \\right)', '( 3, \\frac{\\pi}{2} )'],
    ['90^\\circ', '90'],
    ['50\\%', '50\\%'],
    ['50 percent', '50\\%'],
    ['\\$32,\\!348', '32348'],
    ['1{,}000', '1000'],
    ['5 \\text{ cm}', '5'],
    ['1.6 \\mathrm{~cm}', '1.6'],
    ['12 minutes', '12'],
    ['6m', '6m'],
    ['2 n', '2 n'],
    ['\\text{Evelyn}', 'Evelyn'],
    ['.5', '0.5'],
    ['3.', '3'],
    ['k \\geqslant 2', 'k \\ge 2'],
    ['52_{8}', '52_8'],
    ['x = 1 \\text{ or } x = 2', 'x = 1, x = 2'],
  ])('normalizeAnswer(%j) = %j', (raw, want) => {
    expect(normalizeAnswer(raw)).toBe(want);
  });

  it('reads structures', () => {
    expect(parseStructure('[0,1)')).toEqual({ kind: 'bracket', open: '[', close: ')', items: ['0', '1'] });
    expect(parseStructure('(x+1)')).toEqual({ kind: 'scalar', text: '(x+1)' });
    expect(parseStructure('\\{3,1\\}')).toEqual({ kind: 'set', items: ['3', '1'] });
    expect(parseStructure('(1,2),(3,4)')).toEqual({ kind: 'list', items: ['(1,2)', '(3,4)'] });
    expect(parseStructure('(0,1)\\cup(2,3)')).toEqual({ kind: 'union', items: ['(0,1)', '(2,3)'] });
    expect(parseStructure('\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}')).toEqual({
      kind: 'matrix',
      rows: [
        ['1', '2'],
        ['3', '4'],
      ],
    });
  });

  it('reads plain numbers', () => {
    expect(parsePlainNumber('025')).toBe(25);
    expect(parsePlainNumber('3.2 \\times 10^{5}')).toBe(320000);
    expect(parsePlainNumber('4.4e7')).toBe(44000000);
    expect(parsePlainNumber('-\\frac{3}{4}')).toBe(-0.75);
    expect(parsePlainNumber('1\\frac{4}{5}')).toBeCloseTo(1.8);
    expect(parsePlainNumber('1/0')).toBeNull();
    expect(parsePlainNumber('x')).toBeNull();
  });

  it('applies per-call tolerances', () => {
    expect(answersEquivalent('0.50001', '0.5')).toBe(false);
    expect(answersEquivalent('0.50001', '0.5', { relTol: 1e-4 })).toBe(true);
    expect(answersEquivalent('0.50001', '0.5', { relTol: 1e-6 })).toBe(false);
    expect(answersEquivalent('4.25', '4.2')).toBe(false);
    expect(answersEquivalent('4.25', '4.2', { absTol: 0.1 })).toBe(true);
    expect(answersEquivalent('', '4.2')).toBe(false);
  });
});

describe('registry and custom specs', () => {
  it('lists graders and names them in the unknown-grader error', () => {
    expect(graderNames()).toEqual(['dapo', 'math', 'math_verify']);
    expect(getGrader('math').wrongScore).toBe(0);
    expect(() => getGrader('mathh')).toThrow('unknown grader "mathh"; valid graders: dapo, math');
  });

  it('parses grader arguments', () => {
    expect(parseGraderSpec('math')).toBe('math');
    expect(parseGraderSpec('./g.ts#score', '/x')).toEqual({ module: '/x/g.ts', export: 'score' });
    expect(parseGraderSpec('/abs/g.js', '/x')).toEqual({ module: '/abs/g.js' });
    expect(() => parseGraderSpec('nope')).toThrow(/unknown grader "nope"; valid graders: dapo, math/);
  });

  it('validates custom grader return values', () => {
    expect(toGradeResult(1, 'L')).toEqual({ score: 1, correct: true, extracted: null });
    expect(toGradeResult({ score: 0, extra: 3 }, 'L')).toEqual({ score: 0, correct: false, extracted: null, extra: 3 });
    expect(toGradeResult({ score: 0.2, correct: false, extracted: '5' }, 'L')).toEqual({
      score: 0.2,
      correct: false,
      extracted: '5',
    });
    expect(() => toGradeResult(Infinity, 'custom grader /g.ts#f')).toThrow(
      'custom grader /g.ts#f: returned a non-finite score (Infinity)',
    );
    expect(() => toGradeResult({ score: '1' }, 'L')).toThrow(
      /L: returned an object whose "score" is not a finite number/,
    );
    expect(() => toGradeResult(null, 'L')).toThrow(/L: returned null/);
  });
});
