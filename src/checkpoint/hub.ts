/**
 * Models named by their Hugging Face hub id (`owner/name[@revision]`), resolved into the standard HF
 * cache shared with Python's huggingface_hub: `$HF_HUB_CACHE` (else `$HF_HOME/hub`, else
 * `~/.cache/huggingface/hub`) / `models--owner--name` / {blobs/<etag>, refs/<revision>,
 * snapshots/<commit>/<file> -> ../../blobs/<etag>}. A model downloaded by either is found by both.
 *
 * The hub's API is called through @huggingface/hub (modelInfo for the commit of a revision, listFiles
 * for the tree); each file's bytes are fetched here so that a transfer is verified and resumable:
 * bytes land in `blobs/<etag>.incomplete` (as huggingface_hub names them), a later call resumes
 * with a Range request, and only a file of the listed size (and, for LFS files, the listed sha256)
 * is renamed into place. An interrupted or corrupt file is never linked into a snapshot.
 *
 * Environment, as in huggingface_hub: HF_ENDPOINT (hub URL), HF_TOKEN (else the token file at
 * $HF_TOKEN_PATH or $HF_HOME/token), HF_HUB_OFFLINE=1 (no request: the cached snapshot of the
 * revision, or an error saying it is not cached).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HubApiError, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';

/** A parsed hub model id. */
export interface HubModelId {
  /** `owner/name`. */
  repo: string;
  /** Branch, tag or commit (default `main`). */
  revision: string;
}

/**
 * Parses `owner/name` or `owner/name@revision`; undefined for anything else (a local path).
 * Names follow the hub's rules (letters, digits, `-`, `_`, `.`; no leading `.`, no `..`).
 */
export function parseHubId(s: string): HubModelId | undefined {
  const m = /^([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*)(?:@([\w./-]+))?$/.exec(s);
  if (!m || s.includes('..')) return undefined;
  return { repo: m[1]!, revision: m[2] ?? 'main' };
}

/** The hub cache root, as huggingface_hub computes it (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME). */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  return join(hfHome(env), 'hub');
}

function hfHome(env: NodeJS.ProcessEnv): string {
  return env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
}

/** The access token: HF_TOKEN, else the file at HF_TOKEN_PATH or $HF_HOME/token, else none. */
export function hubToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.HF_TOKEN) return env.HF_TOKEN.trim();
  const file = env.HF_TOKEN_PATH ?? join(hfHome(env), 'token');
  try {
    const t = readFileSync(file, 'utf8').trim();
    return t.length > 0 ? t : undefined;
  } catch {
    return undefined;
  }
}

/** HF_HUB_OFFLINE set to 1 / true / yes / on (huggingface_hub's truthy values). */
export function hubOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((env.HF_HUB_OFFLINE ?? '').toUpperCase());
}

/** `models--owner--name` under the cache. */
function storageFolder(cache: string, repo: string): string {
  return join(cache, ['models', ...repo.split('/')].join('--'));
}

/**
 * The cached snapshot directory of a revision (a commit, or a ref recorded under refs/), or
 * undefined when the cache does not hold it.
 */
