/** Grader comparison (`gtr grade --compare`) and the grader identity recorded in eval reports. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGrade } from '../src/cli/commands/grade.js';
import { reportToMarkdown } from '../src/eval/writers.js';
import { compareGraders, comparisonToMarkdown } from '../src/grading/compare.js';
import { GraderPool } from '../src/grading/index.js';

const dir = mkdtempSync(join(tmpdir(), 'gtr-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const r = (correct: boolean, extracted: string | null = null) => ({ score: correct ? 1 : 0, correct, extracted });

describe('grader comparison', () => {
  it('computes accuracy, pairwise agreement and the disagreements', () => {
    const items = ['1', '2', '3', '4'].map((g) => ({ response: `Answer: ${g}`, row: { gold: g } }));
    const c = compareGraders(items, {
      a: [r(true), r(true), r(false), r(false)],
      b: [r(true), r(false), r(false), r(true, '9')],
    });
    expect(c.accuracy).toEqual({ a: 0.5, b: 0.5 });
    expect(c.agreement.a).toEqual({ a: 1, b: 0.5 });
    expect(c.agreement.b!.a).toBe(0.5);
    expect(c.disagreements.map((d) => d.line)).toEqual([2, 4]);
    expect(c.disagreements[1]!.verdicts.b).toEqual({ correct: true, extracted: '9' });
    const md = comparisonToMarkdown(c);
    expect(md).toContain('| a | 100.0% | 50.0% |');
    expect(md).toContain('- line 4: gold "4": a=WRONG, b=CORRECT ("9")');
    expect(() => compareGraders(items, { a: [r(true)] })).toThrow('grader a: 1 results for 4 items');
  });

  it('gtr grade --compare grades a file with each grader and prints the table', async () => {
    const file = join(dir, 'rows.jsonl');
    writeFileSync(
      file,
      [
        { gold: '5', response: 'so $\\boxed{5}$' },
        { gold: '5', response: 'Answer: 5' },
        { gold: '5', response: 'so $\\boxed{5 \\pm 1}$' },
      ]
        .map((x) => JSON.stringify(x))
        .join('\n'),
    );
    const lines: string[] = [];
    await runGrade(
      { input: file, grader: 'math', compare: 'math,dapo', timeout: '10000', json: true, threads: '1' },
      (l) => lines.push(l),
    );
    const c = JSON.parse(lines[0]!);
    expect(c.accuracy).toEqual({ math: 2 / 3, dapo: 1 / 3 });
    expect(c.disagreements.map((d: { line: number }) => d.line)).toEqual([1]);
    await expect(runGrade({ input: file, grader: 'math', compare: 'math', timeout: '1000' })).rejects.toThrow(
      /at least two graders/,
    );
    await expect(runGrade({ grader: 'math', compare: 'math,dapo', timeout: '1000' })).rejects.toThrow(
      /--compare needs --input/,
    );
    await expect(runGrade({ input: file, grader: 'math', compare: 'math,nope', timeout: '1000' })).rejects.toThrow(
      /unknown grader "nope"/,
    );
  }, 60_000);
});

describe('grader identity in eval reports', () => {
  it('a pool names its grader and rule version; the markdown report shows it', async () => {
    const math = new GraderPool({ grader: 'math', threads: 1 });
    const mv = new GraderPool({ grader: 'math_verify', threads: 1 });
    try {
      expect(math.graderId).toEqual({ name: 'math', version: expect.stringMatching(/^math\/3 /) });
      expect(mv.graderId).toEqual({ name: 'math_verify', version: 'math-verify==0.9.0' });
    } finally {
      await math.destroy();
      await mv.destroy();
    }
    const md = reportToMarkdown({
      model: 'm',
      createdAt: 't',
      settings: { grader: { name: 'math_verify', version: 'math-verify==0.9.0' } },
      benchmarks: [],
      macro: {},
    });
    expect(md).toContain('Created t. Graded by math_verify (math-verify==0.9.0).');
  });
});
