/**
 * The demo's evaluation: pass@k on the held-out split through src/eval/evaluate.ts `evaluate()`,
 * with `generate` through the native rollout engine (src/rollout/engine.ts `rolloutEngine`) and
 * `grade` by the math grader called directly (src/grading `gradeMath`: the final "Answer:" line,
 * numeric equivalence), no worker pool.
 */
import { buildPrompt } from '../data/templates.js';
import { evaluate } from '../eval/evaluate.js';
import { passAtK } from '../eval/metrics.js';
import { gradeMath } from '../grading/index.js';
import { Policy } from '../policy.js';
import { rolloutEngine } from '../rollout/engine.js';
import { Tokenizer } from '../tokenizer/index.js';
import type { ArithmeticProblem } from './task.js';

/** Settings of {@link evaluateDemo}. */
export interface DemoEvalSettings {
  /** Samples per problem (pass@k needs k <= n). */
  n: number;
  k: number[];
  temperature: number;
  maxNewTokens: number;
  seed: number;
}

/** The numbers the demo prints: pass@k per k (with standard errors), mean accuracy, mean response length. */
export interface DemoEvalResult {
  passAt: Record<string, number>;
  /**
   * Standard error of each pass@k over the held-out problems: sd / sqrt(N) of the per-problem
   * unbiased pass@k estimates (sample sd, N - 1). It covers both the choice of problems and the
   * sampling noise of the n samples per problem.
   */
  stdErr: Record<string, number>;
  /** Correct samples (of n) per problem, in the order of the problems given (for paired comparisons). */
  correct: number[];
  /** Samples per problem. */
  n: number;
  /** Mean correctness over all n samples of all problems (mean@n). */
  meanAccuracy: number;
  meanResponseTokens: number;
  problems: number;
  seconds: number;
}

/**
 * Evaluates the checkpoint in `modelDir` on `problems` (prompts rendered as the loop renders them:
 * the plain template, raw text); see {@link evaluatePolicy}.
 * @throws Error when k > n or the checkpoint does not load.
 */
export async function evaluateDemo(
  modelDir: string,
  problems: readonly ArithmeticProblem[],
  s: DemoEvalSettings,
): Promise<DemoEvalResult> {
  const tokenizer = await Tokenizer.fromDir(modelDir);
  const policy = await Policy.load(modelDir, { device: 'cpu', dtype: 'float32' });
  try {
    return await evaluatePolicy(policy, tokenizer, problems, s);
  } finally {
    policy.dispose();
  }
}

/** Mean and standard error (sample sd / sqrt(N)) of a list; SE is 0 for fewer than two values. */
export function meanStdErr(xs: readonly number[]): { mean: number; stdErr: number } {
  const n = xs.length;
  if (n === 0) return { mean: Number.NaN, stdErr: Number.NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, stdErr: 0 };
  const v = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  return { mean, stdErr: Math.sqrt(v / n) };
}

/**
 * Evaluates a loaded policy (e.g. the one being trained, mid-SFT) on `problems`: n samples per
 * problem at `s.temperature` (0 = greedy), graded by the math grader; pass@k by the unbiased
 * estimator, averaged over problems, with its standard error over problems.
 * @throws Error when k > n.
 */
export async function evaluatePolicy(
  policy: Policy,
  tokenizer: Tokenizer,
  problems: readonly ArithmeticProblem[],
  s: DemoEvalSettings,
): Promise<DemoEvalResult> {
  for (const k of s.k) if (k > s.n) throw new Error(`pass@${k} needs n >= ${k} samples (n = ${s.n})`);
  const t0 = performance.now();
  const engine = rolloutEngine(policy);
  const report = await evaluate(
    {
      model: 'demo',
      benchmarks: [
        { name: 'heldout', rows: problems.map((p) => ({ id: p.id, problem: p.problem, answer: p.answer })) },
      ],
      n: s.n,
      metrics: [...s.k.map((k) => `pass@${k}`), `mean@${s.n}`],
      buildPrompt: (row) => (buildPrompt('plain', row.problem, { chat: false }) as { text: string }).text,
      generateOptions: { maxNewTokens: s.maxNewTokens, temperature: s.temperature, seed: s.seed },
    },
    {
      generate: async (texts, n) => {
        const out = await engine.generate(
          texts.map((t) => Int32Array.from(tokenizer.encode(t, { addSpecialTokens: false }))),
          {
            n,
            maxNewTokens: s.maxNewTokens,
            temperature: s.temperature,
            topP: 1,
            topK: 0,
            minP: 0,
            stopTokenIds: tokenizer.eosTokenIds,
            seed: s.seed,
            vocabSize: tokenizer.vocabSize,
          },
        );
        return out.map((g) =>
          g.map((r) => ({
            text: tokenizer.decode(r.tokens, { skipSpecialTokens: true }),
            tokens: r.tokens.length,
            finishReason: r.finishReason,
          })),
        );
      },
      grade: async (items) =>
        items.map((it) => {
          const g = gradeMath(it.response, it.gold);
          return { correct: g.correct, score: g.score, extracted: g.extracted };
        }),
    },
  );
  const bench = report.benchmarks[0]!;
  const byId = new Map(report.results.heldout!.map((p) => [p.id, p]));
  const correct = problems.map((p) => byId.get(p.id)!.samples.filter((x) => x.correct).length);
  const passAt: Record<string, number> = {};
  const stdErr: Record<string, number> = {};
  for (const k of s.k) {
    passAt[`pass@${k}`] = bench.metrics[`pass@${k}`] as number;
    stdErr[`pass@${k}`] = meanStdErr(correct.map((c) => passAtK(s.n, c, k))).stdErr;
  }
  const samples = report.results.heldout!.flatMap((p) => p.samples);
  return {
    passAt,
    stdErr,
    correct,
    n: s.n,
    meanAccuracy: samples.filter((x) => x.correct).length / Math.max(1, samples.length),
    meanResponseTokens: samples.reduce((a, x) => a + x.tokens, 0) / Math.max(1, samples.length),
    problems: problems.length,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Paired comparison of two evaluations of the same problems with the same n (b - a): the mean
 * over problems of the per-problem difference in pass@k (unbiased estimates), its standard error
 * (sd of the differences / sqrt(N)) and z = mean / SE. Pairing removes the between-problem
 * variance both share, so it is the test that decides whether two checkpoints differ.
 * @throws Error when the evaluations cover different numbers of problems or samples.
 */
export function pairedDiff(a: DemoEvalResult, b: DemoEvalResult, k = 1): { diff: number; stdErr: number; z: number } {
  if (a.correct.length !== b.correct.length || a.n !== b.n)
    throw new Error(
      `pairedDiff: evaluations differ in problems (${a.correct.length} vs ${b.correct.length}) or samples (${a.n} vs ${b.n})`,
    );
  const d = a.correct.map((c, i) => passAtK(b.n, b.correct[i]!, k) - passAtK(a.n, c, k));
  const { mean, stdErr } = meanStdErr(d);
  return { diff: mean, stdErr, z: stdErr > 0 ? mean / stdErr : mean === 0 ? 0 : Math.sign(mean) * Infinity };
}
