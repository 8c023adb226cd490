/**
 * Shared types of the reward graders: what a grader is called with and what it returns.
 */

/**
 * One grader verdict. `score` is the reward (math: 1 / 0, dapo: 1 / -1, custom: whatever the module
 * returns); `correct` is the boolean verdict; `extracted` is the final answer pulled from the
 * response (null when none was found or the grader does not extract). Graders may add metrics.
 * The pool adds `timedOut: true` and/or `error` (a message) when the item could not be graded.
 */
export interface GradeResult {
  score: number;
  correct: boolean;
  extracted: string | null;
  timedOut?: boolean;
  error?: string;
  [metric: string]: unknown;
}

/**
 * A grader function: `(response, row, prompt)`. `row` is the dataset row as ./row.ts shapes it,
 * `{ ...extra, id, problem, answer }` (the gold answer is `row.answer`; the built-in graders also
 * accept a `gold` field); sync or async.
 */
export type GraderFn = (
  response: string,
  row: Record<string, unknown>,
  prompt: string,
) => GradeResult | Promise<GradeResult>;

/**
 * A user grader module: `module` is a file path (.ts / .js / .mjs; relative paths resolve against
 * the current directory), `export` the export name (default `'default'`). The export is called as
 * `(response, row, prompt)` and returns (or resolves to) a number or `{ score: number, ...metrics }`.
 */
export interface CustomGraderSpec {
  module: string;
  export?: string;
  /**
   * Batched form (as TRL's `reward_funcs`): the export is called once per batch as
   * `(responses: string[], rows: Record<string, unknown>[], prompts: string[])` and returns (or
   * resolves to) one number or `{ score, ...metrics }` per response, in order. The whole call has
   * the per-item timeout.
   */
  batched?: boolean;
}

/** A registry name (`'math'`, `'dapo'`) or a custom grader module. */
export type GraderSpec = string | CustomGraderSpec;

/** One part of a weighted reward: a grader, its weight, and the name its score is logged under. */
export interface WeightedPart {
  grader: GraderSpec;
  weight: number;
  /** Metric name of this part (default: the registry name, or the module's file name and export). */
  name?: string;
}

/**
 * A weighted sum of graders (`reward.graders: [{grader, weight}]`): score = sum of weight x score;
 * `correct` and `extracted` are the first part's.
 */
export interface WeightedGraderSpec {
  graders: WeightedPart[];
}

/** What a grader pool runs: one grader or a weighted list. */
export type RewardSpec = GraderSpec | WeightedGraderSpec;

/** True for a weighted list. */
export function isWeighted(spec: RewardSpec): spec is WeightedGraderSpec {
  return typeof spec === 'object' && spec !== null && 'graders' in spec;
}

/** One item to grade: the model response, its dataset row (holding the gold answer) and prompt. */
export interface GradeItem {
  response: string;
  row: Record<string, unknown>;
  prompt?: string;
}
