/**
 * Parquet reader (hyparquet): every row mapped to {@link DatasetRow} with the same checks as the
 * JSONL reader; a bad row is reported as `file: row N: reason` (N is the 0-based row index).
 * INT64 values (bigint in hyparquet) are turned into numbers when exact, else decimal strings, so
 * rows stay JSON/YAML serialisable.
 */
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { mapRecord, IDENTITY_MAPPING } from './mapping.js';
import { assertUsable, type ReadOptions } from './jsonl.js';
import type { DatasetRow, ReadResult, RowIssue } from './types.js';

/** Recursively replaces bigint values by numbers (when safe) or strings. */
export function normaliseBigInts(v: unknown): unknown {
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if (Array.isArray(v)) return v.map(normaliseBigInts);
  if (v !== null && typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = normaliseBigInts(x);
    return out;
  }
  return v;
}

/**
 * Reads a parquet dataset file.
 * @param file path of the .parquet file
 * @returns the usable rows in file order, and the skipped ones with their 0-based row indices
 * @throws when the file is not valid parquet or has no usable row
 */
export async function readParquet(file: string, opts: ReadOptions = {}): Promise<ReadResult> {
  const mapping = opts.mapping ?? IDENTITY_MAPPING;
  const idPrefix = opts.idPrefix ?? file;
  let records: Record<string, unknown>[];
  try {
    records = await parquetReadObjects({ file: await asyncBufferFromFile(file) });
  } catch (e) {
    throw new Error(`${file}: cannot read parquet: ${(e as Error).message}`);
  }
  const rows: DatasetRow[] = [];
  const positions: number[] = [];
  const issues: RowIssue[] = [];
  records.forEach((rec, i) => {
    const res = mapRecord(normaliseBigInts(rec), mapping, i, idPrefix);
    if (res.ok) {
      rows.push(res.row);
      positions.push(i);
      return;
    }
    const issue: RowIssue = {
      file,
      position: i,
      unit: 'row',
      reason: res.reason,
      message: `${file}: row ${i}: ${res.reason}`,
    };
    issues.push(issue);
    opts.onIssue?.(issue);
  });
  return assertUsable(file, { rows, positions, skipped: issues.length, issues });
}
