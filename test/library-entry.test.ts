// The library entry point (src/index.ts, package.json `exports`) as a user meets it: the package
// resolves by its own name to the built dist/, exports the documented names without loading the
// native addon, and examples/train-tiny.ts type-checks against the published types and runs
// (one RL step of the tiny GTR recipe, an evaluation and two grades). Needs `npm run build:ts`.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { dataDir, repoRoot } from './helpers/paths.js';

const run = promisify(execFile);
const node = (args: string[], cwd = repoRoot) =>
  run(process.execPath, args, { cwd, env: { ...process.env }, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });

describe("the 'gtr-rl' entry point", () => {
  it('resolves by package name and exports the documented API without loading the addon', async () => {
    const script = `
      import { createRequire } from 'node:module';
      const m = await import('gtr-rl');
      const kinds = Object.fromEntries(['train', 'evaluate', 'Policy', 'GraderPool', 'loadRecipe', 'nativeEngines', 'runEvaluation']
        .map((k) => [k, typeof m[k]]));
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.endsWith('.node'));
      console.log(JSON.stringify({ kinds, loaded, resolved: import.meta.resolve('gtr-rl') }));`;
    const { stdout } = await node(['--input-type=module', '-e', script], join(repoRoot, 'examples'));
    const out = JSON.parse(stdout);
    expect(out.kinds).toEqual({
      train: 'function',
      evaluate: 'function',
      Policy: 'function',
      GraderPool: 'function',
      loadRecipe: 'function',
      nativeEngines: 'function',
      runEvaluation: 'function',
    });
    expect(out.resolved).toBe(pathToFileURL(join(repoRoot, 'dist', 'index.js')).href);
    expect(out.loaded).toEqual([]);
  });

  it('examples/train-tiny.ts type-checks against dist/index.d.ts', async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    await expect(node([tsc, '-p', 'examples'])).resolves.toBeDefined();
  });

  it('examples/train-tiny.ts trains one step, evaluates and grades', async () => {
    const { stdout } = await node(['--import', 'tsx', 'examples/train-tiny.ts', '--steps', '1', '--data-dir', dataDir]);
    expect(stdout).toMatch(/^step 1: \d+ metrics -> /m);
    expect(stdout).toMatch(/^trained 1 step\(s\); latest checkpoint .*step-000001$/m);
    expect(stdout).toMatch(/^\| amc23 \| 2 \| 2 \| \d+\.\d \| \d+\.\d \| \d+\.\d \|$/m);
    expect(stdout).toContain('grade +1 (extracted "12")');
    expect(stdout).toContain('grade -1 (extracted "13")');
  });
});
