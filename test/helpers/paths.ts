/** Paths shared by tests: the repo root, fixtures, the data dir, the built CLI. */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixturesDir = join(repoRoot, 'test', 'fixtures');
export const parityDir = (name: 'tied' | 'untied') => join(fixturesDir, 'parity', name);
export const dataDir = process.env.GTR_DATA_DIR ?? join(repoRoot, '..', 'shared', 'datasets');
export const cliPath = join(repoRoot, 'bin', 'gtr.js');
