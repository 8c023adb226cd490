// docs/ARCHITECTURE.md stays true to the tree: every folder of src/ and native/ (at any depth) has
// its row in the page's tables, every folder a row names exists, and native/'s includes run down
// its table (a folder includes only itself and the folders listed below it).
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

  it('native/ includes run down the table: a folder includes only itself and folders listed below it', () => {
    const order = rows.filter((r) => r.startsWith('native/') && r.endsWith('/')).map((r) => r.slice(7, -1));
    const up: string[] = [];
    for (const folder of order)
      for (const e of readdirSync(join(repoRoot, 'native', folder), { withFileTypes: true })) {
        if (!e.isFile() || !/\.(h|cpp|cu|cuh)$/.test(e.name)) continue;
        const text = readFileSync(join(repoRoot, 'native', folder, e.name), 'utf8');
        for (const m of text.matchAll(/^#include "(.+)\/[^/]+"/gm)) {
          const to = order.indexOf(m[1]!);
          if (to >= 0 && to < order.indexOf(folder)) up.push(`native/${folder}/${e.name} includes ${m[1]}/`);
        }
      }
    expect(order).toContain('cuda');
    expect(up, 'an include up the table (docs/ARCHITECTURE.md)').toEqual([]);
  });
});
