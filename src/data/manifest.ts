/**
 * The dataset registry, read from datasets/manifest.json (validated with zod): for each dataset
 * its role, local file name and remote source with its field mapping.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { FieldMappingSchema, IDENTITY_MAPPING, type FieldMapping } from './mapping.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Path of the shipped manifest (same relative location from src/data and dist/data). */
export const MANIFEST_PATH = join(here, '..', '..', 'datasets', 'manifest.json');

const HfSourceSchema = z.strictObject({
  kind: z.literal('hf'),
  repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'expected "owner/name"'),
  revision: z.string().min(1).default('main'),
  path: z.string().min(1),
  format: z.enum(['jsonl', 'parquet']),
  dedupe: z.literal('problem').optional(),
  mapping: FieldMappingSchema,
  $comment: z.string().optional(),
});

const UrlSourceSchema = z.strictObject({
  kind: z.literal('url'),
  url: z.url(),
  format: z.enum(['jsonl', 'parquet']),
  dedupe: z.literal('problem').optional(),
  mapping: FieldMappingSchema,
  $comment: z.string().optional(),
});

/** A remote source: a Hugging Face dataset file, or a plain URL pinned to a commit. */
export const RemoteSourceSchema = z.discriminatedUnion('kind', [HfSourceSchema, UrlSourceSchema]);
export type RemoteSource = z.infer<typeof RemoteSourceSchema>;
export type HfSource = z.infer<typeof HfSourceSchema>;
export type UrlSource = z.infer<typeof UrlSourceSchema>;

/** One registry entry. */
export const DatasetEntrySchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
  role: z.enum(['train', 'eval']),
  description: z.string(),
  local: z.strictObject({
    /** File name inside the data dir. */
    file: z.string().min(1),
    /** Expected number of usable rows (documentation and tests). */
    rows: z.number().int().positive(),
    /** sha256 of the local copy (as in the data dir's checksums.sha256). */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    /** Mapping of the local copy; default: identity (id/problem/answer, rest in extra). */
    mapping: FieldMappingSchema.optional(),
  }),
  remote: RemoteSourceSchema,
});
export type DatasetEntry = z.infer<typeof DatasetEntrySchema>;

const ManifestSchema = z.strictObject({
  $comment: z.string().optional(),
  version: z.literal(1),
  datasets: z.array(DatasetEntrySchema).min(1),
});
export type Manifest = z.infer<typeof ManifestSchema>;

let cached: Manifest | undefined;

/**
 * Parses and validates a manifest file.
 * @throws naming the file and the offending path when it is not valid
 */
export function readManifest(path: string = MANIFEST_PATH): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read dataset manifest: ${(e as Error).message}`);
  }
  const res = ManifestSchema.safeParse(json);
  if (!res.success) {
    const lines = res.error.issues.map((i) => `${path}: ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`invalid dataset manifest:\n${lines.join('\n')}`);
  }
  const seen = new Set<string>();
  for (const d of res.data.datasets) {
    if (seen.has(d.name)) throw new Error(`${path}: dataset "${d.name}" is listed twice`);
    seen.add(d.name);
  }
  return res.data;
}

/** The shipped manifest (read once). */
export function manifest(): Manifest {
  cached ??= readManifest();
  return cached;
}

/** Names of every registered dataset, optionally only those with the given role, in manifest order. */
export function datasetNames(role?: 'train' | 'eval'): string[] {
  return manifest()
    .datasets.filter((d) => role === undefined || d.role === role)
    .map((d) => d.name);
}

/** Looks up a dataset; throws an error listing the valid names when `name` is unknown. */
export function getDatasetEntry(name: string): DatasetEntry {
  const entry = manifest().datasets.find((d) => d.name === name);
  if (!entry) throw new Error(`unknown dataset "${name}"; valid datasets: ${datasetNames().join(', ')}`);
  return entry;
}

/** The mapping to apply to an entry's local copy. */
export function localMapping(entry: DatasetEntry): FieldMapping {
  return entry.local.mapping ?? IDENTITY_MAPPING;
}
