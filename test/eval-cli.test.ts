// `gtr eval` end to end on a random tiny model over a --limit subset of real benchmarks, then
// `gtr eval compare` on two of its reports.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gtr } from './helpers/cli.js';
import { tinyModelScratch } from './helpers/tiny.js';
import { dataDir } from './helpers/paths.js';

const { scratch, modelDir: model } = tinyModelScratch('gtr-eval-', 5);

describe('gtr eval', () => {
  it('evaluates a tiny model on a --limit subset and writes report.json, report.md and per-problem JSONL', async () => {
    const args = (out: string, seed: string) => [
      'eval',
      '--model',
      model,
      '--benchmarks',
      'amc23,minerva',
      '--limit',
      '2',
      '--n',
      '4',
      '--k',
      '1,2',
      '--max-new-tokens',
      '6',
      '--seed',
      seed,
      '--data-dir',
      dataDir,
      '--out',
      join(scratch, out),
    ];
    await gtr(args('a', '1'));
    await gtr([...args('b', '2'), '--grader', 'dapo']);
    const report = JSON.parse(readFileSync(join(scratch, 'a', 'report.json'), 'utf8'));
    // The report says which grader, at which rule version, produced its numbers.
    expect(report.settings.grader).toEqual({ name: 'math', version: expect.stringMatching(/^math\/3/) });
    expect(JSON.parse(readFileSync(join(scratch, 'b', 'report.json'), 'utf8')).settings.grader.name).toBe('dapo');
    expect(readFileSync(join(scratch, 'b', 'report.md'), 'utf8')).toMatch(/Graded by dapo \(dapo\/1/);
    expect(report.benchmarks.map((b: { name: string }) => b.name)).toEqual(['amc23', 'minerva']);
    for (const b of report.benchmarks) {
      expect(b.problems).toBe(2);
      expect(b.n).toBe(4);
      // A random model answers nothing right: every metric is 0, none is missing.
      for (const k of ['pass@1', 'pass@2', 'mean@4', 'maj@4']) expect(b.metrics[k]).toBe(0);
    }
    expect(Object.keys(report.macro)).toContain('pass@2');
    const rows = readFileSync(join(scratch, 'a', 'minerva.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(2);
    expect(JSON.stringify(rows[0])).toContain('"correct":false');
    expect(readFileSync(join(scratch, 'a', 'report.md'), 'utf8')).toMatch(/\| amc23 \| 2 \| 4 \|/);
    const { stdout } = await gtr([
      'eval',
      'compare',
      join(scratch, 'a', 'report.json'),
      join(scratch, 'b', 'report.json'),
    ]);
    expect(stdout).toMatch(/amc23/);
    expect(stdout).toMatch(/pass@1/);
  });
});
