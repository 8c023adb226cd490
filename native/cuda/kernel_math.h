// The index math and reductions of the decode-attention and sampler kernels, as __host__ __device__
// helpers: the kernels (decode_attention.cu, sampler.cu) call them on the GPU, and the host runs of
// those kernels' reduction trees (kernel_math_hooks.cpp, test/kernel-math.test.ts) call the same
// code on the CPU, so the addressing, the split-K merge, the radix selection and the index-order
// draw are tested in CI without a GPU. Plain C++ when not compiled by nvcc.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define GTR_HD __host__ __device__ __forceinline__
#define GTR_UNROLL _Pragma("unroll")
#else
#define GTR_HD inline
#define GTR_UNROLL
#endif

namespace gtr {
namespace cuda {
namespace math {

GTR_HD float exp2_(float x) {
#if defined(__CUDA_ARCH__)
  return exp2f(x);
#else
  return std::exp2(x);
#endif
}

// ------------------------------------------------------------------------------- decode attention

// Element offset of key position p in a K or V cache (launch.h DecodeAttnArgs). Paged (`table` =
// the sequence's row of the block table): block table[p >> block_shift], token p & (block size - 1)
// inside it (vLLM's PagedAttention addressing), s_block elements per block and s_pos per token;
// contiguous (table == nullptr): p * s_pos from the slot's base.
GTR_HD int64_t kv_offset(const int32_t* table, int p, int block_shift, int64_t s_block, int64_t s_pos) {
  if (table == nullptr) return static_cast<int64_t>(p) * s_pos;
  const int64_t blk = table[p >> block_shift], off = p & ((1 << block_shift) - 1);
  return blk * s_block + off * s_pos;
}

// Key positions [start, end) that split `split` of a sequence of `len` keys covers (split_len each;
// empty for splits past the sequence's end).
struct Range {
  int start, end;
};
GTR_HD Range split_range(int split, int split_len, int len) {
  const int start = split * split_len;
  const int end = len < start + split_len ? len : start + split_len;
  return {start, end};
}

// One step of an online softmax (flash attention) over n_keys keys with scores s[0..n_keys) in log2
// units (-inf: no key): rescales the running max m, mass l and accumulator acc[0..n) to the new max,
// then adds each key's weight p = 2^(s - max) to l and calls add_value(k, p), which adds p * v_k to
// acc. Without a finite score nothing changes. decode_attention.cu runs it per lane on UNROLL keys
// (n = the lane's VEC elements of the head); the host run on one key over the whole head.
template <typename AddValue>
GTR_HD void online_softmax_step(float& m, float& l, float* acc, int n, const float* s, int n_keys,
                                AddValue&& add_value) {
  float mx = m;
  GTR_UNROLL
  for (int k = 0; k < n_keys; ++k) mx = fmaxf(mx, s[k]);
  if (mx == -INFINITY) return;        // nothing valid seen yet
  const float alpha = exp2_(m - mx);  // 0 when m was -inf
  m = mx;
  l *= alpha;
  GTR_UNROLL
  for (int i = 0; i < n; ++i) acc[i] *= alpha;
  GTR_UNROLL
  for (int k = 0; k < n_keys; ++k) {
    const float p = exp2_(s[k] - mx);  // 0 for keys without a score
    l += p;
    add_value(k, p);
  }
}

// Online-softmax partials in log2 units (flash-decoding): max m, mass l = sum 2^(s - m),
// acc = sum 2^(s - m) v. Merging n partials (m[i * ms], l[i * ls], acc[i * as]) rescales each to the
// common max M; a partial with m = -inf (no keys) weighs 0, and all -inf gives L = 0, A = 0.
struct Merged {
  float M, L, A;
};
GTR_HD Merged merge_partials(int n, const float* m, int ms, const float* l, int ls, const float* acc, int as) {
  float M = -INFINITY;
  for (int i = 0; i < n; ++i) M = fmaxf(M, m[i * ms]);
  float L = 0.f, A = 0.f;
  if (M != -INFINITY) {
    for (int i = 0; i < n; ++i) {
      const float w = exp2_(m[i * ms] - M);
      L += l[i * ls] * w;
      A += acc[i * as] * w;
    }
  }
  return {M, L, A};
}
// The attention output of merged partials (0 for a sequence without keys).
GTR_HD float merged_output(const Merged& r) { return r.L > 0.f ? r.A / r.L : 0.f; }

// ------------------------------------------------------------------------------------------ sampler

// Order-preserving uint32 key of a float: a < b  <=>  fkey(a) < fkey(b) (for non-NaN floats).
GTR_HD uint32_t fkey(float f) {
#if defined(__CUDA_ARCH__)
  const uint32_t u = __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
#endif
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// One step of the MSB-first radix select over a 256-bucket histogram of the current digit. Walking
// digits from the largest, picks the bucket where the `rem` largest elements (top-k, counts) or the
// `rem` of mass (top-p, masses) run out, and leaves in `rem` what is still needed inside it. When
// the histogram holds less than `rem` (rounding), the smallest non-empty bucket; when it is empty, 0.
GTR_HD int radix_pick_count(const unsigned int* hist, int& rem) {
  int last_nonempty = -1;
  for (int d = 255; d >= 0; --d) {
    const int c = static_cast<int>(hist[d]);
    if (c == 0) continue;
    last_nonempty = d;
    if (c >= rem) return d;
    rem -= c;
  }
  return last_nonempty < 0 ? 0 : last_nonempty;
}
GTR_HD int radix_pick_mass(const float* hist, float& rem) {
  int last_nonempty = -1;
  for (int d = 255; d >= 0; --d) {
    const float m = hist[d];
    if (!(m > 0.f)) continue;
    last_nonempty = d;
    if (m >= rem) return d;
    rem -= m;
  }
  return last_nonempty < 0 ? 0 : last_nonempty;
}

// Whether z survives the warpers: finite from below and, when any warper is on, key >= threshold
// (the max of the top-k, top-p and min-p thresholds' keys; ties at the threshold are kept).
GTR_HD bool kept(float z, bool filter, uint32_t thresh) { return z != -INFINITY && (!filter || fkey(z) >= thresh); }

// Key of the min-p threshold: z >= max z + log(min_p) (transformers' MinPLogitsWarper).
GTR_HD uint32_t min_p_key(float zmax, float min_p) { return fkey(zmax + logf(min_p)); }

// Elements per warp chunk of a row of V (a multiple of 32 lanes x E elements per 16-byte load),
// so that `warps` consecutive chunks cover the row in index order.
GTR_HD int chunk_size(int V, int warps, int E) { return ((V + warps - 1) / warps + 32 * E - 1) / (32 * E) * (32 * E); }

// The chunk of `n` (index order) whose kept masses `mass` hold target = u * total: the first with
// positive mass where the inclusive cumulative mass exceeds target; rounding past the end takes the
// last chunk with mass (0 when none). `before`: the mass of the chunks before it. (Returned by
// value: an output reference put the kernel's locals on the stack.)
struct Chunk {
  int index;
  float before;
};
GTR_HD Chunk select_chunk(const float* mass, int n, float target) {
  float cum = 0.f;
  int sel = -1, last = -1;
  for (int w = 0; w < n; ++w) {
    if (mass[w] > 0.f) last = w;
    if (mass[w] > 0.f && cum + mass[w] > target) {
      sel = w;
      break;
    }
    cum += mass[w];
  }
  if (sel < 0) {
    sel = last < 0 ? 0 : last;
    cum = 0.f;
    for (int w = 0; w < sel; ++w) cum += mass[w];
  }
  return {sel, cum};
}

// Inside a run of elements with weights w[0..n) (0 = not kept) whose cumulative mass starts at
// `start`: the first kept element where the inclusive cumulative mass exceeds target, else the last
// kept one (rounding), else -1. The index-order inverse-CDF draw of sampler.cu (per lane).
// (No early exit: the kernel's lane arrays then stay in registers, fully unrolled.)
GTR_HD int first_past(const float* w, int n, float start, float target) {
  float c = start;
  int found = -1, lastk = -1;
  GTR_UNROLL
  for (int j = 0; j < n; ++j) {
    if (w[j] > 0.f) {
      lastk = j;
      c += w[j];
      if (found < 0 && c > target) found = j;
    }
  }
  return found >= 0 ? found : lastk;
}

}  // namespace math
}  // namespace cuda
}  // namespace gtr
