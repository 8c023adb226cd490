import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aggregateBenchmark, buildEvalReport, macroAverage } from '../src/eval/aggregate.js';
import { loadEvalReport, parseEvalReport } from '../src/eval/schema.js';
import type { ProblemResult } from '../src/eval/types.js';
import { problemsToJsonl, reportToJson, reportToMarkdown, writeEvalOutputs } from '../src/eval/writers.js';

function problem(id: string, correct: boolean[], extracted: (string | null)[], tokens: number[]): ProblemResult {
  return {
    id,
    problem: `problem ${id}`,
    gold: 'g',
    samples: correct.map((c, i) => ({
      text: `response ${i}`,
      extracted: extracted[i]!,
      correct: c,
      score: c ? 1 : 0,
      finishReason: i === 0 ? 'length' : 'stop',
      tokens: tokens[i]!,
    })),
  };
}

// Benchmark A, n = 4.
//  p1: c=1 -> pass@1 .25, pass@2 1-C(3,2)/C(4,2)=.5, pass@4 1, mean@4 .25; maj: '2' (2 votes, wrong) -> 0
//  p2: c=2 -> pass@1 .5, pass@2 1-C(2,2)/C(4,2)=5/6, pass@4 1, mean@4 .5; maj: '5' (' 5' trims to '5', right) -> 1
const A = [
  problem('p1', [true, false, false, false], ['1', '2', '2', '3'], [10, 20, 30, 40]),
  problem('p2', [true, true, false, false], ['5', ' 5', '7', null], [50, 60, 70, 80]),
];
// Benchmark B, n = 4: nothing right, nothing extracted.
const B = [problem('q1', [false, false, false, false], [null, null, null, null], [100, 100, 100, 100])];
const METRICS = ['pass@1', 'pass@2', 'pass@4', 'mean@4', 'maj@4'];

describe('aggregateBenchmark', () => {
  it('computes hand-checked metrics', () => {
    const a = aggregateBenchmark('A', A, { metrics: METRICS });
    expect(a.name).toBe('A');
    expect(a.problems).toBe(2);
    expect(a.n).toBe(4);
    expect(a.metrics['pass@1']).toBeCloseTo(0.375, 15);
    expect(a.metrics['pass@2']).toBeCloseTo(2 / 3, 15);
    expect(a.metrics['pass@4']).toBe(1);
    expect(a.metrics['mean@4']).toBeCloseTo(0.375, 15);
    expect(a.metrics['maj@4']).toBe(0.5);
    expect(a.meanResponseTokens).toBe(45);
    expect(Object.keys(a.metrics)).toEqual(METRICS);
  });

  it('mean@k and maj@k with k < n use the first k samples', () => {
    const a = aggregateBenchmark('A', A, { metrics: ['mean@2', 'maj@2'] });
    expect(a.metrics['mean@2']).toBe(0.75); // p1 [T,F] .5, p2 [T,T] 1
    expect(a.metrics['maj@2']).toBe(1); // p1 tie '1' vs '2' -> '1' (first, right); p2 '5','5' right
  });

  it('uses the caller-supplied canonical answer key', () => {
    // identity key: p2's '5', ' 5', '7' are distinct -> tie -> first '5' (right); p1 still '2' (wrong)
    expect(aggregateBenchmark('A', A, { metrics: ['maj@4'], answerKey: (s) => s }).metrics['maj@4']).toBe(0.5);
    // one bucket for every answer: each group's first sample (right in p1 and p2) represents it
    const a = aggregateBenchmark('A', A, { metrics: ['maj@4'], answerKey: () => 'same' });
    expect(a.metrics['maj@4']).toBe(1);
  });

  it('defaults to defaultMetrics(n)', () => {
    expect(Object.keys(aggregateBenchmark('A', A).metrics)).toEqual(['pass@1', 'pass@2', 'pass@4', 'mean@4', 'maj@4']);
  });

  it('rejects ragged n, k > n and empty benchmarks, naming the culprit', () => {
    const ragged = [...A, problem('p3', [true], ['1'], [1])];
    expect(() => aggregateBenchmark('A', ragged)).toThrow(/'A'.*'p3' has 1 samples, expected n=4/);
    expect(() => aggregateBenchmark('A', A, { metrics: ['pass@8'] })).toThrow(/pass@8 needs k=8 <= n=4/);
    expect(() => aggregateBenchmark('E', [])).toThrow(/'E': no problems/);
  });
});

