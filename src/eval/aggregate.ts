/**
 * Aggregation: per-problem results -> per-benchmark metrics -> macro average -> EvalReport.
 */
import { majorityVote, passAtK, parseMetric, defaultMetrics, type MajorityOutcome } from './metrics.js';
import type { BenchmarkReport, EvalReport, ProblemResult } from './types.js';

/** Maps an extracted answer to the canonical key samples vote with in maj@k. */
export type AnswerKey = (extracted: string) => string;

/** Default answer key: the extracted string with surrounding whitespace removed. */
export const defaultAnswerKey: AnswerKey = (s) => s.trim();

export interface AggregateOptions {
  /** Metric names (`pass@k`, `mean@k`, `maj@k`); default {@link defaultMetrics}(n). */
  metrics?: readonly string[];
  /** Canonical answer key for maj@k; default {@link defaultAnswerKey}. */
  answerKey?: AnswerKey;
}

/** Majority vote over the first `k` samples of one problem (all samples when k is omitted). */
export function problemMajority(
  p: ProblemResult,
  answerKey: AnswerKey = defaultAnswerKey,
  k?: number,
): MajorityOutcome {
  const samples = k === undefined ? p.samples : p.samples.slice(0, k);
  return majorityVote(
    samples.map((s) => ({ key: s.extracted === null ? null : answerKey(s.extracted), correct: s.correct })),
  );
}

/**
 * Aggregates one benchmark. Every problem must carry the same number of samples n >= 1.
 * Per metric, the benchmark value is the unweighted mean over problems of:
 * - `pass@k`: the unbiased estimator (Chen et al., 2021, Eq. 1; see {@link passAtK}) with all n samples;
 * - `mean@k`: the fraction correct among the first k samples;
 * - `maj@k`: 1 if the majority answer of the first k samples is correct (Wang et al., 2023).
 * `meanResponseTokens` is the mean of `tokens` over all n × problems samples.
 * @throws Error naming the benchmark and problem id for an empty benchmark, a problem whose sample
 *   count differs from the first problem's, or a metric whose k exceeds n.
 */
export function aggregateBenchmark(
  name: string,
  problems: readonly ProblemResult[],
  options: AggregateOptions = {},
): BenchmarkReport {
  if (problems.length === 0) throw new Error(`benchmark '${name}': no problems to aggregate`);
  const n = problems[0]!.samples.length;
  if (n < 1) throw new Error(`benchmark '${name}': problem '${problems[0]!.id}' has no samples`);
  for (const p of problems) {
    if (p.samples.length !== n) {
      throw new Error(
        `benchmark '${name}': problem '${p.id}' has ${p.samples.length} samples, expected n=${n} like '${problems[0]!.id}'`,
      );
    }
  }
  const answerKey = options.answerKey ?? defaultAnswerKey;
  const specs = (options.metrics ?? defaultMetrics(n)).map(parseMetric);
  const metrics: Record<string, number> = {};
  for (const spec of specs) {
    if (spec.k > n)
      throw new Error(`benchmark '${name}': metric ${spec.name} needs k=${spec.k} <= n=${n} samples per problem`);
    let sum = 0;
    for (const p of problems) {
      if (spec.kind === 'pass') {
        let c = 0;
        for (const s of p.samples) if (s.correct) c++;
        sum += passAtK(n, c, spec.k);
      } else if (spec.kind === 'mean') {
        let c = 0;
        for (let i = 0; i < spec.k; i++) if (p.samples[i]!.correct) c++;
        sum += c / spec.k;
      } else {
        sum += problemMajority(p, answerKey, spec.k).correct ? 1 : 0;
      }
    }
    metrics[spec.name] = sum / problems.length;
  }
  let tokens = 0;
  for (const p of problems) for (const s of p.samples) tokens += s.tokens;
  return { name, problems: problems.length, n, metrics, meanResponseTokens: tokens / (problems.length * n) };
}

/**
 * Macro average: for each metric reported by EVERY benchmark (in the first benchmark's order), the
 * unweighted mean over benchmarks (each benchmark counts once, whatever its size). Metrics missing
 * from some benchmark are left out. Returns {} for no benchmarks.
 */
export function macroAverage(benchmarks: readonly BenchmarkReport[]): Record<string, number> {
  const macro: Record<string, number> = {};
  if (benchmarks.length === 0) return macro;
  for (const metric of Object.keys(benchmarks[0]!.metrics)) {
    if (!benchmarks.every((b) => Object.prototype.hasOwnProperty.call(b.metrics, metric))) continue;
    let sum = 0;
    for (const b of benchmarks) sum += b.metrics[metric]!;
    macro[metric] = sum / benchmarks.length;
  }
  return macro;
}

/** Assembles an EvalReport from benchmark reports (the macro average is computed here). */
export function buildEvalReport(
  meta: { model: string; settings?: Record<string, unknown>; createdAt?: string },
  benchmarks: readonly BenchmarkReport[],
): EvalReport {
  const names = new Set<string>();
  for (const b of benchmarks) {
    if (names.has(b.name)) throw new Error(`duplicate benchmark name '${b.name}' in report`);
    names.add(b.name);
  }
  return {
    model: meta.model,
    createdAt: meta.createdAt ?? new Date().toISOString(),
    settings: meta.settings ?? {},
    benchmarks: [...benchmarks],
    macro: macroAverage(benchmarks),
  };
}
