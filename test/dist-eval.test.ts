// `gtr eval --nproc-per-node 2` (issue 12): each rank samples and grades its block of the problems
// (sampling streams seeded by the problem's index, as in one process), rank 0 writes the report,
// and the report equals the 1-rank report. Skips, saying why, when the addon has no CPU backend.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, dataDir, repoRoot } from './helpers/paths.js';
import { tinyModelScratch } from './helpers/tiny.js';
import { distSkipReason } from './helpers/dist.js';

const skipWhy = distSkipReason();
if (skipWhy) console.warn(`dist-eval tests skipped: ${skipWhy}`);

const { scratch, modelDir } = tinyModelScratch('gtr-dist-eval-', 5);

function evalRun(out: string, extra: string[] = []) {
  const r = spawnSync(
    process.execPath,
    [
      cliPath,
      'eval',
      '--model',
      modelDir,
      '--benchmarks',
      'amc23,math500',
      '--n',
      '3',
      '--k',
      '1,2',
      '--limit',
      '3',
      '--max-new-tokens',
      '8',
      '--data-dir',
      dataDir,
      '--out',
      join(scratch, out),
      ...extra,
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, GLOO_SOCKET_IFNAME: 'lo', GTR_DIST_TIMEOUT_S: '120' },
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r;
}

describe.skipIf(skipWhy !== undefined)('gtr eval --nproc-per-node 2', () => {
  it('writes the same report and per-problem results as one process (3 problems: uneven blocks)', () => {
    evalRun('one');
    const two = evalRun('two', ['--nproc-per-node', '2']);
    expect(two.stderr).toMatch(/rank 1 of 2 is pid/);
    const files = readdirSync(join(scratch, 'one')).sort();
    expect(readdirSync(join(scratch, 'two')).sort()).toEqual(files);
    const strip = (f: string) => {
      const j = JSON.parse(readFileSync(f, 'utf8'));
      delete j.createdAt;
      return j;
    };
    const a = strip(join(scratch, 'one', 'report.json')),
      b = strip(join(scratch, 'two', 'report.json'));
    expect(b).toEqual(a);
    expect(a.benchmarks.map((x: { name: string }) => x.name)).toEqual(['amc23', 'math500']);
    for (const f of files.filter((x) => x.endsWith('.jsonl'))) {
      expect(readFileSync(join(scratch, 'two', f), 'utf8'), f).toBe(readFileSync(join(scratch, 'one', f), 'utf8'));
    }
  }, 600_000);
});
