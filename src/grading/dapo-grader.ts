/**
 * The `dapo` grader: DAPO's exact reward rule (verl `math_dapo.compute_score`, non-strict mode).
 * Only the last 300 characters of the response are read; the last `Answer:` match there is
 * normalised with `normalizeDapoAnswer`, as is the gold, and compared as strings.
 */
import { goldAnswer } from './math-grader.js';
import { normalizeDapoAnswer } from './normalize-dapo.js';
import type { GradeResult } from './types.js';

/** Characters of the response tail DAPO reads (verl: `solution_str[-300:]`). */
export const DAPO_TAIL_CHARS = 300;

/**
 * Grades like DAPO: score 1 / correct when the normalised last `Answer:` value of the response's
 * last 300 characters (counted in code points, as Python does) equals the normalised gold, else -1.
 * With no `Answer:` match verl compares the placeholder `[INVALID]`; here `extracted` is then null.
 * `extracted` is otherwise the normalised prediction (verl's `pred`). Never throws.
 */
export function gradeDapo(response: string, gold: string): GradeResult {
  const chars = Array.from(response);
  const tail = chars.length > DAPO_TAIL_CHARS ? chars.slice(-DAPO_TAIL_CHARS).join('') : response;
  let last: string | null = null;
  for (const m of tail.matchAll(/Answer\s*:\s*([^\n]+)/gi)) last = m[1]!;
  const pred = normalizeDapoAnswer(last ?? '[INVALID]');
  const correct = pred === normalizeDapoAnswer(gold);
  return { score: correct ? 1 : -1, correct, extracted: last === null ? null : pred };
}

/** Registry form: gold from `row.gold` / `row.answer`; throws when the row has none. */
export function dapoGrader(response: string, row: Record<string, unknown>): GradeResult {
  return gradeDapo(response, goldAnswer(row));
}
