/**
 * `evaluate()`: the eval orchestration, with generation and grading injected so it runs (and is
 * tested) without the native model.
 *
 * Integration contract (for whoever wires `gtr eval`):
 * - `deps.generate(prompts, n, options)` samples n responses for each prompt and resolves to an
 *   array `[prompts.length][n]` of `{ text, tokens, finishReason }` (Policy generation).
 * - `deps.grade(items)` grades responses and resolves to one verdict per item, same order
 *   (the grader pool, e.g. math-verify style graders).
 * - `benchmarks[].rows` come from the dataset registry (`{ id, problem, answer, extra }`).
 * - `buildPrompt(row, benchmark)` renders the chat-templated prompt text.
 * - Write the result with `writeEvalOutputs(dir, result, result.results)`.
 */
import { aggregateBenchmark, buildEvalReport, type AnswerKey } from './aggregate.js';
import type { BenchmarkReport, EvalReport, FinishReason, ProblemResult, SampleResult } from './types.js';

/** Sampling settings passed through to `deps.generate` (engine-specific keys allowed). */
export interface GenerateOptions {
  maxNewTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  [key: string]: unknown;
}

/** One generated response. `tokens`: response length in tokens. */
export interface GeneratedSample {
  text: string;
  tokens: number;
  finishReason: FinishReason;
}

/** One response to grade against its problem's gold answer. */
export interface GradeItem {
  benchmark: string;
  problemId: string;
  problem: string;
  response: string;
  gold: string;
  extra?: Record<string, unknown>;
}

/** A grader's verdict on one {@link GradeItem}. */
export interface GradeVerdict {
  correct: boolean;
  score: number;
  /** The extracted final answer, or null when none was found. */
  extracted: string | null;
}

/** Injected dependencies of {@link evaluate}. */
export interface EvalDeps {
  /** Resolves to `[prompts.length][n]` samples. */
  generate(prompts: string[], n: number, options: GenerateOptions): Promise<GeneratedSample[][]>;
  /** Resolves to one verdict per item, in order. */
  grade(items: GradeItem[]): Promise<GradeVerdict[]>;
}

/** One benchmark problem as loaded from a dataset. */
export interface BenchmarkRow {
  id: string;
  problem: string;
  /** Gold answer. */
  answer: string;
  extra?: Record<string, unknown>;
}

/** One benchmark to evaluate; `n`, `metrics`, `generateOptions` override the run-wide values. */
export interface BenchmarkInput {
  name: string;
  rows: readonly BenchmarkRow[];
  n?: number;
  metrics?: readonly string[];
  generateOptions?: GenerateOptions;
}

/** Renders the prompt text for a row. */
export type PromptBuilder = (row: BenchmarkRow, benchmark: string) => string;

export interface EvaluateOptions {
  model: string;
  benchmarks: readonly BenchmarkInput[];
  buildPrompt: PromptBuilder;
  /** Samples per problem (default for every benchmark). */
  n: number;
  generateOptions?: GenerateOptions;
  /** Metric names; default `defaultMetrics(n)` per benchmark. */
  metrics?: readonly string[];
  /** Canonical answer key for maj@k votes. */
  answerKey?: AnswerKey;
  /** Prompts per `generate` call (default: a whole benchmark at once). */
  promptBatchSize?: number;
  /** Extra settings recorded in the report (merged over `n`, `generate`, `metrics`). */
  settings?: Record<string, unknown>;
  /** Clock for `createdAt` (tests). */
  now?: () => Date;
  /** Called after each batch is graded. */
  onProgress?: (e: { benchmark: string; done: number; total: number }) => void;
}

/** An {@link EvalReport} plus the per-problem results behind it, keyed by benchmark name. */
export interface EvaluateResult extends EvalReport {
  results: Record<string, ProblemResult[]>;
}

function checkSample(s: GeneratedSample | undefined, where: string): GeneratedSample {
  if (!s || typeof s.text !== 'string') throw new Error(`generate: ${where} has no text`);
  if (!Number.isInteger(s.tokens) || s.tokens < 0) throw new Error(`generate: ${where} has invalid tokens ${s.tokens}`);
  return s;
}

function checkVerdict(v: GradeVerdict | undefined, where: string): GradeVerdict {
  if (!v || typeof v.correct !== 'boolean') throw new Error(`grade: ${where} has no boolean 'correct'`);
  if (!Number.isFinite(v.score)) throw new Error(`grade: ${where} has non-finite score ${v.score}`);
  if (v.extracted !== null && typeof v.extracted !== 'string')
    throw new Error(`grade: ${where} has invalid 'extracted'`);
  return v;
}

