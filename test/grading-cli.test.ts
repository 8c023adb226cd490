import { Command } from 'commander';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { readGradeRows, register, runGrade } from '../src/cli/commands/grade.js';

const dir = mkdtempSync(join(tmpdir(), 'gtr-grade-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function capture(opts: Parameters<typeof runGrade>[0]): Promise<string[]> {
  const lines: string[] = [];
  await runGrade(opts, (l) => lines.push(l));
  return lines;
}

describe('gtr grade', () => {
  it('grades one response and prints the verdict and extracted answer', async () => {
    expect(
      await capture({ gold: '\\frac{1}{2}', response: 'so $\\boxed{0.5}$', grader: 'math', timeout: '10000' }),
    ).toEqual(['CORRECT  score=1  extracted="0.5"']);
    const [json] = await capture({ gold: '34', response: 'Answer: 43', grader: 'dapo', json: true, timeout: '10000' });
    expect(JSON.parse(json!)).toEqual({ score: -1, correct: false, extracted: '43' });
  });

  it('is registered on a commander program', async () => {
    const program = new Command('gtr').exitOverride();
    register(program);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await program.parseAsync(['grade', '--gold', '025', '--response', 'Answer: 25'], { from: 'user' });
      expect(log).toHaveBeenCalledWith('CORRECT  score=1  extracted="25"');
    } finally {
      log.mockRestore();
    }
  });

  it('grades a JSONL file, one JSON verdict per line, in order', async () => {
    const file = join(dir, 'rows.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ gold: '(1,2)', response: '\\boxed{(2,1)}' }),
        '',
        JSON.stringify({ gold: '$69$,$84$', response: 'Answer: 84, 69' }),
        JSON.stringify({ answer: '4.2', error: '1e-1', response: '\\boxed{4.25}' }),
      ].join('\n'),
    );
    const lines = (await capture({ input: file, grader: 'math', timeout: '10000' })).map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { line: 1, score: 0, correct: false, extracted: '(2,1)' },
      { line: 2, score: 1, correct: true, extracted: '84, 69' },
      { line: 3, score: 1, correct: true, extracted: '4.25' },
    ]);
  });

  it('runs a custom grader module given as path#export', async () => {
    const mod = fileURLToPath(new URL('./fixtures/grader/custom-graders.ts', import.meta.url));
    const [line] = await capture({
      gold: '7',
      response: '7',
      grader: `${mod}#withMetrics`,
      prompt: 'p?',
      json: true,
      timeout: '10000',
    });
    expect(JSON.parse(line!)).toEqual({
      score: 2,
      correct: true,
      extracted: null,
      length: 1,
      promptChars: 2,
      tag: 'async',
    });
  });

  it('names the file and line of a bad row', () => {
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, `${JSON.stringify({ gold: '1', response: 'x' })}\n{"gold": "2", response}\n`);
    expect(() => readGradeRows(file)).toThrow(`${file}:2: invalid JSON`);
    writeFileSync(file, `${JSON.stringify({ gold: '1' })}\n`);
    expect(() => readGradeRows(file)).toThrow(`${file}:1: missing string field "response"`);
    writeFileSync(file, '[1]\n');
    expect(() => readGradeRows(file)).toThrow(`${file}:1: expected a JSON object`);
    expect(() => readGradeRows(join(dir, 'missing.jsonl'))).toThrow(/missing\.jsonl: cannot read/);
  });

  it('rejects bad option combinations and unknown graders', async () => {
    await expect(runGrade({ grader: 'math', timeout: '1000' })).rejects.toThrow(/nothing to grade/);
    await expect(runGrade({ gold: '1', grader: 'math', timeout: '1000' })).rejects.toThrow(/go together/);
    await expect(runGrade({ gold: '1', response: '1', input: 'x', grader: 'math', timeout: '1000' })).rejects.toThrow(
      /not both/,
    );
    await expect(runGrade({ gold: '1', response: '1', grader: 'maths', timeout: '1000' })).rejects.toThrow(
      /valid graders: dapo, math/,
    );
    await expect(runGrade({ gold: '1', response: '1', grader: 'math', timeout: '0' })).rejects.toThrow(
      /--timeout must be a positive integer/,
    );
  });
});
