/**
 * The `math` grader: extract the final answer (box, `Answer:` line, or prose; a hedge or a later
 * correction gives none), then decide equivalence with the gold answer by string, structure,
 * relation, exact value and symbolic checks (rules: README, "Graders").
 */
import { answersEquivalent, type EquivalenceOptions, percentQuestion } from './equivalence.js';
import { extractFinalAnswer } from './extract.js';
import type { GradeResult } from './types.js';

/**
 * The gold answer of a dataset row: `row.gold`, else `row.answer` (strings, or finite numbers
 * which are stringified). Throws an Error naming the fields when neither is usable.
 */
export function goldAnswer(row: Record<string, unknown>): string {
  for (const key of ['gold', 'answer'] as const) {
    const v = row[key];
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  }
  throw new Error('grader row has no gold answer: expected a string field "gold" or "answer"');
}

/**
 * The OlympiadBench-style absolute tolerance of a row: `row.error` as a number or numeric string
 * (e.g. `"1e-1"`); undefined when absent, null, or not a finite positive number.
 */
export function rowTolerance(row: Record<string, unknown>): number | undefined {
  const v = row.error;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * Grades one response against a gold answer. Score 1 when the extracted answer is equivalent to
 * `gold` (see `answersEquivalent`; `options.relTol` / `options.absTol` widen the tolerance,
 * `options.percent` says the question asks for a percentage), else 0; a response with no answer
 * (see `extractFinalAnswer`: box, `Answer:` line, prose; a hedge or a correction gives none)
 * scores 0 with `extracted: null`. Never throws.
 */
export function gradeMath(response: string, gold: string, options: EquivalenceOptions = {}): GradeResult {
  const extracted = extractFinalAnswer(response);
  const correct = extracted !== null && answersEquivalent(extracted, gold, options);
  return { score: correct ? 1 : 0, correct, extracted };
}

/**
 * Registry form of the math grader: gold from `goldAnswer(row)`, absolute tolerance from
 * `row.error` when present (OlympiadBench), otherwise the exact / 4-digit rounding rule of
 * numeric.ts (no blanket relative tolerance); a percentage question when `row.problem` or the prompt
 * says "percent" or holds `%`. Throws when the row has no gold answer.
 */
export function mathGrader(response: string, row: Record<string, unknown>, prompt = ''): GradeResult {
  const problem = `${typeof row.problem === 'string' ? row.problem : ''}\n${prompt}`;
  return gradeMath(response, goldAnswer(row), { absTol: rowTolerance(row), percent: percentQuestion(problem) });
}
