// GPU parity of the whole model: a full-size random Qwen3-1.7B checkpoint written by
// `gtr init-model` (bf16) runs through our CUDA bf16 forward and through Hugging Face transformers
// (bench/hf_forward.py, bf16 and fp32) on the same weights. Our bf16 logits must match
// transformers' within bf16 tolerance: relative error against transformers' fp32 logits within
// 1.5x (+ 2e-3) of transformers' own bf16 error, and below 6e-2 (measured on an H100, 2026-11-23:
// ours 3.00e-2, transformers bf16 3.00e-2, ours vs transformers bf16 1.40e-2). Skipped without CUDA or without a
// python3 that imports transformers and sees a GPU (GTR_GPU_MODEL_TEST=0 skips it too).
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import { Policy } from '../src/policy.js';
import { cliPath, repoRoot } from './helpers/paths.js';

function ready(): boolean {
  if (process.env.GTR_GPU_MODEL_TEST === '0') return false;
  try {
    if (!native().versions().cudaAvailable) return false;
  } catch {
    return false;
  }
  const py = spawnSync('python3', ['-c', 'import torch, transformers; assert torch.cuda.is_available()']);
  return py.status === 0;
}

function relErr(a: Float32Array, ref: Float32Array): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return Math.sqrt(num / den);
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

describe.skipIf(!ready())('Qwen3-1.7B bf16 forward on CUDA matches transformers', () => {
  it('full-size random checkpoint, two packed sequences', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gtr-gpu-model-'));
    try {
      const ckpt = join(dir, 'ckpt');
      const run = promisify(execFile); // async: a synchronous child would stall vitest's worker RPC
      await run(
        process.execPath,
        [cliPath, 'init-model', '--config', 'qwen3-1.7b', '--out', ckpt, '--seed', '7', '--dtype', 'bf16'],
        {
          cwd: repoRoot,
          timeout: 900_000,
          maxBuffer: 16 * 1024 * 1024,
        },
      );
      let s = 12345;
      const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
      const seqs = [96, 41].map((n) => Array.from({ length: n }, () => Math.floor(rnd() * 151000)));
      writeFileSync(join(dir, 'seqs.json'), JSON.stringify(seqs));
      await run('python3', [join(repoRoot, 'bench', 'hf_forward.py'), ckpt, join(dir, 'seqs.json'), join(dir, 'hf')], {
        timeout: 900_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      const hfBf16 = readF32(join(dir, 'hf.bf16.f32'));
      const hfFp32 = readF32(join(dir, 'hf.fp32.f32'));
      const policy = await Policy.load(ckpt, { device: 'cuda', dtype: 'bfloat16' });
      let ours: Float32Array;
      try {
        ours = await policy.native.forwardLogits(
          Int32Array.from(seqs.flat()),
          Int32Array.from(seqs.map((q) => q.length)),
        );
      } finally {
        policy.dispose();
      }
      expect(ours.length).toBe(hfFp32.length);
      const oursVsFp32 = relErr(ours, hfFp32);
      const hfVsFp32 = relErr(hfBf16, hfFp32);
      const oursVsHfBf16 = relErr(ours, hfBf16);
      console.log(
        `[model] qwen3-1.7b bf16 logits: rel err vs HF fp32 ${oursVsFp32.toExponential(3)}, HF bf16 vs HF fp32 ${hfVsFp32.toExponential(3)}, ours vs HF bf16 ${oursVsHfBf16.toExponential(3)}`,
      );
      writeFileSync(
        join(process.env.GTR_BENCH_OUT ?? dir, 'gpu-model-parity.json'),
        JSON.stringify({ oursVsFp32, hfVsFp32, oursVsHfBf16 }),
      );
      expect(Number.isFinite(oursVsFp32)).toBe(true);
      expect(oursVsFp32).toBeLessThan(6e-2);
      expect(oursVsFp32).toBeLessThan(1.5 * hfVsFp32 + 2e-3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 1_800_000);
});
