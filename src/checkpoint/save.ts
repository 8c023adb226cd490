/**
 * Checkpoint writes: atomic directory replacement, and the HF shard layout
 * (model-0000K-of-0000N.safetensors + model.safetensors.index.json).
 */
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SafetensorsDType } from '../native/types.js';
import { buildSafetensorsHeader, tensorBytes, type HeaderTensor } from './safetensors.js';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint.js';

/**
 * Writes `text` to `path` atomically (a temporary file in the same directory, then a rename): a
 * reader sees the old file or the new one, never half of one. Used by the run's reports and the
 * benchmark results.
 */
export function writeFileAtomicSync(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

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
export async function saveCheckpointAtomic(dir: string, writeFiles: (tmpDir: string) => Promise<void>): Promise<string> {
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
  for (const s of shards) for (const t of s.tensors) Object.defineProperty(weight_map, t.name, { value: s.file, enumerable: true, writable: true, configurable: true });
  return { shards, index: { metadata: { total_size: totalBytes }, weight_map }, totalBytes };
}

/** Writes one safetensors file (`NativePolicy.writeSafetensors` fits). */
export type WriteSafetensors = (path: string, header: Uint8Array, names: string[], dtype: SafetensorsDType) => Promise<void>;

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
  options: { maxShardBytes?: number; metadata?: Record<string, string>; extraFiles?: (tmpDir: string) => Promise<void> } = {},
): Promise<ShardPlan> {
  const plan = shardPlan(
    tensors.map((t) => ({ name: t.name, shape: t.shape, dtype })),
    options.maxShardBytes,
    options.metadata ?? { format: 'pt' },
  );
  await saveCheckpointAtomic(dir, async (tmp) => {
    for (const s of plan.shards) await write(join(tmp, s.file), s.header, s.tensors.map((t) => t.name), dtype);
    if (plan.index) await writeFile(join(tmp, INDEX_FILE), `${JSON.stringify(plan.index, null, 2)}\n`);
    if (options.extraFiles) await options.extraFiles(tmp);
  });
  return plan;
}