export function cachedSnapshot(id: HubModelId, cache: string = hubCacheDir()): string | undefined {
  const storage = storageFolder(cache, id.repo);
  let commit = id.revision;
  if (!/^[0-9a-f]{40}$/.test(commit)) {
    try {
      commit = readFileSync(join(storage, 'refs', id.revision), 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  const dir = join(storage, 'snapshots', commit);
  return existsSync(dir) ? dir : undefined;
}

/** Options of {@link downloadModel}. */
export interface HubDownloadOptions {
  /** Cache root (default {@link hubCacheDir}). */
  cacheDir?: string;
  /** Hub URL (default $HF_ENDPOINT, else https://huggingface.co). */
  hubUrl?: string;
  /** Token (default {@link hubToken}). */
  accessToken?: string;
  /** No network: the cached snapshot or an error (default {@link hubOffline}). */
  offline?: boolean;
  /** fetch implementation (default: global fetch). */
  fetch?: typeof fetch;
  /** Called once per file actually transferred: (path, bytes). */
  onFile?: (path: string, bytes: number) => void;
}

/**
 * Downloads (or finds in the cache) every file of a hub model at a revision and returns the
 * snapshot directory, the one huggingface_hub's `snapshot_download` returns for the same id.
 * @param what the flag or key the id came from (`model.path`, `--model`), named in errors
 * @throws Error naming the id and revision for: offline and not cached; a gated or private repo
 *   (401 / 403: set HF_TOKEN); an unknown repo or revision (404); a file the hub cannot serve; an
 *   interrupted transfer (kept as `.incomplete`, resumed by the next call); a size or sha256 mismatch.
 */
export async function downloadModel(id: HubModelId, what: string, opts: HubDownloadOptions = {}): Promise<string> {
  const cache = opts.cacheDir ?? hubCacheDir();
  const label = `${what}: ${id.repo}@${id.revision}`;
  const offline = opts.offline ?? hubOffline();
  if (offline) {
    const dir = cachedSnapshot(id, cache);
    if (dir) return dir;
    throw new Error(
      `${label} is not in the hub cache ${cache} and HF_HUB_OFFLINE is set, so nothing is downloaded; ` +
        `run \`gtr download ${id.repo}${id.revision === 'main' ? '' : `@${id.revision}`}\` without HF_HUB_OFFLINE (or unset it)`,
    );
  }
  const hubUrl = (opts.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const accessToken = opts.accessToken ?? hubToken();
  // API calls (not file transfers) give up after 30 s, so an unreachable hub fails rather than hangs.
  const baseFetch = opts.fetch ?? fetch;
  const apiFetch: typeof fetch = (input, init) =>
    baseFetch(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(30_000) });
  const creds = { hubUrl, fetch: apiFetch, ...(accessToken ? { accessToken } : {}) };
  const storage = storageFolder(cache, id.repo);

  let commit: string;
  try {
    const info = await modelInfo({ name: id.repo, revision: id.revision, additionalFields: ['sha'], ...creds });
    commit = String(info.sha);
  } catch (e) {
    // No network at all: use the cached snapshot if there is one, as huggingface_hub does.
    const dir = !(e instanceof HubApiError) ? cachedSnapshot(id, cache) : undefined;
    if (dir) {
      console.warn(`${label}: the hub is unreachable (${(e as Error).message}); using the cached snapshot ${dir}`);
      return dir;
    }
    throw hubError(e, label, hubUrl, accessToken);
  }
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`${label}: the hub answered no commit for the revision`);
  if (id.revision !== commit) {
    await mkdir(join(storage, 'refs', ...dirname(id.revision).split('/')), { recursive: true });
    await writeFile(join(storage, 'refs', id.revision), commit);
  }
  const snapshot = join(storage, 'snapshots', commit);
  await mkdir(snapshot, { recursive: true });
  try {
    for await (const entry of listFiles({
      repo: { type: 'model', name: id.repo },
      revision: commit,
      recursive: true,
      ...creds,
    })) {
      if (entry.type === 'directory') continue;
      await fetchFile(entry, {
        repo: id.repo,
        commit,
        storage,
        snapshot,
        hubUrl,
        accessToken,
        fetch: opts.fetch,
        label,
        onFile: opts.onFile,
      });
    }
  } catch (e) {
    throw hubError(e, label, hubUrl, accessToken);
  }
  return snapshot;
}

interface FetchContext {
  repo: string;
  commit: string;
  storage: string;
  snapshot: string;
  hubUrl: string;
  accessToken: string | undefined;
  fetch: typeof fetch | undefined;
  label: string;
  onFile?: (path: string, bytes: number) => void;
}

/** A file of the tree into blobs/ (verified, resumable) and its snapshot link. */
async function fetchFile(entry: ListFileEntry, c: FetchContext): Promise<void> {
  if (entry.path.split('/').some((p) => p === '..' || p === '' || p === '.'))
    throw new Error(`${c.label}: the hub listed an unsafe file name "${entry.path}"`);
  const size = entry.lfs?.size ?? entry.size;
  const sha256 = entry.lfs?.oid;
  const etag = sha256 ?? entry.oid;
  if (!etag || !/^[0-9a-f]{40,64}$/.test(etag))
    throw new Error(`${c.label}: the hub listed ${entry.path} without a valid object id`);
  const pointer = join(c.snapshot, ...entry.path.split('/'));
  const blob = join(c.storage, 'blobs', etag);
  if (existsSync(pointer) && statSync(pointer).size === size) return;
  await mkdir(dirname(blob), { recursive: true });
  await mkdir(dirname(pointer), { recursive: true });
  if (!(existsSync(blob) && statSync(blob).size === size)) {
    await transfer(entry.path, blob, size, sha256, c);
  }
  await rm(pointer, { force: true });
  await symlink(relative(dirname(pointer), blob), pointer);
}

async function transfer(
  path: string,
  blob: string,
  size: number,
  sha256: string | undefined,
  c: FetchContext,
): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  let have = existsSync(incomplete) ? statSync(incomplete).size : 0;
  if (have > size) {
    await unlink(incomplete);
    have = 0;
  }
  const url = `${c.hubUrl}/${c.repo}/resolve/${c.commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
  const headers: Record<string, string> = {};
  if (c.accessToken) headers.Authorization = `Bearer ${c.accessToken}`;
  if (have > 0) headers.Range = `bytes=${have}-`;
  const resp = await (c.fetch ?? fetch)(url, { headers });
  if (resp.status === 401 || resp.status === 403) {
    throw new HubApiError(url, resp.status, undefined, `${path}: HTTP ${resp.status}`);
  }
  if (resp.status === 404) {
    throw new Error(`${c.label}: ${path} is listed in the repo, but the hub has no file for it (HTTP 404 from ${url})`);
  }
  if (resp.status === 416 && have === size) {
    // Everything was already there: verified below.
  } else if (!resp.ok || !resp.body) {
    throw new Error(`${c.label}: ${path}: HTTP ${resp.status} from ${url}`);
  } else {
    const append = resp.status === 206 && have > 0;
    if (!append) have = 0;
    // Chunks are written as they arrive (not through a buffering stream), so whatever arrived
    // before an interruption is on disk for the next call to resume from.
    const fh = await open(incomplete, append ? 'a' : 'w');
    try {
      for await (const chunk of resp.body as unknown as AsyncIterable<Uint8Array>) await fh.write(chunk);
    } catch (e) {
      await fh.close();
      const got = existsSync(incomplete) ? statSync(incomplete).size : 0;
      throw new Error(
        `${c.label}: the transfer of ${path} was interrupted after ${got} of ${size} bytes (${(e as Error).message}); ` +
          `the partial file ${incomplete} is never used, and the next run resumes it`,
      );
    }
    await fh.close();
  }
  const got = statSync(incomplete).size;
  if (got !== size) {
    if (got > size) await unlink(incomplete);
    throw new Error(
      `${c.label}: ${path}: received ${got} of ${size} bytes; the partial file ${incomplete} is never used` +
        (got < size ? ', and the next run resumes it' : ' (deleted)'),
    );
  }
  if (sha256) {
    const h = createHash('sha256');
    await pipeline(createReadStream(incomplete), h);
    const digest = h.digest('hex');
    if (digest !== sha256) {
      await unlink(incomplete);
      throw new Error(
        `${c.label}: ${path}: sha256 ${digest} differs from the hub's ${sha256}; the download was deleted`,
      );
    }
  }
  await rename(incomplete, blob);
  c.onFile?.(path, size);
}

