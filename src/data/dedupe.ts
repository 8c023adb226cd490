/**
 * Deduplication on the exact problem text, as done for the local DAPO-Math-17k copy (see the data
 * dir's SOURCES.md): the first occurrence wins, `source_rows` lists every merged row index, and
 * when copies disagree on the gold answer `answer_conflict` is true and `conflicting_answers`
 * lists the distinct answers in order of appearance.
 */
import type { DatasetRow } from './types.js';

/**
 * Merges rows with identical `problem` strings.
 * @param rows rows in source order; `sourceIndex[i]` is row i's index in the source file
 *   (default: i)
 * @returns one row per distinct problem, in order of first occurrence
 */
export function dedupeByProblem(rows: DatasetRow[], sourceIndex?: number[]): DatasetRow[] {
  const byProblem = new Map<string, { row: DatasetRow; sources: number[]; answers: string[] }>();
  rows.forEach((row, i) => {
    const src = sourceIndex?.[i] ?? i;
    const seen = byProblem.get(row.problem);
    if (!seen) {
      byProblem.set(row.problem, { row, sources: [src], answers: [row.answer] });
      return;
    }
    seen.sources.push(src);
    if (!seen.answers.includes(row.answer)) seen.answers.push(row.answer);
  });
  return [...byProblem.values()].map(({ row, sources, answers }) => {
    const extra: Record<string, unknown> = { ...row.extra, source_rows: sources, answer_conflict: answers.length > 1 };
    if (answers.length > 1) extra.conflicting_answers = answers;
    return { ...row, extra };
  });
}
