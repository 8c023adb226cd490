// docs/FILES.md (written by scripts/file-tree.py) lists exactly the tracked files, each with its
// current header line, so it cannot go stale. On failure run `python3 scripts/file-tree.py`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/paths.js';

const STALE = 'docs/FILES.md is stale: run `python3 scripts/file-tree.py` and commit it';
const inGit = existsSync(join(repoRoot, '.git'));
const listed = (page: string) =>
  page
    .split('\n')
    .filter((l) => l.startsWith('- `'))
    .map((l) => l.split('`')[1]);

describe.skipIf(!inGit)('docs/FILES.md', () => {
  const page = readFileSync(join(repoRoot, 'docs', 'FILES.md'), 'utf8');

  it('lists every file git tracks, and nothing else', () => {
    const tracked = execFileSync('git', ['ls-files'], { cwd: repoRoot, encoding: 'utf8' }).split('\n').filter(Boolean);
    // Fixtures are summarised by one folder entry; the lockfile is not worth a line.
    const expected = tracked.filter((f) => !f.startsWith('test/fixtures/') && f !== 'package-lock.json');
    if (tracked.some((f) => f.startsWith('test/fixtures/'))) expected.push('test/fixtures/');
    const have = listed(page);
    const missing = expected.filter((f) => !have.includes(f));
    const extra = have.filter((f) => !expected.includes(f));
    expect({ missing, extra }, STALE).toEqual({ missing: [], extra: [] });
  });

  it('matches what scripts/file-tree.py writes today (header lines included)', () => {
    const fresh = execFileSync('python3', [join('scripts', 'file-tree.py'), '--stdout'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(page, STALE).toBe(fresh);
  });
});