describe('macro average and EvalReport', () => {
  const a = aggregateBenchmark('A', A, { metrics: METRICS });
  const b = aggregateBenchmark('B', B, { metrics: METRICS });
  const report = buildEvalReport(
    { model: 'qwen3-tiny', settings: { temperature: 0.6 }, createdAt: '2025-01-01T00:00:00.000Z' },
    [a, b],
  );

  it('averages each benchmark once', () => {
    expect(report.macro['pass@1']).toBeCloseTo(0.1875, 15);
    expect(report.macro['pass@2']).toBeCloseTo(1 / 3, 15);
    expect(report.macro['pass@4']).toBe(0.5);
    expect(report.macro['mean@4']).toBeCloseTo(0.1875, 15);
    expect(report.macro['maj@4']).toBe(0.25);
  });

  it('leaves out metrics some benchmark lacks', () => {
    const c = aggregateBenchmark('C', B, { metrics: ['pass@1'] });
    expect(macroAverage([a, c])).toEqual({ 'pass@1': 0.1875 });
    expect(macroAverage([])).toEqual({});
  });

  it('rejects duplicate benchmark names', () => {
    expect(() => buildEvalReport({ model: 'm' }, [a, a])).toThrow(/duplicate benchmark name 'A'/);
  });

  it('markdown has a row per benchmark and a macro row', () => {
    const md = reportToMarkdown(report);
    expect(md).toContain('| benchmark | problems | n | pass@1 | pass@2 | pass@4 | mean@4 | maj@4 | mean tokens |');
    expect(md).toContain('| A | 2 | 4 | 37.5 | 66.7 | 100.0 | 37.5 | 50.0 | 45.0 |');
    expect(md).toContain('| B | 1 | 4 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 100.0 |');
    expect(md).toContain('| **macro** | | | 18.8 | 33.3 | 50.0 | 18.8 | 25.0 | 72.5 |');
    expect(md).toContain('qwen3-tiny');
    const frac = reportToMarkdown(report, { percent: false, digits: 3 });
    expect(frac).toContain('| A | 2 | 4 | 0.375 | 0.667 | 1.000 | 0.375 | 0.500 | 45.0 |');
  });

  it('JSON round-trips through the schema and drops extra fields', () => {
    const withExtra = { ...report, results: { A } };
    const json = reportToJson(withExtra);
    expect(json.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(json);
    expect(parsed.results).toBeUndefined();
    expect(parseEvalReport(parsed)).toEqual(report);
    expect(() => parseEvalReport({ ...parsed, benchmarks: [{ ...parsed.benchmarks[0], n: 0 }] }, 'x.json')).toThrow(
      /x\.json.*benchmarks\.0\.n/,
    );
  });

  it('per-problem JSONL holds problem, samples, verdicts and extracted answers', () => {
    const lines = problemsToJsonl('A', A)
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      benchmark: 'A',
      id: 'p1',
      problem: 'problem p1',
      gold: 'g',
      n: 4,
      correct: 1,
      majorityAnswer: '2',
      majorityCorrect: false,
    });
    expect(lines[1]).toMatchObject({ id: 'p2', correct: 2, majorityAnswer: '5', majorityCorrect: true });
    expect(lines[1].samples[3]).toEqual({
      text: 'response 3',
      extracted: null,
      correct: false,
      score: 0,
      finishReason: 'stop',
      tokens: 80,
    });
    expect(problemsToJsonl('A', [])).toBe('');
  });

  it('writeEvalOutputs writes report.json, report.md and one JSONL per benchmark', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtr-eval-'));
    try {
      const paths = await writeEvalOutputs(dir, report, { A, 'B/odd name': B });
      expect(paths.map((p) => p.slice(dir.length + 1))).toEqual([
        'report.json',
        'report.md',
        'A.jsonl',
        'B_odd_name.jsonl',
      ]);
      expect(await loadEvalReport(join(dir, 'report.json'))).toEqual(report);
      expect(await readFile(join(dir, 'report.md'), 'utf8')).toContain('| **macro** |');
      expect((await readFile(join(dir, 'A.jsonl'), 'utf8')).split('\n')).toHaveLength(3);
      await expect(writeEvalOutputs(dir, report, { 'a/b': A, a_b: A })).rejects.toThrow(
        /both be written to a_b\.jsonl/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
