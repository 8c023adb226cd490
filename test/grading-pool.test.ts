import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GraderPool } from '../src/grading/index.js';
import { makePool } from './helpers/pools.js';

const fixture = (f: string) => fileURLToPath(new URL(`./fixtures/grader/${f}`, import.meta.url));
const CUSTOM = fixture('custom-graders.ts');

describe('GraderPool', () => {
  it('grades with the math grader and returns results in input order', async () => {
    const pool = makePool({ grader: 'math', threads: 3 });
    const items = Array.from({ length: 24 }, (_, i) => ({
      response: `The answer is $\\boxed{${i % 3 === 0 ? i + 1 : i}}$.`,
      row: { gold: String(i) },
    }));
    const results = await pool.grade(items);
    expect(results).toHaveLength(24);
    results.forEach((r, i) => {
      expect(r.extracted).toBe(String(i % 3 === 0 ? i + 1 : i));
      expect(r.correct).toBe(i % 3 !== 0);
      expect(r.score).toBe(i % 3 !== 0 ? 1 : 0);
    });
  });

  it('dapo grader scores -1 / 1 through the pool', async () => {
    const pool = makePool({ grader: 'dapo', threads: 1 });
    const r = await pool.grade([
      { response: 'so...\nAnswer: 34', row: { answer: '34' } },
      { response: 'so...\nAnswer: 35', row: { answer: '34' } },
    ]);
    expect(r.map((x) => x.score)).toEqual([1, -1]);
  });

  it('times out a hanging custom grader, scores it wrong, and keeps grading other items', async () => {
    const pool = makePool({ grader: { module: CUSTOM }, threads: 2, timeoutMs: 3000 });
    const items = ['a', 'hang', 'b', 'c', 'd', 'x'].map((response) => ({
      response,
      row: { answer: response === 'x' ? 'y' : response },
    }));
    const results = await pool.grade(items);
    expect(results[1]).toMatchObject({ score: 0, correct: false, extracted: null, timedOut: true });
    expect(results[1]!.error).toMatch(/timed out after 3000 ms/);
    for (const i of [0, 2, 3, 4]) expect(results[i]).toMatchObject({ score: 1, correct: true });
    expect(results[5]).toMatchObject({ score: 0, correct: false });
    expect(results[5]!.timedOut).toBeUndefined();
    // the pool still works after a worker was terminated
    const again = await pool.grade([{ response: 'z', row: { answer: 'z' } }]);
    expect(again[0]).toMatchObject({ score: 1, correct: true });
  });

  it('gives the math grader a verdict, not a timeout, on a sum the compute engine used to grind on', async () => {
    // The work bounds of src/grading/limits.ts (issue #25): a sum over 10^6 terms is not evaluated.
    // The pool's timeout itself is tested with the hanging custom grader above.
    const pool = makePool({ grader: 'math', threads: 2, timeoutMs: 1500 });
    const [slow, fast] = await pool.grade([
      { response: '$\\boxed{\\sum_{k=1}^{1000000} k}$', row: { gold: '500000500000' } },
      { response: '$\\boxed{2}$', row: { gold: '2' } },
    ]);
    expect(slow).toMatchObject({ score: 0, correct: false });
    expect(slow!.timedOut).toBeUndefined();
    expect(fast).toMatchObject({ score: 1, correct: true, extracted: '2' });
  });

  it('isolates a throwing grader and a worker that exits', async () => {
    const pool = makePool({ grader: { module: CUSTOM, export: 'fragile' }, threads: 2, timeoutMs: 10_000 });
    const results = await pool.grade(['ok', 'boom', 'ok', 'exit', 'ok'].map((response) => ({ response, row: {} })));
    expect(results[1]).toMatchObject({ score: 0, correct: false, extracted: null });
    expect(results[1]!.error).toContain(`custom grader ${CUSTOM}#fragile: threw: kaboom`);
    expect(results[3]).toMatchObject({ score: 0, correct: false });
    expect(results[3]!.error).toBeTruthy();
    for (const i of [0, 2, 4]) expect(results[i]).toMatchObject({ score: 0.5, correct: true });
  });

  it('runs an async custom grader with extra metrics and the prompt', async () => {
    const pool = makePool({ grader: { module: CUSTOM, export: 'withMetrics' }, threads: 1 });
    const [good, bad] = await pool.grade([
      { response: ' 7 ', row: { answer: 7 }, prompt: 'What is 3+4?' },
      { response: '8', row: { answer: 7 } },
    ]);
    expect(good).toEqual({ score: 2, correct: true, extracted: null, length: 3, promptChars: 12, tag: 'async' });
    expect(bad).toMatchObject({ score: -0.5, correct: false, length: 1, promptChars: 0 });
  });

  it('names the module and export when a custom grader cannot be used', async () => {
    const missing = fixture('does-not-exist.ts');
    const cases: Array<[string, string | undefined, RegExp]> = [
      [missing, undefined, /cannot load module/],
      [fixture('broken-grader.ts'), undefined, /cannot load module: this module is broken on purpose/],
      [CUSTOM, 'nope', /module has no export "nope"/],
      [CUSTOM, 'notAFunction', /export "notAFunction" is a number, not a function/],
      [CUSTOM, 'notANumber', /returned a non-finite score \(NaN\)/],
      [CUSTOM, 'wrongType', /returned string; expected a number/],
    ];
    for (const [module, exp, re] of cases) {
      const pool = makePool({ grader: { module, ...(exp ? { export: exp } : {}) }, threads: 1 });
      const [r] = await pool.grade([{ response: 'x', row: {} }]);
      expect(r).toMatchObject({ score: 0, correct: false, extracted: null });
      expect(r!.error).toContain(`custom grader ${module}#${exp ?? 'default'}: `);
      expect(r!.error).toMatch(re);
      await pool.destroy();
    }
  });

  it('loads a plain .mjs custom grader', async () => {
    const pool = makePool({ grader: { module: fixture('plain-grader.mjs') }, threads: 1 });
    const [r] = await pool.grade([{ response: 'abcd', row: {} }]);
    expect(r).toEqual({ score: 4, correct: true, extracted: 'abcd' });
  });

  it('rejects unknown grader names listing the valid ones, and grade() after destroy()', async () => {
    expect(() => new GraderPool({ grader: 'nope' })).toThrow(/unknown grader "nope"; valid graders: dapo, math/);
    const pool = makePool({ threads: 1 });
    await pool.destroy();
    await expect(pool.grade([])).rejects.toThrow(/after destroy/);
  });

  it('fails an item whose row has no gold answer, with the reason', async () => {
    const pool = makePool({ grader: 'math', threads: 1 });
    const [r] = await pool.grade([{ response: '\\boxed{1}', row: { question: 'q' } }]);
    expect(r).toMatchObject({ score: 0, correct: false });
    expect(r!.error).toMatch(/no gold answer/);
  });
});
