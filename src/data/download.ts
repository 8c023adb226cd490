/**
 * Downloads of remote dataset files into a local cache.
 *
 * - `hf` sources go through @huggingface/hub `downloadFile`, which requests
 *   `GET {hubUrl}/datasets/{repo}/resolve/{revision}/{path}` (first with `Range: bytes=0-0` to
 *   learn size and ETag, then the whole file).
 * - `url` sources are a plain `fetch` of a commit-pinned URL.
 *
 * Cache layout: `{cacheDir}/hf/{repo}/{revision}/{path}` and `{cacheDir}/url/{sha256(url)[:16]}/{basename}`.
 * A cached file is reused as-is; files are written atomically and durably (src/checkpoint/save.ts),
 * so an interrupted download or a crash never leaves a truncated cache entry.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { downloadFile } from '@huggingface/hub';
import type { HfSource, RemoteSource, UrlSource } from './manifest.js';
import { writeFileAtomic } from '../checkpoint/save.js';

/** Options of the downloaders. */
export interface DownloadOptions {
  /** Cache root (default {@link defaultCacheDir}). */
  cacheDir?: string;
  /** Hub endpoint for `hf` sources (default https://huggingface.co). */
  hubUrl?: string;
  /** Access token for gated/private hub repos (never read from the environment here). */
  accessToken?: string;
  /** fetch implementation (default: global fetch); used by both source kinds. */
  fetch?: typeof fetch;
  /** Download again even if the file is cached. */
  force?: boolean;
}

/** `$GTR_CACHE_DIR/datasets` if set, else `~/.cache/gtr-rl/datasets`. */
export function defaultCacheDir(): string {
  const root = process.env.GTR_CACHE_DIR ?? join(homedir(), '.cache', 'gtr-rl');
  return join(root, 'datasets');
}

/** Where a source's file is (or will be) cached. */
export function cachePath(source: RemoteSource, cacheDir: string = defaultCacheDir()): string {
  if (source.kind === 'hf')
    return join(cacheDir, 'hf', ...source.repo.split('/'), source.revision, ...source.path.split('/'));
  const key = createHash('sha256').update(source.url).digest('hex').slice(0, 16);
  return join(cacheDir, 'url', key, basename(new URL(source.url).pathname) || 'data');
}

async function writeAtomic(dest: string, data: Uint8Array): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  await writeFileAtomic(dest, data);
}

/**
 * Downloads a Hugging Face dataset file into the cache.
 * @returns the cached file's path
 * @throws naming repo, revision and path when the hub has no such file or the request fails
 */
export async function downloadHfFile(source: HfSource, opts: DownloadOptions = {}): Promise<string> {
  const dest = cachePath(source, opts.cacheDir);
  if (!opts.force && existsSync(dest)) return dest;
  const where = `${opts.hubUrl ?? 'https://huggingface.co'}/datasets/${source.repo}/resolve/${source.revision}/${source.path}`;
  let blob: Blob | null;
  try {
    blob = await downloadFile({
      repo: { type: 'dataset', name: source.repo },
      path: source.path,
      revision: source.revision,
      hubUrl: opts.hubUrl,
      fetch: opts.fetch,
      ...(opts.accessToken ? { accessToken: opts.accessToken } : {}),
    });
    if (blob) await writeAtomic(dest, new Uint8Array(await blob.arrayBuffer()));
  } catch (e) {
    throw new Error(`download of ${where} failed: ${(e as Error).message}`);
  }
  if (!blob) throw new Error(`download of ${where} failed: the hub has no such file`);
  return dest;
}

/**
 * Downloads a plain-URL source into the cache.
 * @returns the cached file's path
 * @throws naming the URL and HTTP status on failure
 */
export async function downloadUrlFile(source: UrlSource, opts: DownloadOptions = {}): Promise<string> {
  const dest = cachePath(source, opts.cacheDir);
  if (!opts.force && existsSync(dest)) return dest;
  let resp: Response;
  try {
    resp = await (opts.fetch ?? fetch)(source.url);
  } catch (e) {
    throw new Error(`download of ${source.url} failed: ${(e as Error).message}`);
  }
  if (!resp.ok) throw new Error(`download of ${source.url} failed: HTTP ${resp.status} ${resp.statusText}`);
  await writeAtomic(dest, new Uint8Array(await resp.arrayBuffer()));
  return dest;
}

/** Downloads any remote source (dispatch on `kind`) and returns the cached path. */
export function downloadSource(source: RemoteSource, opts: DownloadOptions = {}): Promise<string> {
  return source.kind === 'hf' ? downloadHfFile(source, opts) : downloadUrlFile(source, opts);
}
