/**
 * Shared types of the data layer: the common row every dataset is mapped to, and the report of
 * rows a reader had to skip.
 */

/** One problem of a dataset, whatever its source format. */
export interface DatasetRow {
  /** Stable id (e.g. `"math500"`'s `test/precalculus/807.json`, `"dapo-00000"`). */
  id: string;
  /** Problem text, unchanged from the source (no template applied). */
  problem: string;
  /** Gold final answer as a string, unchanged from the source. */
  answer: string;
  /**
   * Every other source field, kept as-is (OlympiadBench `error`, `answer_type`, `unit`,
   * `final_answer`; Minerva `solution`; DAPO `answer_conflict`, `conflicting_answers`, ...).
   */
  extra: Record<string, unknown>;
}

/** A row a reader skipped, with where it was and why. */
export interface RowIssue {
  /** File the row came from. */
  file: string;
  /** 1-based line number (JSONL) or 0-based row index (parquet), per `unit`. */
  position: number;
  /** Whether `position` is a JSONL line number or a parquet row index. */
  unit: 'line' | 'row';
  /** Why the row was skipped, e.g. `missing or empty "answer"`. */
  reason: string;
  /** Human-readable `file:line: reason` / `file: row N: reason`. */
  message: string;
}

/** What a reader returns: the usable rows in file order plus the skipped ones. */
export interface ReadResult {
  rows: DatasetRow[];
  /** Source position of each row (same units as {@link RowIssue.position}), parallel to `rows`. */
  positions: number[];
  /** Number of rows skipped (equals `issues.length`). */
  skipped: number;
  issues: RowIssue[];
}

/** File formats the readers understand. */
export type DataFormat = 'jsonl' | 'parquet';
