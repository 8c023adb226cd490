/**
 * Loads the native addon (build/Release/gtr_native.node, built by `npm run build:native`).
 * The typed description of what it exports lives in ./types.ts; nothing else imports the .node file.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeAddon } from './types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let cached: NativeAddon | undefined;

/** The addon's exports. Throws a clear error when the addon has not been built. */
export function native(): NativeAddon {
  if (cached) return cached;
  const candidates = [
    process.env.GTR_NATIVE_PATH,
    join(root, 'build', 'Release', 'gtr_native.node'),
    join(root, 'build', 'Debug', 'gtr_native.node'),
  ].filter((p): p is string => !!p);
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new Error(
      `gtr native addon not found (looked in ${candidates.join(', ')}); run "npm run setup" or "npm run build:native"`,
    );
  }
  const require = createRequire(import.meta.url);
  cached = require(path) as NativeAddon;
  return cached;
}
