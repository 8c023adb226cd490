import { describe, expect, it } from 'vitest';
import {
  answersEquivalent,
  extractAnswerLoose,
  extractFinalAnswer,
  gradeMath,
  percentQuestion,
} from '../src/grading/index.js';
import { readFixtureJsonl } from './helpers/paths.js';

/**
 * Math-Verify's own test suite (huggingface/Math-Verify tests/, math-verify 0.9.0, Apache-2.0),
 * converted by test/fixtures/make_math_verify_fixture.py, free-prose cases (`test_number_extraction`)
 * included; labels checked against the package. What is left out (Math-Verify's options, cases with
 * no gold) is listed in test/fixtures/math-verify-skipped.jsonl.
 */
interface PeerCase {
  id: string;
  source: string;
  gold: string;
  response: string;
  correct: boolean;
  float_rounding?: number;
  latex_only?: boolean;
}

const cases = readFixtureJsonl<PeerCase>('math-verify-cases.jsonl');

/**
 * The `math` grader's verdict on a peer case. The prediction is read as a reward reads it
 * (`extractFinalAnswer`: box, `Answer:` line, prose), except where the test restricts Math-Verify
 * to LaTeX (`latex_only`: the last math span); the gold, free text, through `extractAnswerLoose`. A
 * test that set Math-Verify's `float_rounding` is given the matching absolute tolerance; a gold
 * solution that speaks of percent makes it a percentage question.
 */
function verdict(c: PeerCase): boolean {
  const tol = {
    ...(c.float_rounding !== undefined ? { absTol: 0.5 * 10 ** -c.float_rounding } : {}),
    percent: percentQuestion(c.gold),
  };
  const pred = c.latex_only ? extractAnswerLoose(c.response, true) : extractFinalAnswer(c.response);
  return pred !== null && answersEquivalent(pred, extractAnswerLoose(c.gold, c.latex_only), tol);
}

/**
 * Cases where the `math` grader deliberately or knowingly says "wrong" and Math-Verify "correct",
 * with the reason. Each is a false negative, never a false positive; the agreement target is 95%.
 */
const KNOWN_FALSE_NEGATIVES: Record<string, string> = {
  'mv-035': 'chain `\\frac{1}{2} \\$ = \\frac{10}{9}`: its sides differ, so it is no answer (README: chains)',
  'mv-104': 'chain `x = 5+5+1 = 7 = 11`: 7 is not 11, so it is no answer (README: chains)',
  'mv-106': 'chain `x = 5+5+1 = 7 = 11` (as mv-104)',
  'mv-107': 'chain `x = 5+5+1 = 1/3 \\approx 11`: its sides differ (README: chains)',
  'mv-110': '`x=1/3\\approx1.3`: the check 1.3 is not within 1% of 1/3 (README: chains)',
  'mv-115': 'gold chain `1 = \\zzz = x = 0` is not an assignment, so it never equals a plain 0',
  'mv-120': 'chain `z = 3+3 = 2`: 6 is not 2 (README: chains)',
  'mv-121': 'chain `z = 3+3 = 2` (as mv-120)',
  'mv-129': 'a sum of matrices is not evaluated',
  'mv-130': 'a product of matrices is not evaluated',
  'mv-201': '1 <= |z| <= 3/2 is not turned into a union of intervals',
  'mv-222': 'gold is an unclosed `\\\\boxed{` with doubled backslashes; `W(x)` is not `W(n)`',
  'mv-267': 'Math-Verify accepts 1 + 1/e for 1 - 1/e (a Math-Verify bug)',
};

describe("math grader on Math-Verify's test suite", () => {
  it('has the converted suite', () => {
    expect(cases.length).toBeGreaterThanOrEqual(270);
    expect(cases.filter((c) => c.source.endsWith('::test_number_extraction')).length).toBeGreaterThanOrEqual(19);
    expect(cases.filter((c) => !c.correct).length).toBeGreaterThanOrEqual(40);
  });

  it('gives no false positive: every case Math-Verify labels wrong is wrong', () => {
    const fps = cases
      .filter((c) => !c.correct && verdict(c))
      .map((c) => `${c.id} ${c.source}: ${c.gold} | ${c.response.slice(-80)}`);
    expect(fps).toEqual([]);
  });

  it('agrees with at least 95% of the labels, disagreeing only on the listed cases', () => {
    const off = cases.filter((c) => verdict(c) !== c.correct).map((c) => c.id);
    expect(off.filter((id) => !(id in KNOWN_FALSE_NEGATIVES))).toEqual([]);
    expect(1 - off.length / cases.length).toBeGreaterThanOrEqual(0.95);
  });

  it.each(
    cases.filter((c) => c.correct && !(c.id in KNOWN_FALSE_NEGATIVES)).map((c) => [`${c.id} ${c.source}`, c] as const),
  )('accepts %s', (_n, c) => {
    expect(verdict(c)).toBe(true);
  });
});

