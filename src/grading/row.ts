/**
 * The one row shape every grader is called with, in training, evaluation and `gtr grade` alike:
 * the dataset row's fields `{ id, problem, answer }` plus its source's extra fields (OlympiadBench
 * `error` tolerances, units, ...). The gold answer is `row.answer`.
 */
import type { DatasetRow } from '../data/types.js';

/** The grader's view of a dataset row: `{ ...row.extra, id, problem, answer }`. */
export function graderRow(row: DatasetRow): Record<string, unknown> {
  return { ...row.extra, id: row.id, problem: row.problem, answer: row.answer };
}
