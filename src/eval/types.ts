/**
 * Shared types of the evaluation layer. Metric values are fractions in [0, 1] (not percentages);
 * token counts are response tokens (the prompt excluded).
 */

/** Why generation of one sample stopped (engine-defined strings are allowed beyond these). */
export type FinishReason = 'stop' | 'length' | (string & {});

/** One sampled response to a problem, with the grader's verdict. */
export interface SampleResult {
  /** Decoded response text (the prompt excluded). */
  text: string;
  /** The answer the grader extracted from `text`, or null when it found none. */
  extracted: string | null;
  /** The grader's verdict against the gold answer. */
  correct: boolean;
  /** The grader's scalar score (1/0 for plain math grading; graders may give partial credit). */
  score: number;
  finishReason: FinishReason;
  /** Response length in tokens. */
  tokens: number;
}

/** All samples of one benchmark problem. */
export interface ProblemResult {
  id: string;
  problem: string;
  gold: string;
  samples: SampleResult[];
}

/** Aggregate metrics of one benchmark. */
export interface BenchmarkReport {
  name: string;
  /** Number of problems evaluated. */
  problems: number;
  /** Samples per problem. */
  n: number;
  /** Metric name (`pass@k`, `mean@k`, `maj@k`) -> value in [0, 1], averaged over problems. */
  metrics: Record<string, number>;
  /** Mean response length in tokens over every sample of every problem. */
  meanResponseTokens: number;
}

/** A full evaluation: one report per benchmark plus the macro average over benchmarks. */
export interface EvalReport {
  /** Model path or name. */
  model: string;
  /** ISO-8601 timestamp. */
  createdAt: string;
  /** Free-form generation and grading settings (temperature, top-p, max tokens, seed, ...). */
  settings: Record<string, unknown>;
  benchmarks: BenchmarkReport[];
  /** Unweighted mean over benchmarks of each metric that every benchmark reports. */
  macro: Record<string, number>;
}
