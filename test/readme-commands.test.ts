/**
 * Every command a user is told to paste runs as pasted (issue #26):
 * - README.md: each ```sh block that names `gtr`, in order, in one scratch directory (links to this
 *   checkout's package.json, bin, dist, node_modules, build, recipes, datasets, examples and test,
 *   so that `node bin/gtr.js` and the relative paths resolve as in a clone); a block preceded by
 *   `<!-- readme-test: skip (why) -->` is left out, and the reasons are checked to be there;
 * - recipes/*.yaml: the `gtr` commands of each header comment, in a fresh scratch directory;
 * - the `--help` texts of every command: each example line that starts with `gtr` or `npx gtr`.
 * Downloads (`gtr data fetch`) go to a hub stand-in through HF_ENDPOINT. Needs the native trainer.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import { cliPath, repoRoot } from './helpers/paths.js';
import { hubDatasetFiles, startHubStandIn, type HubStandIn } from './helpers/hub-stand-in.js';

const run = promisify(execFile);

let hasTrainer = false;
try {
  hasTrainer = typeof native().Trainer === 'function';
} catch {
  hasTrainer = false;
}

/** The ```sh blocks of a markdown text, with the skip reason of the comment right above, if any. */
export function shellBlocks(md: string): { code: string; skip: string | null; line: number }[] {
  const out: { code: string; skip: string | null; line: number }[] = [];
  const re = /(?:<!-- readme-test: skip \(([^)]*(?:\([^)]*\)[^)]*)*)\) -->\n)?```(?:sh|bash|shell)\n([\s\S]*?)```/g;
  for (let m = re.exec(md); m; m = re.exec(md))
    out.push({ code: m[2]!, skip: m[1] ?? null, line: md.slice(0, m.index).split('\n').length });
  return out;
}

/** True when a block runs `gtr` (outside comments): `gtr`, `npx gtr` or `node bin/gtr.js`. */
const namesGtr = (code: string) =>
  code
    .split('\n')
    .map((l) => l.replace(/#.*$/, ''))
    .some((l) => /(^|[\s;(&|])(npx gtr|gtr|node bin\/gtr\.js)(\s|$)/.test(l));

/** A scratch directory that looks like a clone from the outside: links to what the commands read. */
function scratchClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gtr-readme-'));
  for (const name of [
    'package.json',
    'bin',
    'dist',
    'node_modules',
    'build',
    'recipes',
    'datasets',
    'examples',
    'test',
  ])
    if (existsSync(join(repoRoot, name))) symlinkSync(join(repoRoot, name), join(dir, name));
  return dir;
}

let hub: HubStandIn;
const env = () => ({
  ...process.env,
  HF_ENDPOINT: hub.base,
  GTR_DATA_DIR: '',
  GTR_CACHE_DIR: mkdtempSync(join(tmpdir(), 'gtr-readme-cache-')),
});
const bash = (code: string, cwd: string, e: NodeJS.ProcessEnv) =>
  run('bash', ['-euo', 'pipefail', '-c', code], { cwd, env: e, maxBuffer: 64 << 20, timeout: 300_000 }).catch(
    (err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`${err.message}\n--- stdout\n${err.stdout ?? ''}\n--- stderr\n${err.stderr ?? ''}`);
    },
  );

beforeAll(async () => {
  hub = await startHubStandIn(hubDatasetFiles(3));
});
afterAll(() => hub?.close());

describe.skipIf(!hasTrainer)('commands as pasted (needs the native trainer)', () => {
  it(
    "README: every sh block that names gtr runs in a scratch clone, in order; the rest say why they don't",
    { timeout: 900_000 },
    async () => {
      const blocks = shellBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8')).filter((b) => namesGtr(b.code));
      const runnable = blocks.filter((b) => b.skip === null);
      expect(runnable.length).toBeGreaterThanOrEqual(3);
      for (const b of blocks.filter((x) => x.skip !== null))
        expect(b.skip!.length, `README.md:${b.line}`).toBeGreaterThan(10);
      const dir = scratchClone();
      const e = env();
      for (const b of runnable) {
        const { stdout } = await bash(b.code, dir, e).catch((err: Error) => {
          throw new Error(`README.md:${b.line}: ${err.message}`);
        });
        expect(stdout, `README.md:${b.line}`).not.toMatch(/^gtr: /m);
      }
      // What the "Try it" block promises exists.
      expect(existsSync(join(dir, 'runs/tiny-gtr-dapo/checkpoints/step-000002/policy/config.json'))).toBe(true);
      expect(existsSync(join(dir, 'eval/tiny/report.json'))).toBe(true);
      expect(existsSync(join(dir, 'runs/tiny-report.html'))).toBe(true);
      expect(readFileSync(join(dir, 'data/math500.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    },
  );

  it('recipes: the gtr commands in each header comment run as written', { timeout: 900_000 }, async () => {
    let n = 0;
    for (const f of readdirSync(join(repoRoot, 'recipes')).filter((x) => x.endsWith('.yaml'))) {
      const header = readFileSync(join(repoRoot, 'recipes', f), 'utf8').split('\n');
      const cmds = header
        .slice(
          0,
          header.findIndex((l) => !l.startsWith('#')),
        )
        .map((l) => l.replace(/^#\s*/, ''))
        .filter((l) => /^(npx gtr|gtr|node bin\/gtr\.js) /.test(l))
        .map((l) => l.replace(/\s+#.*$/, ''));
      if (cmds.length === 0) continue;
      n++;
      await bash(cmds.join('\n'), scratchClone(), env()).catch((err: Error) => {
        throw new Error(`recipes/${f}: ${err.message}`);
      });
    }
    expect(n).toBeGreaterThanOrEqual(2);
  });

  it('--help texts: every example command line runs', { timeout: 300_000 }, async () => {
    const top = (await run(process.execPath, [cliPath, '--help'])).stdout;
    const names = [...top.matchAll(/^  ([a-z][\w-]*)(?: |$)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(names).toContain('train');
    const texts = [top];
    for (const c of names) {
      texts.push((await run(process.execPath, [cliPath, c, '--help'])).stdout);
      const subs = [...texts.at(-1)!.matchAll(/^Commands:\n([\s\S]*?)(?:\n\n|$)/gm)].flatMap((m) =>
        [...m[1]!.matchAll(/^  ([a-z][\w-]*)/gm)].map((s) => s[1]!).filter((s) => s !== 'help'),
      );
      for (const s of subs) texts.push((await run(process.execPath, [cliPath, c, s, '--help'])).stdout);
    }
    texts.push((await run(process.execPath, [cliPath, 'train', '--help-recipe'])).stdout);
    const examples = texts
      .flatMap((t) => t.split('\n'))
      .map((l) => l.trim())
      .filter((l) => /^(npx gtr|gtr) [a-z]/.test(l))
      .map((l) => l.replace(/\s+#.*$/, ''));
    expect(examples.length).toBeGreaterThanOrEqual(2);
    const dir = scratchClone();
    // `gtr` of a clone is `node bin/gtr.js` (an installed package's is `npx gtr`).
    for (const ex of examples) await bash(ex.replace(/^(npx )?gtr /, 'node bin/gtr.js '), dir, env());
  });
});
