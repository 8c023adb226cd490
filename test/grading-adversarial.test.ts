import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gradeDapo, gradeMath, mathGrader, percentQuestion } from '../src/grading/index.js';
import { makePool } from './helpers/pools.js';

/**
 * The adversarial corpus of issue #25 (test/fixtures/grader-adversarial.jsonl, written by
 * test/fixtures/make_adversarial_fixture.py): wrong answers in the forms a policy finds, and the
 * correct forms each rule must still accept. Rules: README, "Graders".
 */
interface AdvCase {
  id: string;
  rule: string;
  gold: string;
  response: string;
  correct: boolean;
  note?: string;
  problem?: string;
}

const cases: AdvCase[] = readFileSync(new URL('./fixtures/grader-adversarial.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as AdvCase);

describe('math grader: adversarial corpus', () => {
  it('has at least 150 cases, both labels for every rule', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
    const rules = new Set(cases.map((c) => c.rule));
    for (const r of rules) {
      expect(
        cases.some((c) => c.rule === r && c.correct),
        `${r}: a correct case`,
      ).toBe(true);
      expect(
        cases.some((c) => c.rule === r && !c.correct),
        `${r}: a wrong case`,
      ).toBe(true);
    }
  });

  it.each(
    cases.map((c) => [`${c.id} [${c.rule}] ${c.correct ? 'right' : 'WRONG'}: ${c.response.slice(-48)}`, c] as const),
  )('%s', (_n, c) => {
    const r = gradeMath(c.response, c.gold, { percent: percentQuestion(c.problem ?? '') });
    expect(r.correct).toBe(c.correct);
  });

  it('the registry grader reads a percentage question from the row or the prompt', () => {
    const r = 'So $\\boxed{20\\%}$.';
    expect(mathGrader(r, { answer: '20', problem: 'What percent of the class are girls?' }).correct).toBe(true);
    expect(mathGrader(r, { answer: '20' }, 'Give the share in %.').correct).toBe(true);
    expect(mathGrader(r, { answer: '20', problem: 'How many girls are there?' }).correct).toBe(false);
    expect(mathGrader(r, { answer: '0.2', problem: 'What fraction are girls?' }).correct).toBe(true);
  });

  it('dapo stays faithful to verl: `Answer: $3$ or $4$` scores for 3 there, never in math', () => {
    expect(gradeDapo('Answer: $3$ or $4$', '3').score).toBe(1); // verl strips the `$`s and keeps the first: wrong, but faithful
    expect(gradeDapo('Answer: 3', '3').score).toBe(1);
    expect(gradeMath('Answer: $3$ or $4$', '3').correct).toBe(false);
  });
});

/** Short inputs that used to tie up a grader until the pool's timeout; each now gets a verdict. */
const box = (s: string) => `So $\\boxed{${s}}$.`;
const set = (n: number, reverse: boolean) =>
  `\\{${Array.from({ length: n }, (_, i) => (reverse ? n - i : i + 1)).join(', ')}\\}`;
const exprs = (n: number) => Array.from({ length: n }, (_, i) => `\\sqrt{${i + 2}}x^{2}+${i}x`);
const STALLS: [string, string, string, boolean][] = [
  [
    '32 expressions reordered, restyled, one changed',
    box(
      exprs(32)
        .reverse()
        .map((e, i) => (i === 0 ? `${e}+1` : e.replace('x^{2}', 'x\\cdot x')))
        .join(', '),
    ),
    exprs(32).join(', '),
    false,
  ],
  [
    '32 expressions reordered and restyled',
    box(
      exprs(32)
        .reverse()
        .map((e) => e.replace('x^{2}', 'x\\cdot x'))
        .join(', '),
    ),
    exprs(32).join(', '),
    true,
  ],
  ['\\pm x22', box(`1${' \\pm 1'.repeat(22)}`), '1', false],
  ['sum to 10^7', box('\\sum_{n=1}^{10^{7}} n'), '50000005000000', false],
  ['product to 10^9', box('\\prod_{k=1}^{10^9}k'), '1', false],
  ['9^{9^9} vs +1', box('9^{9^9}'), '9^{9^9}+1', false],
  ['9^{9^9} vs itself', box('9^{9^9}'), '9^{9^9}', true],
  ['power tower', box('9^{9^{9^9}}'), '9^{9^{9^9}}+1', false],
  ['factorial of 10^9', box('(10^9)!'), '1', false],
  ['x^{10^9}', box('x^{10^9}'), 'x^{10^9}+1', false],
  ['an integral to 10^9', box('\\int_0^{10^9} \\sin(x^2) dx'), '1', false],
  ['an infinite sum', box('\\sum_{n=1}^{\\infty} n'), '1', false],
  ['Gamma of 10^6', box('\\Gamma(10^6)'), '1', false],
  ['a limit', box('\\lim_{x\\to 0} \\frac{\\sin x}{x}'), '1', false],
  ['2000-item set reordered', box(set(2000, true)), set(2000, false), true],
  ['3000-item set, one item changed', box(set(3000, true)), set(3000, false).replace('3000', '3001'), false],
  ['Minerva pattern on 1 MB', 'The final answer is 3 '.repeat(50_000), '3', true],
  ['unclosed boxes on 700 kB', '\\boxed{'.repeat(100_000), '3', false],
  ['dollar signs on 200 kB', '$'.repeat(200_000), '3', false],
  ['a 500 kB Answer: line', `Answer: ${'1 or '.repeat(100_000)}`, '1', false],
];

describe('math grader: work bounds', () => {
  it('gives each stalling input a verdict within the pool timeout (no timeout, no error)', async () => {
    const pool = makePool({ grader: 'math', threads: 1, timeoutMs: 5000 });
    const results = await pool.grade(STALLS.map(([, response, gold]) => ({ response, row: { gold } })));
    results.forEach((r, i) => {
      const [name, , , correct] = STALLS[i]!;
      expect({ name, timedOut: r.timedOut ?? false, error: r.error, correct: r.correct }).toEqual({
        name,
        timedOut: false,
        error: undefined,
        correct,
      });
    });
  }, 120_000);
});
