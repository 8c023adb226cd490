/**
 * Grader health in training: the grader is loaded and tried on a real row before step 1, and every
 * step counts the items it could not grade (errors apart from timeouts). A step where no item was
 * graded stops the run: its rewards would all be the failure score, a silent no-op (issue 19 item 7).
 */
import type { DatasetRow } from '../data/types.js';
import type { GradeResult, GraderPool } from '../grading/index.js';
import { graderRow } from '../grading/row.js';

/** Per-step grader failure counts (metrics `reward/grader_errors`, `reward/grader_timeouts`). */
export interface GraderStepStats {
  /** Items whose grader threw, returned an invalid value, failed to load or killed its worker. */
  errors: number;
  /** Items whose grader ran past `reward.timeout_ms`. */
  timeouts: number;
}

/**
 * Loads the recipe's grader in a worker and grades one probe: `row`'s own gold answer written as
 * `\boxed{answer}` / `Answer: answer`. Throws `reward.grader: <the grader's error>` when the module
 * cannot load, or the probe call throws, returns something that is not a score or kills its worker;
 * the probe's verdict itself (right or wrong) and a probe timeout do not matter.
 */
export async function checkGrader(pool: GraderPool, row: DatasetRow): Promise<void> {
  try {
    await pool.check();
  } catch (e) {
    throw new Error(`reward.grader: ${(e as Error).message}`);
  }
  const probe = `The answer is $\\boxed{${row.answer}}$.\nAnswer: ${row.answer}`;
  const [r] = await pool.grade([{ response: probe, row: graderRow(row), prompt: row.problem }]);
  // A probe that only timed out is let through: a slow answer (symbolic, huge) is not a broken grader,
  // and a grader that always hangs is caught by the first step's all-failed check.
  if (r!.error !== undefined && r!.timedOut !== true) {
    throw new Error(`reward.grader: failed on a probe (row "${row.id}" with its own answer): ${r!.error}`);
  }
}

/**
 * Counts this step's grader failures. Throws when every item failed (`step N: the grader failed on
 * all M responses (E errors, T timeouts); first error: ...`), since nothing would be learned from
 * that step; warns through `log` when only some failed.
 */
export function graderStepStats(
  grades: readonly GradeResult[],
  step: number,
  log: (line: string) => void,
): GraderStepStats {
  const timeouts = grades.filter((g) => g.timedOut === true).length;
  const errors = grades.filter((g) => g.error !== undefined && g.timedOut !== true).length;
  const failed = errors + timeouts;
  const first = grades.find((g) => g.error !== undefined)?.error;
  if (grades.length > 0 && failed === grades.length) {
    throw new Error(
      `step ${step}: the grader failed on all ${grades.length} responses (${errors} errors, ${timeouts} timeouts); first error: ${first}`,
    );
  }
  if (failed > 0)
    log(
      `step ${step}: the grader failed on ${failed} of ${grades.length} responses (${errors} errors, ${timeouts} timeouts; scored as wrong); first: ${first}`,
    );
  return { errors, timeouts };
}
