/**
 * `gtr data fetch`: download registered datasets from their remote sources (the Hugging Face hub or
 * a commit-pinned URL, see datasets/manifest.json) into the cache, and optionally write the
 * normalised JSONL copies (`{id, problem, answer, ...source fields}`, one row a line) into a data dir
 * that `--data-dir` / `data.data_dir` / `GTR_DATA_DIR` then read without any network.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../checkpoint/save.js';
import { cachePath, defaultCacheDir, type DownloadOptions } from './download.js';
import { datasetNames, getDatasetEntry } from './manifest.js';
import { loadDataset } from './load.js';
import type { DatasetRow, RowIssue } from './types.js';

/** Options of {@link fetchDatasets}. */
export interface FetchOptions extends DownloadOptions {
  /** Where to write the normalised JSONL copies (none written when unset). */
  dataDir?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Skipped source rows (default: ignored; they are counted in the result). */
  onIssue?: (issue: RowIssue) => void;
}

/** What {@link fetchDatasets} did for one dataset. */
export interface FetchResult {
  name: string;
  /** The downloaded source file in the cache. */
  cacheFile: string;
  /** Usable rows after mapping (and dedupe, for DAPO). */
  rows: number;
  /** Source rows skipped as unusable. */
  skipped: number;
  /** The JSONL copy written, when a data dir was given. */
  written?: string;
}

/** One normalised row as the local copies store it: id, problem, answer, then the source's fields. */
export function rowToJson(r: DatasetRow): string {
  return JSON.stringify({ id: r.id, problem: r.problem, answer: r.answer, ...r.extra });
}

/**
 * Downloads each named dataset (all registered ones when `names` is empty) into the cache
 * (`opts.cacheDir`, default `$GTR_CACHE_DIR/datasets` or `~/.cache/gtr-rl/datasets`), and with
 * `opts.dataDir` writes `{dataDir}/{local file}` atomically.
 * @throws on an unknown name (listing the valid ones) before anything is downloaded; on a failed
 *   download, naming the URL
 */
export async function fetchDatasets(names: string[], opts: FetchOptions = {}): Promise<FetchResult[]> {
  const list = names.length > 0 ? names : datasetNames();
  const entries = list.map((n) => getDatasetEntry(n)); // unknown names fail before any download
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });
  const out: FetchResult[] = [];
  for (const entry of entries) {
    const d = await loadDataset(entry.name, { ...opts, cacheDir, remote: true, onIssue: opts.onIssue ?? (() => {}) });
    const res: FetchResult = {
      name: entry.name,
      cacheFile: cachePath(entry.remote, cacheDir),
      rows: d.rows.length,
      skipped: d.skipped,
    };
    if (opts.dataDir) {
      res.written = join(opts.dataDir, entry.local.file);
      await writeFileAtomic(res.written, d.rows.map((r) => rowToJson(r) + '\n').join(''));
    }
    opts.log?.(
      `${entry.name}: ${res.rows} rows${res.skipped ? ` (${res.skipped} skipped)` : ''} <- ${res.cacheFile}` +
        (res.written ? ` -> ${res.written}` : ''),
    );
    out.push(res);
  }
  return out;
}
