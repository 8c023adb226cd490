import { describe, expect, it } from 'vitest';
import {
  evaluate,
  type EvalDeps,
  type GeneratedSample,
  type GradeItem,
  type BenchmarkRow,
} from '../src/eval/evaluate.js';

// Fake policy: response j to a prompt "Q:<id>|<answer>" answers correctly for j < (number in id), else "wrong".
// Fake grader: extracts the text after "ans:", correct if it equals the gold answer.
function fakeDeps(log: { prompts: string[][]; gradeCalls: number; options: unknown[] }): EvalDeps {
  return {
    async generate(prompts, n, options) {
      log.prompts.push(prompts);
      log.options.push(options);
      return prompts.map((p) => {
        const [id, gold] = p.slice(2).split('|') as [string, string];
        const right = Number(id.replace(/\D/g, ''));
        return Array.from({ length: n }, (_, j): GeneratedSample => ({
          text: j < right ? `ans:${gold}` : j % 2 === 0 ? 'ans:wrong' : 'no answer',
          tokens: 10 * (j + 1),
          finishReason: j === n - 1 ? 'length' : 'stop',
        }));
      });
    },
    async grade(items: GradeItem[]) {
      log.gradeCalls++;
      return items.map((it) => {
        const extracted = it.response.startsWith('ans:') ? it.response.slice(4) : null;
        return { extracted, correct: extracted === it.gold, score: extracted === it.gold ? 1 : 0 };
      });
    },
  };
}

const rows = (ids: string[]): BenchmarkRow[] => ids.map((id) => ({ id, problem: `what is ${id}?`, answer: `A${id}` }));
const buildPrompt = (r: BenchmarkRow) => `Q:${r.id}|${r.answer}`;

describe('evaluate (injected generate and grade)', () => {
  it('generates, grades and aggregates into an EvalReport with per-problem results', async () => {
    const log = { prompts: [] as string[][], gradeCalls: 0, options: [] as unknown[] };
    const result = await evaluate(
      {
        model: 'fake',
        n: 4,
        benchmarks: [
          { name: 'b1', rows: rows(['x0', 'x1', 'x2', 'x4']) },
          { name: 'b2', rows: rows(['y3']), generateOptions: { temperature: 0 } },
        ],
        buildPrompt,
        generateOptions: { temperature: 0.6, maxNewTokens: 64 },
        metrics: ['pass@1', 'pass@4', 'mean@4', 'maj@4'],
        promptBatchSize: 3,
        now: () => new Date('2025-05-05T00:00:00Z'),
      },
      fakeDeps(log),
    );
    // b1 correct counts: 0,1,2,4 of 4 -> pass@1 = mean(0,.25,.5,1) = .4375; pass@4 = .75
    // maj@4: x0 votes 'wrong','wrong' -> 0; x1 'A','wrong' tie -> A first -> 1; x2 'A','A' -> 1; x4 -> 1
    const b1 = result.benchmarks[0]!;
    expect(b1).toMatchObject({ name: 'b1', problems: 4, n: 4, meanResponseTokens: 25 });
    expect(b1.metrics).toEqual({ 'pass@1': 0.4375, 'pass@4': 0.75, 'mean@4': 0.4375, 'maj@4': 0.75 });
    expect(result.benchmarks[1]!.metrics).toEqual({ 'pass@1': 0.75, 'pass@4': 1, 'mean@4': 0.75, 'maj@4': 1 });
    expect(result.macro['pass@1']).toBeCloseTo((0.4375 + 0.75) / 2, 15);
    expect(result.createdAt).toBe('2025-05-05T00:00:00.000Z');
    expect(result.settings).toMatchObject({ n: 4, generate: { temperature: 0.6, maxNewTokens: 64 } });
    // batching: b1 in batches of 3 + 1, b2 in one
    expect(log.prompts.map((p) => p.length)).toEqual([3, 1, 1]);
    expect(log.gradeCalls).toBe(3);
    expect(log.prompts[0]![0]).toBe('Q:x0|Ax0');
    expect(log.options[2]).toEqual({ temperature: 0, maxNewTokens: 64 });
    // per-problem results
    const x1 = result.results['b1']![1]!;
    expect(x1).toMatchObject({ id: 'x1', problem: 'what is x1?', gold: 'Ax1' });
    expect(x1.samples[0]).toEqual({
      text: 'ans:Ax1',
      extracted: 'Ax1',
      correct: true,
      score: 1,
      finishReason: 'stop',
      tokens: 10,
    });
    expect(x1.samples[1]).toMatchObject({ extracted: null, correct: false });
    expect(x1.samples[3]!.finishReason).toBe('length');
  });

  it('per-benchmark n overrides the run-wide n', async () => {
    const log = { prompts: [] as string[][], gradeCalls: 0, options: [] as unknown[] };
    const r = await evaluate(
      { model: 'm', n: 4, benchmarks: [{ name: 'b', rows: rows(['z1']), n: 2 }], buildPrompt },
      fakeDeps(log),
    );
    expect(r.benchmarks[0]!.n).toBe(2);
    expect(Object.keys(r.benchmarks[0]!.metrics)).toEqual(['pass@1', 'pass@2', 'mean@2', 'maj@2']);
  });

  it('rejects wrong result counts, duplicate ids and bad batch sizes', async () => {
    const log = { prompts: [] as string[][], gradeCalls: 0, options: [] as unknown[] };
    const good = fakeDeps(log);
    const opts = { model: 'm', n: 2, benchmarks: [{ name: 'b', rows: rows(['a1', 'a2']) }], buildPrompt };
    await expect(
      evaluate(opts, { ...good, generate: async (p, n) => (await good.generate(p, n, {})).slice(1) }),
    ).rejects.toThrow(/benchmark 'b' asked 2 prompts, got 1/);
    await expect(evaluate(opts, { ...good, generate: async (p) => good.generate(p, 1, {}) })).rejects.toThrow(
      /problem 'a1' asked 2 samples, got 1/,
    );
    await expect(
      evaluate(opts, { ...good, grade: async (items) => (await good.grade(items)).slice(1) }),
    ).rejects.toThrow(/sent 4 items, got 3 verdicts/);
    await expect(evaluate({ ...opts, benchmarks: [{ name: 'b', rows: rows(['a1', 'a1']) }] }, good)).rejects.toThrow(
      /row 1: duplicate id 'a1'/,
    );
    await expect(evaluate({ ...opts, benchmarks: [{ name: 'b', rows: [] }] }, good)).rejects.toThrow(/'b' has no rows/);
    await expect(evaluate({ ...opts, promptBatchSize: 0 }, good)).rejects.toThrow(/promptBatchSize/);
  });
});
