/**
 * The demo's evaluation: pass@k on the held-out split through src/eval/evaluate.ts `evaluate()`,
 * with `generate` through the native rollout engine (src/rl/adapters.ts `rolloutEngine`) and
 * `grade` by the math grader called directly (src/grading `gradeMath`: the final "Answer:" line,
 * numeric equivalence), no worker pool.
 */
import { buildPrompt } from '../data/templates.js';
import { evaluate } from '../eval/evaluate.js';
import { gradeMath } from '../grading/index.js';
import { Policy } from '../policy.js';
import { rolloutEngine } from '../rl/adapters.js';
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

/** The numbers the demo prints: pass@k per k, mean accuracy, mean response length. */
export interface DemoEvalResult {
  passAt: Record<string, number>;
  /** Mean correctness over all n samples of all problems (mean@n). */
  meanAccuracy: number;
  meanResponseTokens: number;
  problems: number;
  seconds: number;
}

/**
 * Evaluates the checkpoint in `modelDir` on `problems` (prompts rendered as the loop renders them:
 * the plain template, raw text).
 * @throws Error when k > n or the checkpoint does not load.
 */
export async function evaluateDemo(modelDir: string, problems: readonly ArithmeticProblem[], s: DemoEvalSettings): Promise<DemoEvalResult> {
  for (const k of s.k) if (k > s.n) throw new Error(`pass@${k} needs n >= ${k} samples (n = ${s.n})`);
  const t0 = performance.now();
  const tokenizer = await Tokenizer.fromDir(modelDir);
  const policy = await Policy.load(modelDir, { device: 'cpu', dtype: 'float32' });
  try {
    const engine = rolloutEngine(policy);
    const report = await evaluate({
      model: modelDir,
      benchmarks: [{ name: 'heldout', rows: problems.map((p) => ({ id: p.id, problem: p.problem, answer: p.answer })) }],
      n: s.n,
      metrics: [...s.k.map((k) => `pass@${k}`), `mean@${s.n}`],
      buildPrompt: (row) => (buildPrompt('plain', row.problem, { chat: false }) as { text: string }).text,
      generateOptions: { maxNewTokens: s.maxNewTokens, temperature: s.temperature, seed: s.seed },
    }, {
      generate: async (texts, n) => {
        const out = await engine.generate(texts.map((t) => Int32Array.from(tokenizer.encode(t, { addSpecialTokens: false }))), {
          n, maxNewTokens: s.maxNewTokens, temperature: s.temperature, topP: 1, topK: 0, minP: 0, stopTokenIds: tokenizer.eosTokenIds, seed: s.seed,
        });
        return out.map((g) => g.map((r) => ({ text: tokenizer.decode(r.tokens, { skipSpecialTokens: true }), tokens: r.tokens.length, finishReason: r.finishReason })));
      },
      grade: async (items) => items.map((it) => {
        const g = gradeMath(it.response, it.gold);
        return { correct: g.correct, score: g.score, extracted: g.extracted };
      }),
    });
    const bench = report.benchmarks[0]!;
    const passAt: Record<string, number> = {};
    for (const k of s.k) passAt[`pass@${k}`] = bench.metrics[`pass@${k}`] as number;
    const samples = report.results.heldout!.flatMap((p) => p.samples);
    return {
      passAt,
      meanAccuracy: samples.filter((x) => x.correct).length / Math.max(1, samples.length),
      meanResponseTokens: samples.reduce((a, x) => a + x.tokens, 0) / Math.max(1, samples.length),
      problems: problems.length,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    policy.dispose();
  }
}
