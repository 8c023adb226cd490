/** Why the data-parallel tests cannot run here (undefined when they can): an addon without the
 * process-group binding, or no CPU collectives backend (gtr_gloo.so, built when libgloo-dev is
 * installed). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { native } from '../../src/native/binding.js';
import { repoRoot } from './paths.js';

export function distSkipReason(): string | undefined {
  const addonPath = process.env.GTR_NATIVE_PATH ?? join(repoRoot, 'build', 'Release', 'gtr_native.node');
  const glooLib = join(dirname(addonPath), 'gtr_gloo.so');
  if (!('ProcessGroup' in native()))
    return 'the native addon predates data parallelism (rebuild: npm run build:native)';
  if (!existsSync(glooLib))
    return `no CPU collectives backend (${glooLib}): install libgloo-dev (scripts/setup.sh does) and rebuild the addon`;
  return undefined;
}
