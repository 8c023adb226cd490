/**
 * JSONL reader: one JSON object per line, mapped to {@link DatasetRow}. Bad lines (invalid JSON,
 * not an object, missing/empty problem or answer) are reported as `file:line: reason`, skipped and
 * counted; blank lines are ignored. A file with no usable row is an error naming the file.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { mapRecord, type FieldMapping, IDENTITY_MAPPING } from './mapping.js';
import type { DatasetRow, ReadResult, RowIssue } from './types.js';

/** Options shared by the readers. */
export interface ReadOptions {
  /** How records map to rows (default: the identity mapping of the local copies). */
  mapping?: FieldMapping;
  /** Prefix of the fallback id `${prefix}-${index}` for records without one (default: file name). */
  idPrefix?: string;
  /** Called once per skipped row, as it is found (default: none; issues are returned either way). */
  onIssue?: (issue: RowIssue) => void;
}

/** Throws when nothing usable was read. */
export function assertUsable(file: string, result: ReadResult): ReadResult {
  if (result.rows.length === 0) {
    const first = result.issues[0] ? ` (first problem: ${result.issues[0].message})` : '';
    throw new Error(`${file}: no usable rows (${result.skipped} bad row(s) skipped)${first}`);
  }
  return result;
}

/**
 * Reads a JSONL dataset file line by line.
 * @param file path of the .jsonl file (UTF-8)
 * @returns the usable rows in file order, and the skipped ones with their 1-based line numbers
 * @throws when the file cannot be read or has no usable row
 */
export async function readJsonl(file: string, opts: ReadOptions = {}): Promise<ReadResult> {
  const mapping = opts.mapping ?? IDENTITY_MAPPING;
  const idPrefix = opts.idPrefix ?? file;
  const rows: DatasetRow[] = [];
  const positions: number[] = [];
  const issues: RowIssue[] = [];
  const skip = (line: number, reason: string) => {
    const issue: RowIssue = { file, position: line, unit: 'line', reason, message: `${file}:${line}: ${reason}` };
    issues.push(issue);
    opts.onIssue?.(issue);
  };
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0;
  let index = 0; // 0-based index among non-blank lines, for `$index` and fallback ids
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      skip(lineNo, `invalid JSON (${(e as Error).message})`);
      index++;
      continue;
    }
    const res = mapRecord(raw, mapping, index++, idPrefix);
    if (res.ok) {
      rows.push(res.row);
      positions.push(lineNo);
    } else skip(lineNo, res.reason);
  }
  return assertUsable(file, { rows, positions, skipped: issues.length, issues });
}