/**
 * Runs every benchmark: builds prompts, generates n samples per problem, grades them, and
 * aggregates pass@k / mean@k / maj@k (see `aggregateBenchmark`) and the macro average.
 * Benchmarks run in order, batches of `promptBatchSize` prompts at a time.
 * @returns the report with `results` (per-problem samples and verdicts) attached.
 * @throws Error naming the benchmark and row for duplicate ids, an empty benchmark, or when
 *   `generate`/`grade` return the wrong number of results or malformed entries.
 */
export async function evaluate(options: EvaluateOptions, deps: EvalDeps): Promise<EvaluateResult> {
  const batchSize = options.promptBatchSize ?? Infinity;
  if (!(batchSize >= 1 && (Number.isInteger(batchSize) || batchSize === Infinity))) {
    throw new RangeError(`evaluate: promptBatchSize must be an integer >= 1, got ${batchSize}`);
  }
  const seen = new Set<string>();
  for (const b of options.benchmarks) {
    if (seen.has(b.name)) throw new Error(`evaluate: duplicate benchmark '${b.name}'`);
    seen.add(b.name);
  }
  const reports: BenchmarkReport[] = [];
  const results: Record<string, ProblemResult[]> = {};
  for (const bench of options.benchmarks) {
    const n = bench.n ?? options.n;
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`benchmark '${bench.name}': n must be a positive integer, got ${n}`);
    if (bench.rows.length === 0) throw new Error(`benchmark '${bench.name}' has no rows`);
    const ids = new Set<string>();
    bench.rows.forEach((r, i) => {
      if (ids.has(r.id)) throw new Error(`benchmark '${bench.name}' row ${i}: duplicate id '${r.id}'`);
      ids.add(r.id);
    });
    const genOptions: GenerateOptions = { ...options.generateOptions, ...bench.generateOptions };
    const problems: ProblemResult[] = [];
    const step = Math.min(batchSize, bench.rows.length);
    for (let start = 0; start < bench.rows.length; start += step) {
      const rows = bench.rows.slice(start, start + step);
      const prompts = rows.map((r) => options.buildPrompt(r, bench.name));
      const generated = await deps.generate(prompts, n, genOptions);
      if (!Array.isArray(generated) || generated.length !== rows.length) {
        throw new Error(
          `generate: benchmark '${bench.name}' asked ${rows.length} prompts, got ${generated?.length} result lists`,
        );
      }
      const items: GradeItem[] = [];
      rows.forEach((r, i) => {
        const list = generated[i]!;
        if (!Array.isArray(list) || list.length !== n) {
          throw new Error(
            `generate: benchmark '${bench.name}' problem '${r.id}' asked ${n} samples, got ${list?.length}`,
          );
        }
        list.forEach((s, j) => {
          checkSample(s, `benchmark '${bench.name}' problem '${r.id}' sample ${j}`);
          items.push({
            benchmark: bench.name,
            problemId: r.id,
            problem: r.problem,
            response: s.text,
            gold: r.answer,
            extra: r.extra,
          });
        });
      });
      const verdicts = await deps.grade(items);
      if (!Array.isArray(verdicts) || verdicts.length !== items.length) {
        throw new Error(
          `grade: benchmark '${bench.name}' sent ${items.length} items, got ${verdicts?.length} verdicts`,
        );
      }
      rows.forEach((r, i) => {
        const samples: SampleResult[] = generated[i]!.map((s, j) => {
          const v = checkVerdict(verdicts[i * n + j], `benchmark '${bench.name}' problem '${r.id}' sample ${j}`);
          return {
            text: s.text,
            extracted: v.extracted,
            correct: v.correct,
            score: v.score,
            finishReason: s.finishReason,
            tokens: s.tokens,
          };
        });
        problems.push({ id: r.id, problem: r.problem, gold: r.answer, samples });
      });
      options.onProgress?.({ benchmark: bench.name, done: problems.length, total: bench.rows.length });
    }
    results[bench.name] = problems;
    reports.push(
      aggregateBenchmark(bench.name, problems, {
        metrics: bench.metrics ?? options.metrics,
        answerKey: options.answerKey,
      }),
    );
  }
  const settings: Record<string, unknown> = {
    n: options.n,
    generate: options.generateOptions ?? {},
    ...(options.metrics ? { metrics: [...options.metrics] } : {}),
    ...options.settings,
  };
  const report = buildEvalReport(
    { model: options.model, settings, createdAt: (options.now?.() ?? new Date()).toISOString() },
    reports,
  );
  return { ...report, results };
}
