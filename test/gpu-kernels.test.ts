// GPU parity of the CUDA kernels (native/cuda) against float64 references, and against the
// libtorch path in the same dtype: a kernel must land within bf16 / fp32 tolerance and no worse
// than a small multiple of libtorch's own rounding error. Each check draws fresh inputs from a new
// seed. Skipped when the addon sees no CUDA device or was built without the kernels.
import { describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import { gpuReady } from './helpers/gpu.js';
import type { KernelDebugResult } from '../src/native/types.js';

const gpu = gpuReady();
let seed = 1000;
const next = () => ++seed;
const tol = { bfloat16: 1.2e-2, float32: 1e-5 } as const;
type DT = keyof typeof tol;

function check(
  name: Parameters<ReturnType<typeof native>['testing']['kernelDebug']>[0],
  opts: Record<string, number | string | boolean>,
): KernelDebugResult {
  const r = native().testing.kernelDebug(name, { device: 'cuda', seed: next(), ...opts });
  // printed so the bench log records the errors
  console.log(`[kernel] ${name} ${JSON.stringify(opts)} -> ${JSON.stringify(r)}`);
  expect(r.usedKernel).toBe(true);
  expect(r.finite).not.toBe(false);
  return r;
}

describe.skipIf(!gpu)('CUDA kernels match their references', () => {
  describe('decode attention (flash-decoding, GQA, per-sequence lengths)', () => {
    const cases: Array<Record<string, number | string | boolean>> = [
      { batch: 8, heads: 16, kvHeads: 8, headDim: 128, capacity: 300, splits: 1 },
      { batch: 8, heads: 16, kvHeads: 8, headDim: 128, capacity: 1000, splits: 0 },
      { batch: 5, heads: 16, kvHeads: 8, headDim: 128, capacity: 777, splits: 7, layout: 'bshd' },
      { batch: 3, heads: 32, kvHeads: 8, headDim: 128, capacity: 2048, splits: 0, maxLength: 2048 },
      { batch: 4, heads: 8, kvHeads: 8, headDim: 64, capacity: 129, splits: 3, zeroLength: true },
      { batch: 2, heads: 16, kvHeads: 2, headDim: 256, capacity: 64, splits: 1 },
      { batch: 64, heads: 16, kvHeads: 8, headDim: 128, capacity: 768, splits: 0 },
    ];
    for (const dtype of ['bfloat16', 'float32'] as DT[]) {
      for (const c of cases) {
        if (dtype === 'float32' && c.headDim === 256) continue;
        it(`${dtype} ${JSON.stringify(c)}`, () => {
          const r = check('decode_attention', { ...c, dtype });
          expect(r.relErr as number).toBeLessThan(tol[dtype]);
          expect(r.relErr as number).toBeLessThan(
            Math.max(3 * (r.refRelErr as number), dtype === 'float32' ? 1e-6 : 1e-3),
          );
        });
      }
    }
  });

  describe('paged decode attention (block table, shared blocks) against the gathered float64 reference', () => {
    const cases = [
      { batch: 8, heads: 16, kvHeads: 8, headDim: 128, blockSize: 32, capacity: 300 },
      { batch: 5, heads: 16, kvHeads: 8, headDim: 128, blockSize: 16, capacity: 4095 },
      { batch: 3, heads: 8, kvHeads: 8, headDim: 64, blockSize: 256, capacity: 513 },
      { batch: 33, heads: 32, kvHeads: 4, headDim: 128, blockSize: 1, capacity: 97 },
    ];
    for (const dtype of ['bfloat16', 'float32'] as DT[])
      for (const c of cases)
        it(`${dtype} ${JSON.stringify(c)}`, () => {
          const r = check('decode_attention_paged', { ...c, dtype });
          expect(r.finite).toBe(true);
          expect(r.relErr as number).toBeLessThan(tol[dtype]);
          expect(r.relErr as number).toBeLessThan(
            Math.max(3 * (r.refRelErr as number), dtype === 'float32' ? 1e-6 : 1e-3),
          );
        });
  });

  for (const dtype of ['bfloat16', 'float32'] as DT[]) {
    it(`fused add + RMSNorm (${dtype})`, () => {
      for (const hidden of [2048, 128, 1000, 5120]) {
        const r = check('rms_norm', { rows: 37, hidden, dtype, residual: true });
        expect(r.relErr as number).toBeLessThan(tol[dtype]);
        expect(r.residualMaxAbsDiff as number).toBe(0); // the sum is rounded like libtorch's
        expect(r.relErr as number).toBeLessThan(Math.max(2 * (r.refRelErr as number), 1e-6));
      }
      const r = check('rms_norm', { rows: 4096, hidden: 128, dtype, residual: false });
      expect(r.relErr as number).toBeLessThan(tol[dtype]);
    });

    it(`RoPE in place (${dtype})`, () => {
      for (const [heads, kvHeads, headDim] of [
        [16, 8, 128],
        [4, 2, 64],
      ]) {
        const r = check('rope', { tokens: 53, heads, kvHeads, headDim, dtype });
        expect(r.inPlace).toBe(true);
        expect(r.relErr as number).toBeLessThan(tol[dtype]);
        expect(r.relErr as number).toBeLessThan(Math.max(2 * (r.refRelErr as number), 1e-6));
      }
    });

    it(`SwiGLU, contiguous and strided rows (${dtype})`, () => {
      for (const strided of [false, true]) {
        for (const inter of [6144, 100]) {
          const r = check('swiglu', { rows: 33, inter, strided, dtype });
          expect(r.relErr as number).toBeLessThan(tol[dtype]);
          expect(r.relErr as number).toBeLessThan(Math.max(2 * (r.refRelErr as number), 1e-6));
        }
      }
    });

    it(`chunked log-prob / entropy forward and backward (${dtype})`, () => {
      for (const vocab of [151936, 1001]) {
        const r = check('logprob_entropy', { rows: 24, vocab, dtype });
        // outputs are float32 computed from the same (dtype) logits: tight in both cases
        expect(r.logprobRelErr as number).toBeLessThan(1e-5);
        expect(r.entropyRelErr as number).toBeLessThan(1e-5);
        expect(r.lseRelErr as number).toBeLessThan(1e-6);
        expect(r.gradRelErr as number).toBeLessThan(tol[dtype]);
      }
    });
  }

  describe('sampler (temperature, top-k, top-p, min-p in one kernel)', () => {
    const settings: Array<Record<string, number>> = [
      { temperature: 1.0 },
      { temperature: 0.7 },
      { temperature: 1.0, topK: 50 },
      { temperature: 1.0, topP: 0.9 },
      { temperature: 0.8, topK: 200, topP: 0.95 },
      { temperature: 1.0, minP: 0.05 },
      { temperature: 1.2, topK: 1000, topP: 0.8, minP: 0.01 },
      { temperature: 0 },
    ];
    for (const dtype of ['bfloat16', 'float32'] as DT[]) {
      for (const s of settings) {
        it(`agrees with the reference on the same uniforms: ${dtype} ${JSON.stringify(s)}`, () => {
          const r = check('sample', { batch: 128, vocab: 151936, dtype, ...s });
          expect(r.tokensInRange).toBe(true);
          expect(r.inKeepFraction as number).toBe(1);
          // index-order inverse CDF on the same uniforms: tokens differ only where u lands within
          // float32 summation error of a boundary (per-token mass ~1/V of the total: ~1% of rows)
          expect(r.mismatchFraction as number).toBeLessThanOrEqual(4 / 128);
          expect(r.logprobMaxAbsDiff as number).toBeLessThan(1e-3);
        });
      }
    }
    for (const s of settings.filter((x) => x.temperature > 0)) {
      it(`draws follow the filtered distribution: ${JSON.stringify(s)}`, () => {
        const r = check('sample_stats', {
          draws: 400000,
          vocab: 300,
          dtype: 'float32',
          std: 2.0,
          ...s,
          topK: s.topK ? Math.min(s.topK, 120) : 0,
        });
        expect(r.outsideKeep as number).toBe(0);
        // chi-square / dof of a correct sampler is ~1 (sd ~ sqrt(2 / dof))
        expect(r.chi2PerDof as number).toBeLessThan(1 + 5 * Math.sqrt(2 / (r.dof as number)));
      });
    }
  });
});

describe.skipIf(!gpu)('CUDA sampler on NaN logits', () => {
  it('a row holding a NaN gets token -1, as in the libtorch sampler (greedy and sampled)', () => {
    for (const o of [{ temperature: 0 }, { temperature: 1 }, { temperature: 0.8, topK: 20, topP: 0.9 }]) {
      const r = check('sample', { batch: 4, vocab: 5000, dtype: 'bfloat16', nanRow: true, ...o });
      expect(r.nanRowToken).toBe(-1);
      expect(r.nanRowRefToken).toBe(-1);
    }
  });
});
