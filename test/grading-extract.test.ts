import { describe, expect, it } from 'vitest';
import {
  answerInSentence,
  answersEquivalent,
  extractFinalAnswer,
  getGrader,
  graderNames,
  lastBoxed,
  normalizeAnswer,
  parseGraderSpec,
  parsePlainNumber,
  proseAnswer,
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

describe('final-answer extraction: prose, hedges, corrections, nesting (issue #25)', () => {
  it('reads only outermost boxes: a box inside a box is content', () => {
    expect(lastBoxed('\\boxed{4\\boxed{3}}')?.text).toBe('4\\boxed{3}');
    expect(lastBoxed('\\boxed{\\boxed{3}}')?.text).toBe('\\boxed{3}');
    expect(extractFinalAnswer('a \\boxed{1} b \\boxed{2')).toBeNull();
  });

  it('reads the answer stated in prose, Math-Verify style, last match first', () => {
    expect(proseAnswer('After all that, the answer is $\\frac{3}{4}$.')).toBe('\\frac{3}{4}');
    expect(proseAnswer('We find $x=2$. So the largest $n$ is 34.')).toBe('34');
    expect(proseAnswer('\\frac{10}{9}')).toBe('\\frac{10}{9}');
    expect(proseAnswer('No numbers here at all.')).toBeNull();
    expect(proseAnswer('The total is 1,000.99 dollars.')).toBe('1,000.99');
    expect(proseAnswer('Soucis : 2,74 $ a..')).toBe('2,74');
  });

  it('a sentence with two different values and a hedge word states no answer', () => {
    expect(answerInSentence('The answer is 3 unless it is 4')).toBeNull();
    expect(answerInSentence('it is 3, or maybe 4')).toBeNull();
    expect(answerInSentence('$3$ or $4$')).toBe('3, 4');
    expect(answerInSentence('The sum $a+b$ is $7$')).toBe('7');
    expect(answerInSentence('It is $\\frac12$, that is 1/2')).toBe('1/2');
  });

  it('a correction after the final answer voids it; a restatement does not', () => {
    expect(extractFinalAnswer('So $\\boxed{3}$. Wait, actually the answer is 4.')).toBeNull();
    expect(extractFinalAnswer('So $\\boxed{3}$. The answer is $3$.')).toBe('3');
    expect(extractFinalAnswer('So $\\boxed{\\frac12}$. So the answer is 0.5.')).toBe('\\frac12');
    expect(extractFinalAnswer('Answer: 3\nOops, mistake: it should be 5.')).toBeNull();
  });

  it('joins labelled boxes of a multi-part answer', () => {
    expect(extractFinalAnswer('$y_1 = \\boxed{2x}$ and $y_2 = \\boxed{3x}$')).toBe('2x, 3x');
    expect(extractFinalAnswer('First \\boxed{2}. Then after more work we find \\boxed{3}')).toBe('3');
  });
});
