/** Writing the resolved recipe of a run (`{runDir}/resolved.yaml`), re-loadable with `loadRecipe`. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Recipe } from './schema.js';
import { writeFileAtomicSync } from '../checkpoint/save.js';

/**
 * Writes `recipe` to `{runDir}/resolved.yaml` (creating runDir), atomically (src/checkpoint/save.ts).
 * @returns the written file's path
 */
export function saveResolvedRecipe(recipe: Recipe, runDir: string): string {
  mkdirSync(runDir, { recursive: true });
  const file = join(runDir, 'resolved.yaml');
  const header = `# Resolved recipe (every default filled), written ${new Date().toISOString()}.\n# Re-run with: gtr train --recipe ${file}\n`;
  writeFileAtomicSync(file, header + stringify(recipe, { lineWidth: 0 }));
  return file;
}
