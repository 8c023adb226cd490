/**
 * The transition experiment on real math (recipes/qwen3-1.7b-transition-dapo.yaml): two graders
 * for DAPO-Math-17k that each accept only one answer format, so a phase switch demands a change of
 * output mode under the same prompt (the `dapo` template, which asks for an "Answer:" line).
 * - `answerLineOnly` (mode A, what the prompt asks for): the DAPO rule (last "Answer:" line,
 *   src/grading/dapo-grader.ts) and no `\boxed{}` anywhere in the response;
 * - `boxedOnly` (mode B, the base model's other habit): the math grader's equivalence on the last
 *   `\boxed{}` (src/grading/math-grader.ts) and no "Answer:" line anywhere.
 * Scores 1 / 0 (a response in both formats, or neither, scores 0). Custom grader exports
 * (src/grading/custom.ts), named in the recipe by module path.
 */
import { gradeDapo } from '../grading/dapo-grader.js';
import { lastAnswerLine, lastBoxed } from '../grading/extract.js';
import { answersEquivalent } from '../grading/equivalence.js';
import { goldAnswer } from '../grading/math-grader.js';
import type { GradeResult } from '../grading/types.js';

/** Mode A: a correct last "Answer:" line (DAPO's rule) and no \boxed{}. */
export function answerLineOnly(response: string, row: Record<string, unknown>): GradeResult {
  const g = gradeDapo(response, goldAnswer(row));
  const correct = g.correct && lastBoxed(response) === null;
  return { score: correct ? 1 : 0, correct, extracted: g.extracted };
}

/** Mode B: a correct last \boxed{} (math equivalence) and no "Answer:" line. */
export function boxedOnly(response: string, row: Record<string, unknown>): GradeResult {
  const box = lastBoxed(response);
  const correct = box !== null && lastAnswerLine(response) === null && answersEquivalent(box.text, goldAnswer(row));
  return { score: correct ? 1 : 0, correct, extracted: box?.text ?? null };
}
