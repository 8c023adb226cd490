/**
 * Copy-paste failures a first user hit (issue #26), each run as the user ran it:
 * - `gtr eval` on the tiny model with the default --max-new-tokens (it used to exceed the tiny
 *   model's context), and a failing `gtr eval` leaves no empty --out directory behind;
 * - `gtr eval compare DIR DIR` (the --out directories) instead of a raw EISDIR;
 * - a `gtr train` that fails before step 1 no longer blocks the re-run; a run with progress still
 *   asks for --resume.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultMaxNewTokens } from '../src/cli/commands/eval.js';
import { native } from '../src/native/binding.js';
import { cliPath, dataDir, repoRoot } from './helpers/paths.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'gtr-first-contact-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const gtr = (args: string[]) =>
  run(process.execPath, [cliPath, ...args], {
    cwd: scratch,
    env: { ...process.env, GTR_DATA_DIR: '' },
    maxBuffer: 64 << 20,
  });
const fails = (args: string[]) =>
  gtr(args).then(
    () => {
      throw new Error(`gtr ${args.join(' ')} succeeded`);
    },
    (e: { stderr: string }) => e.stderr,
  );

let hasTrainer = false;
try {
  hasTrainer = typeof native().Trainer === 'function';
} catch {
  hasTrainer = false;
}

it('the default --max-new-tokens fits any context: 4096, or the context less 1024 (half, below 2048)', () => {
  expect(defaultMaxNewTokens(40960)).toBe(4096);
  expect(defaultMaxNewTokens(4096)).toBe(3072);
  expect(defaultMaxNewTokens(512)).toBe(256);
});

describe.skipIf(!hasTrainer)('as pasted (needs the native trainer)', () => {
  beforeAll(async () => {
    await gtr(['init-model', '--config', 'tiny', '--out', 'runs/tiny-model']);
  }, 120_000);

  it(
    'gtr eval on the tiny model with the default --max-new-tokens; a failed eval leaves no --out',
    { timeout: 300_000 },
    async () => {
      const common = [
        'eval',
        '--model',
        'runs/tiny-model',
        '--benchmarks',
        'amc23',
        '--limit',
        '1',
        '--n',
        '1',
        '--k',
        '1',
      ];
      const { stdout } = await gtr([...common, '--data-dir', dataDir, '--out', 'eval/a']);
      expect(stdout).toContain('wrote eval/a');
      const report = JSON.parse(readFileSync(join(scratch, 'eval/a/report.json'), 'utf8'));
      expect(report.settings.max_new_tokens).toBe(3072);
      expect(await fails([...common, '--data-dir', join(scratch, 'nowhere'), '--out', 'eval/never'])).toMatch(
        /amc23\.jsonl does not exist/,
      );
      expect(existsSync(join(scratch, 'eval/never'))).toBe(false);
      // compare takes the --out directories (or their report.json)
      const cmp = await gtr(['eval', 'compare', 'eval/a', 'eval/a/report.json']);
      expect(cmp.stdout).toMatch(/amc23/);
      mkdirSync(join(scratch, 'eval/empty'), { recursive: true });
      expect(await fails(['eval', 'compare', 'eval/a', 'eval/empty'])).toMatch(/eval\/empty holds no report\.json/);
    },
  );

  it(
    'a train that failed before step 1 re-runs as pasted; one with progress asks for --resume',
    { timeout: 300_000 },
    async () => {
      const args = (dir: string) => [
        'train',
        join(repoRoot, 'recipes', 'tiny-gtr-dapo.yaml'),
        '--set',
        'run.dir=runs/r',
        '--set',
        'eval.every_steps=0',
        '--set',
        'train.steps=1',
        '--set',
        'rollout.max_new_tokens=4',
        '--data-dir',
        dir,
      ];
      expect(await fails(args(join(scratch, 'nowhere')))).toMatch(/dapo-math-17k\.jsonl does not exist/);
      expect(existsSync(join(scratch, 'runs/r/resolved.yaml'))).toBe(true); // written before the data loaded
      const { stdout, stderr } = await gtr(args(dataDir));
      expect(stdout + stderr).toMatch(/stopped before completing step 1 .* starting afresh/);
      expect(stdout).toMatch(/done after step 1/);
      expect(await fails(args(dataDir))).toMatch(/already holds a run .* pass --resume/);
    },
  );
});