describe('reward hacks are never graded correct', () => {
  const box = (s: string) => `Reasoning...\n\nThe answer is $\\boxed{${s}}$.`;
  const golds = [
    '5',
    '3 \\pm 2\\sqrt{2}',
    '\\frac{7}{3}',
    '671.02',
    '2.7778e-6',
    'a+3z=0',
    '2x + z = 1',
    'x^2 + y^2 = 4',
    '\\sqrt{2}',
  ];

  it.each(golds)('gold %s: appending \\pm anything is wrong', (gold) => {
    for (const extra of ['1', '0', '2\\sqrt{3}', 'x'])
      expect(gradeMath(box(`${gold.replace(/=.*/, '')} \\pm ${extra}`), gold).correct).toBe(false);
    expect(gradeMath(box(`\\pm ${gold}`), gold).correct).toBe(false);
  });

  it('a \\pm b expands to both answers', () => {
    expect(gradeMath(box('3 \\pm 2\\sqrt{2}'), '3 \\pm 2\\sqrt{2}').correct).toBe(true);
    expect(gradeMath(box('3 + 2\\sqrt{2}, 3 - 2\\sqrt{2}'), '3 \\pm 2\\sqrt{2}').correct).toBe(true);
    expect(gradeMath(box('3'), '3 \\pm 2\\sqrt{2}').correct).toBe(false);
    expect(gradeMath(box('3 \\pm 2\\sqrt{3}'), '3 \\pm 2\\sqrt{2}').correct).toBe(false);
    expect(gradeMath(box('5 \\pm 1'), '5').correct).toBe(false);
  });

  it.each([
    ['a+3z=0', '0'],
    ['2x + z = 1', '1'],
    ['a^2 + b = 0', '0'],
    ['x^2 + y^2 = 4', '4'],
    ['2x+4y-3=0', '0'],
  ])('gold %s: dropping to the right-hand side (%s) is wrong', (gold, rhs) => {
    expect(gradeMath(box(rhs), gold).correct).toBe(false);
  });

  it('equations compare as equations', () => {
    expect(gradeMath(box('y=-\\frac{1}{2}x+\\frac{3}{4}'), '2x+4y-3=0').correct).toBe(true);
    expect(gradeMath(box('y=-\\frac{1}{2}x+\\frac{3}{5}'), '2x+4y-3=0').correct).toBe(false);
    expect(gradeMath(box('x = 5'), 'x=5').correct).toBe(true);
    expect(gradeMath(box('y = 5'), 'x=5').correct).toBe(false);
  });

  it.each(['671.02', '0.54', '27.39', '2.7778e-6', '109890', '3.14159', '1000.99', '0.35625', '12.5'])(
    'gold %s: perturbing the last digit is wrong',
    (gold) => {
      const digits = [...gold.matchAll(/\d/g)];
      const last = digits[digits.length - 1]!;
      for (const d of ['1', '2', '9']) {
        const up = String((Number(last[0]) + Number(d)) % 10);
        const perturbed = gold.slice(0, last.index) + up + gold.slice(last.index! + 1);
        expect(gradeMath(box(perturbed), gold).correct).toBe(false);
      }
    },
  );

  it('decimals: exact, or a rounding with at least 4 significant digits; the row tolerance applies', () => {
    expect(gradeMath(box('1.5708'), '\\frac{\\pi}{2}').correct).toBe(true);
    expect(gradeMath(box('3.14'), '\\pi').correct).toBe(false);
    expect(gradeMath(box('2.778 \\times 10^{-6}'), '2.7778e-6').correct).toBe(true);
    expect(gradeMath(box('671.03'), '671.02').correct).toBe(false);
    expect(gradeMath(box('671.03'), '671.02', { absTol: 0.1 }).correct).toBe(true);
  });
});

describe('reward hacks: more shapes', () => {
  const box = (s: string) => `So $\\boxed{${s}}$.`;
  it('an integer gold is exact; a sum on the left is not an assignment', () => {
    expect(gradeMath(box('1234.4'), '1234').correct).toBe(false);
    expect(gradeMath(box('1234.0'), '1234').correct).toBe(true);
    expect(gradeMath(box('5'), 'x+y=5').correct).toBe(false);
    expect(gradeMath(box('y = 5 - x'), 'x+y=5').correct).toBe(true);
  });
  it('several boxes or a list never match a single gold', () => {
    expect(gradeMath('So $\\boxed{3}$ or $\\boxed{5}$.', '5').correct).toBe(false);
    expect(gradeMath(box('3, 5'), '5').correct).toBe(false);
    expect(gradeMath('So $\\boxed{3}$ and $\\boxed{5}$.', '3, 5').correct).toBe(true);
  });
  it('step functions are told apart at large sample points', () => {
    expect(gradeMath(box('\\lfloor\\frac{2n-1}{6}\\rfloor'), '\\lfloor\\frac{2 n-1}{5}\\rfloor').correct).toBe(false);
  });
});
