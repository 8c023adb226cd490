/**
 * The package as npm users get it (issue #26): `npm pack` ships what the `files` list names (no
 * tests, benchmarks or results), and the tarball installed into an empty project (its dependencies
 * from the registry, its addon set up by scripts/install.mjs: the prebuilt CPU addon when it loads
 * here, else a build from source) runs `gtr inspect` and a tiny `gtr train` on a data file of the
 * project's own. Installing needs the npm registry and takes minutes, so the suite runs it when
 * GTR_PACKAGE_TEST=1 (CI's .ci/run sets it); without, it is skipped, saying so.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/paths.js';

const run = promisify(execFile);
const enabled = process.env.GTR_PACKAGE_TEST === '1';
const scratch = mkdtempSync(join(tmpdir(), 'gtr-pack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const sh = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  run(cmd, args, {
    cwd,
    env: { ...process.env, GTR_DATA_DIR: '', ...env },
    maxBuffer: 64 << 20,
    timeout: 1_500_000,
  }).catch((e: { message: string; stdout?: string; stderr?: string }) => {
    throw new Error(`${cmd} ${args.join(' ')}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  });

if (!enabled)
  console.warn('skipping the npm pack / install test: set GTR_PACKAGE_TEST=1 (it needs the npm registry and minutes)');

describe.skipIf(!enabled)('npm pack, then npm install into an empty project (GTR_PACKAGE_TEST=1)', () => {
  let tarball = '';

  it('packs only what the files list names', { timeout: 600_000 }, async () => {
    const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', scratch], repoRoot);
    const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = join(scratch, info!.filename);
    const paths = info!.files.map((f) => f.path);
    for (const need of [
      'bin/gtr.js',
      'dist/cli/main.js',
      'dist/index.d.ts',
      'scripts/install.mjs',
      'scripts/build-native.mjs',
      'CMakeLists.txt',
      'datasets/manifest.json',
      'recipes/tiny-gtr-dapo.yaml',
      'src/grading/python/math_verify_worker.py',
    ])
      expect(paths, need).toContain(need);
    expect(paths.filter((p) => /^(test|bench|\.ci|examples)\//.test(p) || p.endsWith('.map'))).toEqual([]);
    expect(paths.length).toBeLessThan(400);
  });

  it('installs into an empty project; gtr inspect and a tiny gtr train run there', { timeout: 1_800_000 }, async () => {
    const proj = join(scratch, 'user-project');
    await sh('mkdir', ['-p', proj], scratch);
    writeFileSync(
      join(proj, 'package.json'),
      JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }),
    );
    const inst = await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], proj);
    expect(inst.stdout + inst.stderr).not.toMatch(/gtr-rl install: the native addon could not be built/);
    expect(existsSync(join(proj, 'node_modules', 'gtr-rl', 'build', 'Release', 'gtr_native.node'))).toBe(true);
    const insp = await sh('npx', ['gtr', 'inspect'], proj);
    expect(insp.stdout).toMatch(/gtr-rl 0\.1\.0|version/i);
    await sh('npx', ['gtr', 'init-model', '--config', 'tiny', '--out', 'tiny-model'], proj);
    writeFileSync(
      join(proj, 'train.jsonl'),
      Array.from({ length: 8 }, (_, i) =>
        JSON.stringify({ id: `q${i}`, problem: `What is ${i} + ${i}?`, answer: String(2 * i) }),
      ).join('\n') + '\n',
    );
    await sh(
      'npx',
      [
        'gtr',
        'train',
        'node_modules/gtr-rl/recipes/tiny-gtr-dapo.yaml',
        '--set',
        'model.path=tiny-model',
        '--set',
        'data.train=train.jsonl',
        '--set',
        'data.data_dir=null',
        '--set',
        'eval.every_steps=0',
        '--set',
        'run.dir=runs/tiny',
        '--set',
        'rollout.max_new_tokens=8',
      ],
      proj,
    );
    const rows = readFileSync(join(proj, 'runs', 'tiny', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.filter((r) => r.kind === 'train').map((r) => r.step)).toEqual([1, 2]);
    expect(existsSync(join(proj, 'runs', 'tiny', 'checkpoints', 'step-000002', 'policy', 'config.json'))).toBe(true);
  });
});
