// Token sampling with temperature, top-k, top-p and min-p in one kernel, one block per row.
// Semantics (the one libtorch sampler, native/ops/sampler.cpp, implements the same):
//   z = logits / temperature; M = max z; S = sum exp(z - M)
//   keep z >= max(t_k, t_p, t_m): t_k = k-th largest z (top_k > 0), t_p = the z at which the
//   descending cumulative mass of the top-k survivors first reaches top_p of their mass (top_p < 1),
//   t_m = M + log(min_p) (min_p > 0); ties at a threshold are kept.
//   token = smallest index whose inclusive cumulative kept mass (in index order) exceeds u * kept.
//   logprob = z[token] - M - log S (unfiltered distribution). temperature <= 0: argmax (lowest
//   index on ties), logprob under temperature 1. A row holding a NaN: token -1, logprob NaN.
// Thresholds are found by MSB-first radix select (4 passes of 8 bits) on order-preserving uint32
// keys, counting elements for top-k and summing mass for top-p; the unfiltered path reads the row
// twice (statistics, then the chosen warp's chunk). The key order, the radix digit choice, the keep
// test, the chunking and the draw are kernel_math.h's helpers, which kernel_math_host.cpp runs on
// the host for the CI tests (test/kernel-math.test.ts).
#include "common.cuh"
#include "kernel_math.h"
#include "launch.h"

