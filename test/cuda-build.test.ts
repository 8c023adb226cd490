// The CUDA build of the addon on a machine without a GPU (scripts/check-cuda-build.sh): each of its
// checks (the pip CUDA torch + nvcc environment, the build of every .cu with CUDA graphs and NCCL,
// the objects, `require` in Node, `gtr inspect`, a CPU smoke run with the CUDA addon) is one test
// here, read from the JSON the script writes. CI (.ci/run) runs the script before the test suite
// and sets GTR_CUDA_RESULT, so a failed or missing CUDA build fails CI's "N passed, N failed" line.
// Elsewhere (no GTR_CUDA_RESULT) the file is skipped: the script takes minutes and ~5 GB of disk.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface Check {
  name: string;
  ok: boolean;
  seconds: number;
  detail: string;
}
const path = process.env.GTR_CUDA_RESULT;
const EXPECTED = ['env', 'build', 'objects', 'load', 'inspect', 'cpu-smoke'];

describe.skipIf(!path)('CUDA build without a GPU (scripts/check-cuda-build.sh results)', () => {
  const result: { checks: Check[] } | undefined =
    path && existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { checks: Check[] }) : undefined;

  it('the script wrote its results', () => {
    expect(result, `${path} is missing: scripts/check-cuda-build.sh did not finish`).toBeDefined();
  });
  for (const name of EXPECTED)
    it(`check ${name}`, () => {
      const c = result?.checks.find((x) => x.name === name);
      expect(c, `check ${name} did not run (an earlier check failed)`).toBeDefined();
      expect(c!.ok, `${name}: ${c!.detail}`).toBe(true);
    });
});
