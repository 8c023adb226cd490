/**
 * Atomic writes: single files (results, reports, state) and checkpoint directories, each written
 * to a temporary sibling, fsynced, renamed into place, then its directory fsynced; and the HF shard
 * layout (model-0000K-of-0000N.safetensors + model.safetensors.index.json).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SafetensorsDType } from '../native/types.js';
import { buildSafetensorsHeader, tensorBytes, type HeaderTensor } from './safetensors.js';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint.js';

/** HF's default max shard size: "5GB" = 5 x 10^9 bytes. */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

async function fsyncPath(path: string, isDir: boolean): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if (isDir) return; // some platforms cannot open directories
    throw e;
  }
  try {
    await fh.sync();
  } catch (e) {
    if (!isDir) throw e; // fsync on a directory is unsupported on some platforms
  } finally {
    await fh.close();
  }
}

/**
 * The temporary sibling a single-file atomic write uses for `path`: `path.tmp-<pid>-<hex>` (same
 * directory, so the rename stays on one file system; the random part keeps two writes of one
 * process apart). A killed writer's leftover matches RunDir's `.tmp-<pid>` clean-up pattern.
 */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

function fsyncPathSync(path: string, isDir: boolean): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (isDir) return; // some platforms cannot open directories
    throw e;
  }
  try {
    fsyncSync(fd);
  } catch (e) {
    if (!isDir) throw e; // fsync on a directory is unsupported on some platforms
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes a complete temporary file the file at `path`: fsyncs `tmp`, renames it over `path`, then
 * fsyncs the directory, so after return the new content survives a crash and a reader sees the old
 * file or the new one, never half of one. For temporaries written by someone else (the native
 * addon's trainer state); {@link writeFileAtomic} is the usual entry. `tmp` must be in `path`'s
 * directory (see {@link tempPathFor}).
 * @throws the fsync's or rename's error; `tmp` is then removed and `path` is left as it was.
 */
export async function commitTempFile(tmp: string, path: string): Promise<void> {
  try {
    await fsyncPath(tmp, false);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncPath(dirname(path), true);
}

/** Synchronous {@link commitTempFile}. */
export function commitTempFileSync(tmp: string, path: string): void {
  try {
    fsyncPathSync(tmp, false);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncPathSync(dirname(path), true);
}

/**
 * Writes a file atomically through `writeTemp`, which must create the file at the temporary path
 * it is given (e.g. the native addon writing trainer state); then {@link commitTempFile}.
 * @throws whatever `writeTemp` or the commit throws; the temporary file is then removed and
 *   `path` is left as it was.
 */
export async function writeFileAtomicWith(path: string, writeTemp: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await writeTemp(tmp);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await commitTempFile(tmp, path);
}

/**
 * Writes `data` to `path` atomically and durably (temporary sibling, fsync, rename, directory
 * fsync): a reader sees the old file or the new one, never half of one, and a crash after return
 * keeps the new one. The one writer of result and state files: run reports, eval outputs, trainer
 * state, the resolved recipe, `latest`, benchmark results. The directory must exist.
 * @throws the write's, fsync's or rename's error (naming the path, as node:fs does); `path` is
 *   then left as it was.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomicWith(path, (tmp) => writeFile(tmp, data));
}

/** Synchronous {@link writeFileAtomic}. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  commitTempFileSync(tmp, path);
}

async function fsyncTree(dir: string): Promise<void> {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) await fsyncTree(p);
    else if (ent.isFile()) await fsyncPath(p, false);
  }
  await fsyncPath(dir, true);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes a checkpoint directory atomically: `writeFiles` fills a temporary sibling
 * (`dir.tmp-<pid>-<rand>`), every file in it is fsynced, then it is renamed to `dir`. An existing
 * `dir` is first renamed to a backup sibling (`dir.old-<pid>-<rand>`), removed after the new one is
 * in place (restored if that rename fails), so `dir` is never half-written: a crash between the two
 * renames leaves the old checkpoint whole at the `.old-` sibling and the new one at the `.tmp-` one.
 * @returns `dir`
 * @throws whatever `writeFiles`, the fsyncs or the renames throw; the temporary directory is then
 *   removed and an existing checkpoint at `dir` is left intact.
 */
export async function saveCheckpointAtomic(
  dir: string,
  writeFiles: (tmpDir: string) => Promise<void>,
): Promise<string> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tag = () => `${process.pid}-${randomBytes(6).toString('hex')}`;
  const tmp = `${dir}.tmp-${tag()}`;
  await mkdir(tmp);
  try {
    await writeFiles(tmp);
    await fsyncTree(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  let backup: string | undefined;
  try {
    if (await exists(dir)) {
      backup = `${dir}.old-${tag()}`;
      await rename(dir, backup);
    }
    try {
      await rename(tmp, dir);
    } catch (e) {
      if (backup) await rename(backup, dir);
      backup = undefined;
      throw e;
    }
    await fsyncPath(parent, true);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  if (backup) await rm(backup, { recursive: true, force: true });
  return dir;
}

/** One output file of a {@link ShardPlan}. */
export interface Shard {
  /** File name inside the checkpoint dir. */
  file: string;
  /** Tensors stored in it, in write order. */
  tensors: HeaderTensor[];
  /** The header prefix for exactly these tensors in this order (see buildSafetensorsHeader). */
  header: Uint8Array;
  /** Data bytes in this shard. */
  dataBytes: number;
}

/** How a checkpoint's tensors split into files. */
export interface ShardPlan {
  shards: Shard[];
  /** model.safetensors.index.json content when there is more than one shard. */
  index?: { metadata: { total_size: number }; weight_map: Record<string, string> };
  /** Sum of all tensors' bytes. */
  totalBytes: number;
}

/**
 * Splits `tensors` (kept in order) greedily into shards of at most `maxShardBytes` data bytes (a
 * tensor larger than that gets a shard of its own), as transformers' save_pretrained does. One shard
 * is named model.safetensors and has no index; N > 1 are model-0000K-of-0000N.safetensors with an
 * index (weight_map, metadata.total_size in bytes).
 * @param maxShardBytes bytes per shard (default 5 x 10^9)
 * @param metadata `__metadata__` of every shard (e.g. {format: 'pt'})
 * @throws Error when maxShardBytes is not a positive integer, or as buildSafetensorsHeader does.
 */
export function shardPlan(
  tensors: HeaderTensor[],
  maxShardBytes = DEFAULT_MAX_SHARD_BYTES,
  metadata?: Record<string, string>,
): ShardPlan {
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) {
    throw new Error(`shardPlan: maxShardBytes must be a positive integer, got ${maxShardBytes}`);
  }
  const groups: HeaderTensor[][] = [];
  let current: HeaderTensor[] = [];
  let size = 0;
  let totalBytes = 0;
  for (const t of tensors) {
    const b = tensorBytes(t);
    if (current.length > 0 && size + b > maxShardBytes) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(t);
    size += b;
    totalBytes += b;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  const n = groups.length;
  const pad = (k: number) => String(k).padStart(5, '0');
  const shards = groups.map((g, i) => {
    const built = buildSafetensorsHeader(g, metadata);
    const file = n === 1 ? SINGLE_FILE : `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    return { file, tensors: g, header: built.header, dataBytes: built.dataBytes };
  });
  if (n === 1) return { shards, totalBytes };
  const weight_map: Record<string, string> = {};
  for (const s of shards)
    for (const t of s.tensors)
      Object.defineProperty(weight_map, t.name, {
        value: s.file,
        enumerable: true,
        writable: true,
        configurable: true,
      });
  return { shards, index: { metadata: { total_size: totalBytes }, weight_map }, totalBytes };
}

/** Writes one safetensors file (`NativePolicy.writeSafetensors` fits). */
export type WriteSafetensors = (
  path: string,
  header: Uint8Array,
  names: string[],
  dtype: SafetensorsDType,
) => Promise<void>;

/**
 * Saves tensors as an HF checkpoint atomically: plans shards, calls `write` per shard file, writes
 * the index when sharded, then `extraFiles` (config.json, tokenizer files, ...) in the same
 * temporary dir, and renames it into place (see {@link saveCheckpointAtomic}).
 * @param tensors parameters in write order, all stored as `dtype`
 * @param options.maxShardBytes default 5 x 10^9; options.metadata default {format: 'pt'}
 *   (transformers requires a known format)
 * @throws Error as shardPlan does, or whatever the writers throw (the old checkpoint is kept).
 */
export async function saveSafetensorsCheckpoint(
  dir: string,
  tensors: { name: string; shape: number[] }[],
  dtype: SafetensorsDType,
  write: WriteSafetensors,
  options: {
    maxShardBytes?: number;
    metadata?: Record<string, string>;
    extraFiles?: (tmpDir: string) => Promise<void>;
  } = {},
): Promise<ShardPlan> {
  const plan = shardPlan(
    tensors.map((t) => ({ name: t.name, shape: t.shape, dtype })),
    options.maxShardBytes,
    options.metadata ?? { format: 'pt' },
  );
  await saveCheckpointAtomic(dir, async (tmp) => {
    for (const s of plan.shards)
      await write(
        join(tmp, s.file),
        s.header,
        s.tensors.map((t) => t.name),
        dtype,
      );
    if (plan.index) await writeFile(join(tmp, INDEX_FILE), `${JSON.stringify(plan.index, null, 2)}\n`);
    if (options.extraFiles) await options.extraFiles(tmp);
  });
  return plan;
}
