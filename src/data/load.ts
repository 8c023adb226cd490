/**
 * `loadDataset`: a registered dataset as common rows, from the local data dir or downloaded from
 * its remote source (see datasets/manifest.json).
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dedupeByProblem } from './dedupe.js';
import { downloadSource, type DownloadOptions } from './download.js';
import { readJsonl } from './jsonl.js';
import { getDatasetEntry, localMapping, type DatasetEntry } from './manifest.js';
import { IDENTITY_MAPPING, VERL_MAPPING, type FieldMapping } from './mapping.js';
import { readParquet } from './parquet.js';
import type { DataFormat, DatasetRow, RowIssue } from './types.js';

/** Options of {@link loadDataset}. */
export interface LoadDatasetOptions extends DownloadOptions {
  /**
   * Directory holding the local copies (as `gtr data fetch --data-dir DIR` writes them); if set,
   * nothing is downloaded. Unset: `GTR_DATA_DIR` when that is set, else the cache / the hub.
   */
  dataDir?: string;
  /** Ignore `dataDir` and `GTR_DATA_DIR`: read the remote source (cached, else downloaded). */
  remote?: boolean;
  /** Keep only the first `limit` usable rows (after `dropConflicts`). */
  limit?: number;
  /** Drop rows whose duplicates disagree on the gold answer (`extra.answer_conflict === true`). */
  dropConflicts?: boolean;
  /** Called for each skipped row (default: `console.warn` of the first 20, then a count). */
  onIssue?: (issue: RowIssue) => void;
}

/** A loaded dataset. */
export interface LoadedDataset {
  name: string;
  role: 'train' | 'eval';
  /** File the rows were read from (local copy or cache entry). */
  file: string;
  rows: DatasetRow[];
  /** Rows skipped as unusable (bad JSON, missing/empty problem or answer). */
  skipped: number;
  /** Rows dropped because `dropConflicts` was set. */
  droppedConflicts: number;
  issues: RowIssue[];
}

function defaultIssueReporter(): (issue: RowIssue) => void {
  let n = 0;
  return (issue) => {
    n++;
    if (n <= 20) console.warn(`skipping bad row: ${issue.message}`);
    else if (n === 21) console.warn('(further bad rows are not printed; see the returned issues)');
  };
}

/** Reads one file in the given format with the given mapping. */
export function readDataFile(
  file: string,
  format: DataFormat,
  mapping: FieldMapping,
  idPrefix: string,
  onIssue?: (i: RowIssue) => void,
) {
  const opts = { mapping, idPrefix, onIssue };
  return format === 'parquet' ? readParquet(file, opts) : readJsonl(file, opts);
}

/**
 * Loads a registered dataset.
 * @param name a registry name (`dapo-math-17k`, `math500`, `olympiadbench`, `minerva`, `amc23`,
 *   `aime24`, `aime25`)
 * @returns rows in source order (after dedupe for sources that need it, conflict dropping and limit)
 * @throws on an unknown name (listing the valid ones), a missing local file, a failed download,
 *   or a file without usable rows
 */
export async function loadDataset(name: string, opts: LoadDatasetOptions = {}): Promise<LoadedDataset> {
  const onIssue = opts.onIssue ?? defaultIssueReporter();
  let file: string;
  let rows: DatasetRow[];
  let result;
  if (isDatasetFile(name)) {
    // A user's own file with the local copies' fields (id, problem, answer, extra fields kept).
    file = name;
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) throw new Error(`dataset file ${resolve(file)} does not exist`);
    if (!st.isFile())
      throw new Error(
        `dataset file ${resolve(file)} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, not a .jsonl / .parquet file`,
      );
    // Rows with problem / answer fields; else verl's layout (prompt messages, reward_model.ground_truth).
    const format = name.endsWith('.parquet') ? 'parquet' : 'jsonl';
    // A file with no usable row in that layout throws; the error of the own layout is the one shown.
    const own = await readDataFile(file, format, IDENTITY_MAPPING, name).catch((e: Error) => e);
    if (own instanceof Error || own.rows.length === 0) {
      const verl = await readDataFile(file, format, VERL_MAPPING, name).catch(() => undefined);
      if (verl && verl.rows.length > 0) result = verl;
      else if (own instanceof Error) throw own;
      else result = own;
    } else result = own;
    for (const issue of result.issues) onIssue(issue);
    return finishRows(name, 'train', file, result.rows, result, opts);
  }
  const entry: DatasetEntry = getDatasetEntry(name);
  const dataDir = opts.remote ? undefined : (opts.dataDir ?? (process.env.GTR_DATA_DIR || undefined));
  if (dataDir !== undefined) {
    file = join(dataDir, entry.local.file);
    result = await readDataFile(
      file,
      entry.local.file.endsWith('.parquet') ? 'parquet' : 'jsonl',
      localMapping(entry),
      name,
      onIssue,
    ).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT')
        throw new Error(
          `dataset "${name}": ${file} does not exist (data dir ${dataDir}` +
            `${opts.dataDir === undefined ? ', from GTR_DATA_DIR' : ''}); write it with \`gtr data fetch ${name} --data-dir ${dataDir}\``,
        );
      throw e;
    });
    rows = result.rows;
  } else {
    const src = entry.remote;
    file = await downloadSource(src, opts).catch((e: Error) => {
      throw new Error(
        `dataset "${name}": ${e.message}. Fetch it where the hub is reachable (\`gtr data fetch ${name}\`, ` +
          'into the cache), or point --data-dir / data.data_dir / GTR_DATA_DIR at local copies',
      );
    });
    result = await readDataFile(file, src.format, src.mapping, name, onIssue);
    rows = result.rows;
    if (src.dedupe === 'problem') {
      const indices = src.format === 'jsonl' ? result.positions.map((p) => p - 1) : result.positions;
      rows = dedupeByProblem(rows, indices);
    }
  }
  return finishRows(name, entry.role, file, rows, result, opts);
}

/** True when a dataset "name" is a path to a .jsonl / .parquet file rather than a registry name. */
export function isDatasetFile(name: string): boolean {
  return /\.(jsonl|parquet)$/.test(name);
}

function finishRows(
  name: string,
  role: 'train' | 'eval',
  file: string,
  rowsIn: DatasetRow[],
  result: { skipped: number; issues: RowIssue[] },
  opts: LoadDatasetOptions,
): LoadedDataset {
  let rows = rowsIn;
  let droppedConflicts = 0;
  if (opts.dropConflicts) {
    const kept = rows.filter((r) => r.extra.answer_conflict !== true);
    droppedConflicts = rows.length - kept.length;
    rows = kept;
  }
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 0)
      throw new Error(`dataset "${name}": limit must be a non-negative integer, got ${opts.limit}`);
    rows = rows.slice(0, opts.limit);
  }
  return { name, role, file, rows, skipped: result.skipped, droppedConflicts, issues: result.issues };
}