namespace gtr {
namespace cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;

using math::fkey;

template <typename T>
struct Row {
  const T* p;
  bool divide;
  float t;
  __device__ __forceinline__ float operator()(int i) const {
    const float x = dev::to_float(p[i]);
    return divide ? x / t : x;
  }
  // E consecutive values starting at i (i a multiple of E); 16-byte load when `vec` and the
  // whole vector is in range, scalar otherwise; out-of-range entries are -inf.
  template <int E>
  __device__ __forceinline__ void load(int i, int end, bool vec, float (&x)[E]) const {
    if (vec && i + E <= end) {
      dev::Vec<T>::load(p + i, x);
#pragma unroll
      for (int j = 0; j < E; ++j) x[j] = divide ? x[j] / t : x[j];
    } else {
#pragma unroll
      for (int j = 0; j < E; ++j) x[j] = (i + j < end) ? (*this)(i + j) : -INFINITY;
    }
  }
};

template <typename T>
__global__ void __launch_bounds__(kThreads)
    sample_kernel(const T* logits, int64_t ld, int V, float temperature, int top_k, float top_p, float min_p,
                  const float* uniforms, int64_t* tokens, float* logprobs) {
  __shared__ float w_m[kWarps], w_s[kWarps], w_mass[kWarps];
  __shared__ float w_best[kWarps];
  __shared__ int w_best_i[kWarps];
  __shared__ unsigned int w_nan[kWarps];
  __shared__ unsigned int hist_c[256];
  __shared__ float hist_m[256];
  __shared__ uint32_t sh_prefix, sh_mask;
  __shared__ float sh_remaining_mass;
  __shared__ int sh_remaining_count;
  __shared__ float sh_M, sh_S, sh_kept_mass;
  __shared__ uint32_t sh_thresh;
  __shared__ int sh_warp_sel;
  __shared__ float sh_target;

  const int64_t row = blockIdx.x;
  const bool greedy = !(temperature > 0.f);
  Row<T> z{logits + row * ld, !greedy && temperature != 1.f, temperature};
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  constexpr int E = dev::Vec<T>::N;  // elements per lane per step (one 16-byte load)
  const bool vec = (ld % E) == 0 && (reinterpret_cast<uintptr_t>(logits) % 16) == 0;
  const int chunk = math::chunk_size(V, kWarps, E);
  const int c0 = min(V, warp * chunk), c1 = min(V, c0 + chunk);

  // Pass 1: per-warp online max / sum and argmax over its chunk (16-byte loads, coalesced).
  dev::LseState st;
  float best = -INFINITY;
  int best_i = 0x7fffffff;
  bool nan = false;
  for (int i = c0 + lane * E; i < c1; i += 32 * E) {
    float x[E];
    z.template load<E>(i, c1, vec, x);
#pragma unroll
    for (int j = 0; j < E; ++j) {
      nan |= x[j] != x[j];
      st.add(x[j]);
      if (x[j] > best) {
        best = x[j];
        best_i = i + j;
      }  // lowest index first per lane
    }
  }
  st = dev::warp_merge(st);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ob = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, best_i, o);
    if (ob > best || (ob == best && oi < best_i)) {
      best = ob;
      best_i = oi;
    }
  }
  const unsigned any_nan = __any_sync(0xffffffffu, nan);
  if (lane == 0) {
    w_m[warp] = st.m;
    w_s[warp] = st.s;
    w_best[warp] = best;
    w_best_i[warp] = best_i;
    w_nan[warp] = any_nan;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    dev::LseState g;
    float b = -INFINITY;
    int bi = 0;
    for (int w = 0; w < kWarps; ++w) {
      dev::LseState o;
      o.m = w_m[w];
      o.s = w_s[w];
      o.t = 0.f;
      g.merge(o);
      if (w_best[w] > b) {
        b = w_best[w];
        bi = w_best_i[w];
      }
    }
    unsigned row_nan = 0;
    for (int w = 0; w < kWarps; ++w) row_nan |= w_nan[w];
    sh_M = g.m;
    sh_S = g.s;
    sh_warp_sel = row_nan ? 1 : 0;
    if (row_nan) {  // no token from a NaN row (sampler.h: the same on every path)
      tokens[row] = -1;
      logprobs[row] = __int_as_float(0x7fffffff);
    } else if (greedy) {
      tokens[row] = bi;
      logprobs[row] = b - g.m - logf(g.s);
    }
  }
  __syncthreads();
  if (greedy || sh_warp_sel) return;
  __syncthreads();  // sh_warp_sel is reused below
  const float M = sh_M, S = sh_S;

  const bool use_k = top_k > 0 && top_k < V;
  const bool use_p = top_p < 1.f;
  const bool use_m = min_p > 0.f;
  uint32_t thresh = 0;
  if (use_m) thresh = math::min_p_key(M, min_p);

  // Radix select: `mode` 0 = top-k by count, 1 = top-p by mass among keys >= floor_key.
  auto radix = [&](int mode, uint32_t floor_key, float need_mass, int need_count) -> uint32_t {
    if (threadIdx.x == 0) {
      sh_prefix = 0;
      sh_mask = 0;
      sh_remaining_mass = need_mass;
      sh_remaining_count = need_count;
    }
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int i = threadIdx.x; i < 256; i += kThreads) {
        hist_c[i] = 0;
        hist_m[i] = 0.f;
      }
      __syncthreads();
      const uint32_t prefix = sh_prefix, mask = sh_mask;
      for (int i = threadIdx.x; i < V; i += kThreads) {
        const float x = z(i);
        const uint32_t k = fkey(x);
        if ((k & mask) != prefix || k < floor_key) continue;
        const int d = (k >> shift) & 0xff;
        if (mode == 0)
          atomicAdd(&hist_c[d], 1u);
        else
          atomicAdd(&hist_m[d], __expf(x - M));
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        int chosen;
        if (mode == 0) {
          int rem = sh_remaining_count;
          chosen = math::radix_pick_count(hist_c, rem);
          sh_remaining_count = rem;
        } else {
          float rem = sh_remaining_mass;
          chosen = math::radix_pick_mass(hist_m, rem);
          sh_remaining_mass = rem;
        }
        sh_prefix = prefix | ((uint32_t)chosen << shift);
        sh_mask = mask | (0xffu << shift);
      }
      __syncthreads();
    }
    return sh_prefix;
  };

  uint32_t tk = 0;
  if (use_k) tk = radix(0, 0u, 0.f, top_k);
  if (use_p) {
    float base_mass = S;
    if (use_k) {
      float m = 0.f;
      for (int i = threadIdx.x; i < V; i += kThreads) {
        const float x = z(i);
        if (fkey(x) >= tk) m += __expf(x - M);
      }
      __shared__ float scratch[33];
      base_mass = dev::block_sum(m, scratch);
    }
    const uint32_t tp = radix(1, tk, top_p * base_mass, 0);
    thresh = max(thresh, tp);
  }
  thresh = max(thresh, tk);
  const bool filter = use_k || use_p || use_m;

  // Per-warp kept mass.
  float wm;
  if (filter) {
    float m = 0.f;
    for (int i = c0 + lane * E; i < c1; i += 32 * E) {
      float x[E];
      z.template load<E>(i, c1, vec, x);
#pragma unroll
      for (int j = 0; j < E; ++j)
        if (math::kept(x[j], true, thresh)) m += __expf(x[j] - M);
    }
    wm = dev::warp_sum(m);
  } else {
    wm = w_s[warp] * (w_m[warp] == -INFINITY ? 0.f : __expf(w_m[warp] - M));
  }
  if (lane == 0) w_mass[warp] = wm;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int w = 0; w < kWarps; ++w) total += w_mass[w];
    const float target = uniforms[row] * total;
    const math::Chunk ch = math::select_chunk(w_mass, kWarps, target);
    sh_warp_sel = ch.index;
    sh_target = target - ch.before;  // mass to pass inside the selected warp's chunk
    sh_kept_mass = total;
    sh_thresh = thresh;
  }
  __syncthreads();
  if (warp != sh_warp_sel) return;
  const float target = sh_target;
  const uint32_t th = sh_thresh;
  float running = 0.f;
  int last_kept = -1;
  int found = -1;
  for (int base = c0; base < c1; base += 32 * E) {
    const int i = base + lane * E;
    float x[E], w[E];
    float m = 0.f;
    z.template load<E>(i, c1, vec, x);
#pragma unroll
    for (int j = 0; j < E; ++j) {
      const bool kept = math::kept(x[j], filter, th);
      w[j] = kept ? __expf(x[j] - M) : 0.f;
      if (kept) last_kept = i + j;
      m += w[j];
    }
    // inclusive warp scan of the lanes' masses (lanes hold consecutive index ranges)
    float incl = m;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += y;
    }
    const unsigned hit = __ballot_sync(0xffffffffu, m > 0.f && running + incl > target);
    if (hit) {
      const int src = __ffs(hit) - 1;
      if (lane == src) {
        // walk this lane's elements: first with inclusive mass past the target (rounding inside the
        // lane: its last kept element; m > 0, so one is kept)
        found = i + math::first_past(w, E, running + incl - m, target);
      }
      found = __shfl_sync(0xffffffffu, found, src);
      break;
    }
    running += __shfl_sync(0xffffffffu, incl, 31);
  }
  if (found < 0) {
    // rounding left the target past the end: take the last kept token of the chunk
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) last_kept = max(last_kept, __shfl_xor_sync(0xffffffffu, last_kept, o));
    found = last_kept < 0 ? c0 : last_kept;
  }
  if (lane == 0) {
    tokens[row] = found;
    logprobs[row] = z(found) - M - logf(S);
  }
}

}  // namespace

namespace raw {

cudaError_t sample_tokens(const void* logits, int64_t ld, int B, int V, float temperature, int top_k, float top_p,
                          float min_p, const float* uniforms, int64_t* tokens, float* logprobs, int dtype,
                          cudaStream_t stream) {
  if (V <= 0 || B < 0) return cudaErrorInvalidValue;
  if (B == 0) return cudaSuccess;
  if (dtype == kBF16)
    sample_kernel<__nv_bfloat16><<<B, kThreads, 0, stream>>>(
        static_cast<const __nv_bfloat16*>(logits), ld, V, temperature, top_k, top_p, min_p, uniforms, tokens, logprobs);
  else
    sample_kernel<float><<<B, kThreads, 0, stream>>>(static_cast<const float*>(logits), ld, V, temperature, top_k,
                                                     top_p, min_p, uniforms, tokens, logprobs);
  return cudaGetLastError();
}

}  // namespace raw
}  // namespace cuda
}  // namespace gtr
