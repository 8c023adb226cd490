// docs/ARCHITECTURE.md stays true to the tree: every folder of src/ and native/ (at any depth) has
// its row in the page's tables, and every folder a row names exists.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/paths.js';

function folders(rel: string): string[] {
  const out = [`${rel}/`];
  for (const e of readdirSync(join(repoRoot, rel), { withFileTypes: true })) {
    if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.'))
      out.push(...folders(`${rel}/${e.name}`));
  }
  return out;
}

describe('docs/ARCHITECTURE.md', () => {
  const page = readFileSync(join(repoRoot, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const rows = page
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split('`')[1]!);

  it('has a row for every folder of src/ and native/', () => {
    const missing = [...folders('src'), ...folders('native')].filter(
      (f) => f !== 'src/' && f !== 'native/' && !rows.includes(f),
    );
    expect(missing, 'add a row to docs/ARCHITECTURE.md for each').toEqual([]);
  });

  it('names only folders and files that exist', () => {
    const gone = rows.filter((r) => {
      try {
        statSync(join(repoRoot, r));
        return false;
      } catch {
        return true;
      }
    });
    expect(gone).toEqual([]);
  });
});
