/** Paths shared by tests: the repo root, fixtures, the data dir, the built CLI. */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { parseJsonLines } from '../../src/data/jsonl.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixturesDir = join(repoRoot, 'test', 'fixtures');
export const parityDir = (name: 'tied' | 'untied') => join(fixturesDir, 'parity', name);
/**
 * Dataset copies the tests read: `GTR_DATA_DIR` when set (full copies, e.g. from `gtr data fetch`),
 * else the small excerpts shipped in test/fixtures/datasets (see its SOURCES.md), so that a clone
 * with nothing beside it passes.
 */
export const dataDir = process.env.GTR_DATA_DIR || join(fixturesDir, 'datasets');
/** True when `dataDir` holds the full copies rather than the shipped excerpts. */
export const fullData = Boolean(process.env.GTR_DATA_DIR);
export const cliPath = join(repoRoot, 'bin', 'gtr.js');

/** The rows of a JSONL file under test/fixtures (blank lines skipped; a bad line names file and line). */
export function readFixtureJsonl<T>(name: string): T[] {
  const file = join(fixturesDir, name);
  return parseJsonLines(readFileSync(file, 'utf8'), file).map((l) => l.value as T);
}