/** A hub failure in the user's words: gated / private (401, 403), not found (404), or as is. */
function hubError(e: unknown, label: string, hubUrl: string, token: string | undefined): Error {
  if (e instanceof HubApiError) {
    if (e.statusCode === 401 || e.statusCode === 403) {
      return new Error(
        `${label}: the hub refused access (HTTP ${e.statusCode}): the repo is gated or private. ` +
          (token
            ? 'The token in HF_TOKEN has no access to it: accept its terms on the model page, or use a token that can read it'
            : 'Set HF_TOKEN to a token that can read it (https://huggingface.co/settings/tokens), after accepting its terms on the model page'),
      );
    }
    if (e.statusCode === 404) {
      return new Error(
        `${label}: not found on ${hubUrl} (HTTP 404: ${e.message}): check the id and revision (branch, tag or commit)`,
      );
    }
    return new Error(`${label}: the hub answered HTTP ${e.statusCode}: ${e.message}`);
  }
  const msg = (e as Error).message;
  return new Error(msg.startsWith(label) ? msg : `${label}: ${msg}`);
}

/**
 * A model argument as a local directory: an existing path is returned as is; a hub id
 * (`owner/name[@revision]`) that is not a local path is resolved through the hub cache
 * ({@link downloadModel}); anything else is returned as is for checkModelDir to report.
 * @param what the flag or key (`--model`, `model.path`), named in errors
 */
export async function resolveModelPath(p: string, what: string, opts: HubDownloadOptions = {}): Promise<string> {
  if (existsSync(p)) return p;
  const id = parseHubId(p);
  if (!id) return p;
  try {
    return await downloadModel(id, what, opts);
  } catch (e) {
    // Say both readings, as a mistyped local path reads as a hub id too.
    const msg = (e as Error).message;
    throw new Error(
      `${what}: model directory not found: ${resolve(p)}; as a hub id: ${msg.startsWith(`${what}: `) ? msg.slice(what.length + 2) : msg}`,
    );
  }
}

/**
 * Resolves a recipe's `model.path` and `model.tokenizer` in place when they are hub ids (see
 * {@link resolveModelPath}), so the run reads (and records in resolved.yaml) the snapshot directory.
 */
export async function resolveRecipeModel(recipe: {
  model: { path: string; tokenizer?: string | null };
}): Promise<void> {
  recipe.model.path = await resolveModelPath(recipe.model.path, 'model.path');
  if (recipe.model.tokenizer)
    recipe.model.tokenizer = await resolveModelPath(recipe.model.tokenizer, 'model.tokenizer');
}
