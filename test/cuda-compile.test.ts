// Compile check of the CUDA kernels (scripts/check-cuda-compile.sh): every native/cuda/*.cu
// builds for sm_90 with nvcc, and the CUDA-only at::Tensor glue parses with GTR_WITH_CUDA.
// Skipped where nvcc is absent; needs no GPU.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/paths.js';

function hasNvcc(): boolean {
  if (process.env.NVCC && existsSync(process.env.NVCC)) return true;
  if (existsSync('/usr/local/cuda/bin/nvcc')) return true;
  return spawnSync('nvcc', ['--version']).status === 0;
}

describe.skipIf(!hasNvcc())('CUDA kernels compile for sm_90', () => {
  it('compiles every native/cuda/*.cu and the glue', async () => {
    // async: a synchronous child would block the worker's RPC with vitest for the whole compile
    const { stdout: out } = await promisify(execFile)('bash', [join(repoRoot, 'scripts', 'check-cuda-compile.sh')], {
      encoding: 'utf8',
      timeout: 600_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(out).not.toMatch(/FAIL/);
    for (const k of ['decode_attention', 'rms_norm', 'rope', 'swiglu', 'sampler', 'logprob']) {
      expect(out).toContain(`ok   ${k}.cu (sm_90)`);
    }
  }, 600_000);
});
