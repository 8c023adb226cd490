/**
 * JSONL reader: one JSON object per line, mapped to {@link DatasetRow}. Bad lines (invalid JSON,
 * not an object, missing/empty problem or answer) are reported as `file:line: reason`, skipped and
 * counted; blank lines are ignored. A file with no usable row is an error naming the file.
 */
import { readFile } from 'node:fs/promises';
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

/**
 * The JSON value of every non-blank line of a JSONL text, with its 1-based line number: the one
 * line parser of the JSONL files the CLI and the report read whole (prompts, grade rows, metrics).
 * @throws Error `<file>:<line>: invalid JSON (<cause>)` at the first line that does not parse.
 */
export function parseJsonLines(text: string, file: string): { line: number; value: unknown }[] {
  const out: { line: number; value: unknown }[] = [];
  text.split('\n').forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      out.push({ line: i + 1, value: JSON.parse(l) });
    } catch (e) {
      throw new Error(`${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
  });
  return out;
}

/** Throws when nothing usable was read. */
export function assertUsable(file: string, result: ReadResult): ReadResult {
  if (result.rows.length === 0) {
    const first = result.issues[0] ? ` (first problem: ${result.issues[0].message})` : '';
    throw new Error(`${file}: no usable rows (${result.skipped} bad row(s) skipped)${first}`);
  }
  return result;
}

/** Binary formats a data file is mistaken for JSON lines in, by their leading magic bytes. */
const MAGIC: { bytes: number[]; what: string }[] = [
  { bytes: [0x50, 0x41, 0x52, 0x31], what: 'a Parquet file (it starts with PAR1): name it .parquet' },
  { bytes: [0x1f, 0x8b], what: 'gzip-compressed (gunzip it first)' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], what: 'zstd-compressed (unzstd it first)' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: 'a zip archive (unzip it first)' },
  { bytes: [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31], what: 'an Arrow file (convert it to .parquet or .jsonl)' },
];

/** What binary format `bytes` are in (with the fix), or undefined. */
function binaryFormat(bytes: Uint8Array): string | undefined {
  return MAGIC.find((m) => m.bytes.length <= bytes.length && m.bytes.every((b, i) => bytes[i] === b))?.what;
}

/**
 * Decodes a file's bytes as UTF-8, strictly: a byte sequence that is not UTF-8 (a Latin-1 export,
 * a binary file) is an error naming the file and its first bad line, not U+FFFD replacements in
 * problems and gold answers. A leading BOM is dropped.
 * @throws Error `<file>:<line>: not valid UTF-8 (byte 0xNN at byte N of the line); ...`, or
 *   `<file>: a Parquet file (it starts with PAR1): name it .parquet, not JSON lines` (gzip, zstd,
 *   zip and Arrow alike) for a binary format under the wrong name.
 */
export function decodeUtf8Strict(bytes: Uint8Array, file: string): string {
  const binary = binaryFormat(bytes);
  if (binary) throw new Error(`${file}: ${binary}, not JSON lines`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(start, i));
      } catch {
        const seg = bytes.subarray(start, i);
        const col = firstBadByte(seg);
        const byte = seg[col] ?? 0;
        throw new Error(
          `${file}:${line}: not valid UTF-8 (byte 0x${byte.toString(16).padStart(2, '0')} at byte ${col + 1} of the line); re-encode the file as UTF-8`,
        );
      }
      line++;
      start = i + 1;
    }
    throw new Error(`${file}: not valid UTF-8; re-encode the file as UTF-8`);
  }
}

/**
 * Index of the first byte of the first invalid UTF-8 sequence in `seg` (which holds one): fed byte
 * by byte to a streaming fatal decoder, the failure shows at the byte that breaks the sequence; an
 * unfinished multi-byte sequence before it is where the bad sequence started.
 */
function firstBadByte(seg: Uint8Array): number {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let e = 0;
  for (; e < seg.length; e++) {
    try {
      dec.decode(seg.subarray(e, e + 1), { stream: true });
    } catch {
      break;
    }
  }
  let j = e - 1;
  while (j >= 0 && (seg[j]! & 0xc0) === 0x80) j--;
  if (j < 0 || seg[j]! < 0xc0) return e;
  const len = seg[j]! >= 0xf0 ? 4 : seg[j]! >= 0xe0 ? 3 : 2;
  return j + len > e ? j : e;
}

/**
 * Reads a JSONL dataset file line by line.
 * @param file path of the .jsonl file (UTF-8)
 * @returns the usable rows in file order, and the skipped ones with their 1-based line numbers
 * @throws when the file cannot be read, is not UTF-8 (naming the line), or has no usable row
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
  const text = decodeUtf8Strict(await readFile(file), file);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let lineNo = 0;
  let index = 0; // 0-based index among non-blank lines, for `$index` and fallback ids
  for (const raw0 of lines) {
    const line = raw0.endsWith('\r') ? raw0.slice(0, -1) : raw0;
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
