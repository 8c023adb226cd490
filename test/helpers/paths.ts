/** Paths shared by tests: the repo root, fixtures, the data dir, the built CLI. */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

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
