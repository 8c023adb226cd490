import { describe, expect, it } from 'vitest';
import { dapoGrader, gradeDapo, getGrader, normalizeDapoAnswer } from '../src/grading/index.js';

// Expected values were produced by running verl's math_dapo.normalize_final_answer (Python) on
// each input; the table pins byte-for-byte parity, quirks included ("34." stays "34.", "1,2,3"
// becomes "123", "\\text{m}" vanishes, "\\dfrac" is not rewritten).
const NORMALIZE_PARITY: Array<[string, string]> = [
  ['34', '34'],
  ['$34$', '34'],
  ['x = 34', '34'],
  ['1,000', '1000'],
  ['\\boxed{34}', '34'],
  ['34 degrees', '34'],
  ['\\text{34}', '34'],
  ['34.', '34.'],
  ['$34$.', '34'],
  ['\\frac12', '\\frac{1}{2}'],
  ['\\frac{1}{2}', '\\frac{1}{2}'],
  ['0.5', '0.5'],
  ['\\dfrac{1}{2}', '\\dfrac{1}{2}'],
  ['\\sqrt2', '\\sqrt{2}'],
  ['a+b', 'a+b'],
  ['an apple', 'apple'],
  ['\\text{Evelyn}', 'Evelyn'],
  ['5\\text{ cm}', '5'],
  ['10^\\circ', '10'],
  ['90^{\\circ}', '90'],
  ['\\$5.00', '5.00'],
  ['12 \\text{ ways}', '12'],
  ['3\\;000', '3000'],
  ['1{,}000', '1000'],
  ['\\textbf{7}', '7'],
  ['\\overline{3}', '3'],
  ['$\\frac{3}{4}$ of the pie', '\\frac{3}{4}'],
  ['y=2x+3', '2x+3'],
  ['1,2,3', '123'],
  ['(1, 2)', '(1,2)'],
  ['\\{1,2\\}', '\\{1,2\\}'],
  ['  42  ', '42'],
  ['-7', '-7'],
  ['\\text{m}', ''],
  ['\\mathrm{th}', ''],
  ['3\\ldots', '3'],
  ['"5"', '5'],
  ['\\fracab', '\\frac{a}{b}'],
  ['\\sqrtab', '\\sqrt{a}b'],
  ['12 students', '12'],
  ['50\\%', '50\\%'],
  ['100 dollars', '100'],
  ['\\pi', '\\pi'],
  ['2\\pi r', '2\\pir'],
];

describe('dapo: normalize_final_answer parity with verl', () => {
  it.each(NORMALIZE_PARITY)('normalizes %j to %j', (input, expected) => {
    expect(normalizeDapoAnswer(input)).toBe(expected);
  });
});

describe('dapo grader rule', () => {
  it('scores +1 / -1 on an exact normalised match of the last Answer: line', () => {
    expect(gradeDapo('Work.\nAnswer: 34', '34')).toEqual({ score: 1, correct: true, extracted: '34' });
    expect(gradeDapo('Work.\nAnswer: 43', '34')).toEqual({ score: -1, correct: false, extracted: '43' });
  });

  it('takes the last match, case-insensitively', () => {
    expect(gradeDapo('Answer: 12\nmore work\nanswer : 34', '34').score).toBe(1);
    expect(gradeDapo('ANSWER: $1,000$', '1000')).toMatchObject({ score: 1, extracted: '1000' });
  });

  it('reads only the last 300 characters', () => {
    const r = gradeDapo('Answer: 34\n' + 'y'.repeat(300), '34');
    expect(r).toEqual({ score: -1, correct: false, extracted: null });
    expect(gradeDapo('x'.repeat(280) + '\nAnswer: 7', '7').score).toBe(1);
  });

  it('counts the 300 characters in code points like Python', () => {
    // 10 + 200 code points (410 UTF-16 units): Python keeps the whole string; 10 + 291 drops the 'A'.
    expect(gradeDapo('Answer: 9\n' + '\u{1D465}'.repeat(200), '9').score).toBe(1);
    expect(gradeDapo('Answer: 9\n' + '\u{1D465}'.repeat(291), '9').score).toBe(-1);
    expect(gradeDapo('Answer: 9' + 'é'.repeat(292), '9').score).toBe(-1);
  });

  it('ignores \\boxed{} without an Answer: line and does no numeric equivalence', () => {
    expect(gradeDapo('The answer is \\boxed{34}.', '34')).toEqual({ score: -1, correct: false, extracted: null });
    expect(gradeDapo('Answer: 0.5', '\\frac{1}{2}').score).toBe(-1);
    expect(gradeDapo('Answer: \\frac12', '\\frac{1}{2}').score).toBe(1);
  });

  it('keeps DAPO quirks: trailing period is wrong, x = is stripped, empty Answer: is no match', () => {
    expect(gradeDapo('Answer: 34.', '34')).toMatchObject({ score: -1, extracted: '34.' });
    expect(gradeDapo('Answer: x = -3', '-3').score).toBe(1);
    expect(gradeDapo('Answer:', '5')).toEqual({ score: -1, correct: false, extracted: null });
    expect(gradeDapo('Answer: 5 \nAnswer:\n', '5').score).toBe(1);
  });

  it('is registered as "dapo" with wrong score -1 and reads row.gold or row.answer', () => {
    const entry = getGrader('dapo');
    expect(entry.wrongScore).toBe(-1);
    expect(entry.fn('Answer: 70', { answer: '70' }, '')).toMatchObject({ score: 1 });
    expect(dapoGrader('Answer: 70', { gold: '71' })).toMatchObject({ score: -1 });
    expect(() => dapoGrader('Answer: 70', {})).toThrow(/no gold answer/);
  });
});
