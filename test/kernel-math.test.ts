// The CUDA kernels' index math and reductions, checked on the host in CI (no GPU): the paged decode
// attention's addressing through the block table, its split ranges and its two merges (key groups,
// then split-K), and the sampler's order keys, radix selection (top-k, top-p), min-p threshold,
// chunking and index-order inverse-CDF draw. These are the __host__ __device__ helpers of
// native/cuda/kernel_math.h that decode_attention.cu and sampler.cu call; kernel_math_host.cpp runs
// them in the kernels' thread structure (testing.kernelDebug). References: the libtorch paged
// attention in float64 over the rows gathered by the table, and a float64 sampler of sampler.h's
// semantics (transformers' warpers) plus the libtorch sampler. Runs on every build of the addon.
import { describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import type { KernelHookOptions } from '../src/native/types.js';

let seed = 500;
const debug = (name: 'decode_attention_paged' | 'sample_host', opts: KernelHookOptions) => {
  const r = native().testing.kernelDebug(name, { device: 'cpu', seed: ++seed, ...opts });
  return r;
};

describe('paged decode attention on the host (decode_attention.cu math) against libtorch float64', () => {
  // Every block size x head_dim x GQA group, with random lengths, tables whose rows share their first
  // blocks (samples of one prompt), and forced split counts (1 = no split-K merge).
  const blockSizes = [1, 16, 32, 256];
  const headDims = [64, 128, 256];
  const groups = [1, 2, 4, 8];
  for (const blockSize of blockSizes)
    for (const headDim of headDims)
      it(`block size ${blockSize}, head_dim ${headDim}, GQA groups 1/2/4/8, splits 1/3/7`, () => {
        for (const g of groups) {
          const kvHeads = 2;
          for (const splits of [1, 3, 7]) {
            // D = 256 exists only in bf16 (8 elements a load); 64 / 128 run the float32 layout.
            const dtype = headDim === 256 ? 'bfloat16' : 'float32';
            const capacity = blockSize === 256 ? 300 : blockSize === 1 ? 40 : 90;
            const r = debug('decode_attention_paged', {
              host: true,
              dtype,
              batch: 3,
              heads: kvHeads * g,
              kvHeads,
              headDim,
              blockSize,
              capacity,
              sharedBlocks: blockSize === 256 ? 1 : 2,
              splits,
            });
            const what = JSON.stringify({ blockSize, headDim, g, splits, r });
            expect(r.finite, what).toBe(true);
            // float32 accumulation in a different order than the float64 reference
            expect(r.relErr as number, what).toBeLessThan(2e-6);
            expect(r.maxAbsErr as number, what).toBeLessThan(1e-5);
          }
        }
      });

  it('a split past a sequence end and a merge of many splits (splits 64, short rows)', () => {
    const r = debug('decode_attention_paged', {
      host: true,
      dtype: 'float32',
      batch: 4,
      heads: 8,
      kvHeads: 1,
      headDim: 64,
      blockSize: 16,
      capacity: 200,
      splits: 64,
    });
    expect(r.relErr as number).toBeLessThan(2e-6);
  });
});

describe('sampler on the host (sampler.cu selection and draw) against a float64 reference', () => {
  const cases: Array<[string, KernelHookOptions]> = [
    ['plain (no warper)', {}],
    ['temperature 0.7', { temperature: 0.7 }],
    ['top_k 1', { topK: 1 }],
    ['top_k 50', { topK: 50 }],
    ['top_p 0.9', { topP: 0.9 }],
    ['tiny top_p (1e-6)', { topP: 1e-6 }],
    ['min_p 0.1', { minP: 0.1 }],
    ['top_k 40, top_p 0.8, min_p 0.05, temperature 1.3', { topK: 40, topP: 0.8, minP: 0.05, temperature: 1.3 }],
    ['ties, top_k 7', { pattern: 'ties', topK: 7 }],
    ['ties, top_p 0.5', { pattern: 'ties', topP: 0.5 }],
    ['ties, top_k 1', { pattern: 'ties', topK: 1 }],
    ['ties, min_p 0.3', { pattern: 'ties', minP: 0.3 }],
    ['-inf tails', { pattern: 'neginf' }],
    ['-inf tails, top_k 5, top_p 0.9', { pattern: 'neginf', topK: 5, topP: 0.9 }],
    ['-inf tails, tiny top_p', { pattern: 'neginf', topP: 1e-6 }],
    ['greedy (temperature 0), ties: lowest index', { pattern: 'ties', temperature: 0 }],
    ['vocab not a multiple of the chunking (V = 1237)', { vocab: 1237, topP: 0.95 }],
    ['bf16 lanes (8 a load), V = 5003', { dtype: 'bfloat16', vocab: 5003, topK: 100, topP: 0.9 }],
  ];
  for (const [name, opts] of cases)
    it(name, () => {
      const r = debug('sample_host', { batch: 48, vocab: 1000, ...opts });
      const what = JSON.stringify(r);
      // the kept set is exactly the reference's (thresholds through the radix select and fkey)
      expect(r.keptMismatch, what).toBe(0);
      // the drawn token: the reference's, or one within float32 rounding of the drawn point
      expect(r.tokenErrors, what).toBe(0);
      expect(r.tokenMismatch as number, what).toBeLessThanOrEqual(1);
      expect(r.logprobMaxAbsDiff as number, what).toBeLessThan(1e-4);
      if (opts.pattern === undefined && (opts.topK === 1 || (opts.topP as number) < 1e-3))
        expect(r.keptMean as number, what).toBeLessThan(1.5);
    });

  it('a NaN row gets token -1 on the host kernel path and in the libtorch sampler alike', () => {
    for (const temperature of [1, 0]) {
      const r = debug('sample_host', { batch: 4, vocab: 300, pattern: 'nan', temperature, topP: 0.9 });
      expect(r.nanRowsMarked).toBe(true);
      expect(r.tokenErrors).toBe(0);
    }
  });
});
