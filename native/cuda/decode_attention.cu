// Flash-decoding attention over a KV cache with per-sequence lengths and GQA head grouping, over a
// contiguous cache [slots, kv, capacity, D] or a paged pool [blocks, block_size, kv, D] read through
// a block table (launch.h DecodeAttnArgs).
// Grid (splits, kv_heads, B), 128 threads. A "group" of D / VEC lanes holds one key row (16-byte
// loads, VEC = 8 bf16 or 4 fp32 per lane); a block has 128 / (D / VEC) groups, each walking keys
// pos = base + u * groups + group for UNROLL keys per step with all K and V loads issued before
// the math. Each lane keeps an online softmax (max, sum, acc[VEC]) for all G query heads sharing
// the KV head, so a K/V row is read once per G heads. Groups merge through shared memory; with
// splits > 1 each block writes an unnormalised partial (acc, max, sum) and `combine` merges them.
// The addressing (block table), the split ranges and both merges are kernel_math.h's helpers, which
// kernel_math_host.cpp runs on the host for the CI tests (test/kernel-math.test.ts).
#include "common.cuh"
#include "kernel_math.h"
#include "launch.h"

namespace gtr {
namespace cuda {
namespace {

using dev::Vec;
constexpr int kThreads = 128;
constexpr float kLog2e = 1.4426950408889634f;

template <typename T, int D, int G, int UNROLL>
__global__ void __launch_bounds__(kThreads) decode_attn_kernel(raw::DecodeAttnArgs a) {
  constexpr int VEC = Vec<T>::N;
  constexpr int LANES = D / VEC;            // lanes per key row
  constexpr int GROUPS = kThreads / LANES;  // key rows in flight per step (per UNROLL)
  static_assert(LANES >= 1 && LANES <= 32 && (32 % LANES) == 0, "D / VEC must divide 32");
  __shared__ float sm_m[GROUPS][G];
  __shared__ float sm_l[GROUPS][G];
  __shared__ float sm_acc[GROUPS][G][D];

  const int split = blockIdx.x, kh = blockIdx.y, b = blockIdx.z;
  const int lane = threadIdx.x % LANES, group = threadIdx.x / LANES;
  const int len = a.lengths[b];
  const int slot = a.slot_ids[b];
  const math::Range range = math::split_range(split, a.split_len, len);
  const int start = range.start, end = range.end;

  const T* qp = static_cast<const T*>(a.q) + (int64_t)b * a.q_sb + (int64_t)(kh * G) * a.q_sh + lane * VEC;
  float qf[G][VEC];
  const float qscale = a.scale * kLog2e;  // scores in log2 units, exp2f below
#pragma unroll
  for (int g = 0; g < G; ++g) {
    Vec<T>::load(qp + (int64_t)g * a.q_sh, qf[g]);
#pragma unroll
    for (int i = 0; i < VEC; ++i) qf[g][i] *= qscale;
  }
  const bool paged = a.block_table != nullptr;
  const int32_t* table = paged ? a.block_table + (int64_t)slot * a.bt_stride : nullptr;
  // Contiguous: the slot's rows; paged: the head's column of the pool (the block is added per key).
  const T* kbase =
      static_cast<const T*>(a.k) + (paged ? 0 : (int64_t)slot * a.k_sslot) + (int64_t)kh * a.k_shead + lane * VEC;
  const T* vbase =
      static_cast<const T*>(a.v) + (paged ? 0 : (int64_t)slot * a.v_sslot) + (int64_t)kh * a.v_shead + lane * VEC;

  float m[G], l[G], acc[G][VEC];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int i = 0; i < VEC; ++i) acc[g][i] = 0.f;
  }

  for (int base = start; base < end; base += GROUPS * UNROLL) {  // uniform trip count in the block
    uint4 kr[UNROLL], vr[UNROLL];
    bool valid[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      const int p = base + u * GROUPS + group;
      valid[u] = p < end;
      if (valid[u]) {
        const int64_t ko = math::kv_offset(table, p, a.block_shift, a.k_sslot, a.k_spos);
        const int64_t vo = math::kv_offset(table, p, a.block_shift, a.v_sslot, a.v_spos);
        kr[u] = Vec<T>::load_raw(kbase + ko);
        vr[u] = Vec<T>::load_raw(vbase + vo);
      } else {
        kr[u] = make_uint4(0, 0, 0, 0);
        vr[u] = make_uint4(0, 0, 0, 0);
      }
    }
    float s[UNROLL][G];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      float kf[VEC];
      Vec<T>::convert(kr[u], kf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float d = 0.f;
#pragma unroll
        for (int i = 0; i < VEC; ++i) d = fmaf(qf[g][i], kf[i], d);
#pragma unroll
        for (int o = LANES / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        s[u][g] = valid[u] ? d : -INFINITY;
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float sg[UNROLL];
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) sg[u] = s[u][g];
      math::online_softmax_step(m[g], l[g], acc[g], VEC, sg, UNROLL, [&](int u, float p) {
        float vf[VEC];
        Vec<T>::convert(vr[u], vf);
#pragma unroll
        for (int i = 0; i < VEC; ++i) acc[g][i] = fmaf(p, vf[i], acc[g][i]);
      });
    }
  }

  // Merge the groups of this block.
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (lane == 0) {
      sm_m[group][g] = m[g];
      sm_l[group][g] = l[g];
    }
#pragma unroll
    for (int i = 0; i < VEC; ++i) sm_acc[group][g][lane * VEC + i] = acc[g][i];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < G * D; idx += kThreads) {
    const int g = idx / D, d = idx % D;
    const math::Merged r = math::merge_partials(GROUPS, &sm_m[0][g], G, &sm_l[0][g], G, &sm_acc[0][g][d], G * D);
    const int h = kh * G + g;
    const int64_t bh = (int64_t)b * a.heads + h;
    if (a.splits == 1) {
      static_cast<T*>(a.out)[bh * D + d] = dev::from_float<T>(math::merged_output(r));
    } else {
      a.part_acc[(bh * a.splits + split) * D + d] = r.A;
      if (d == 0) {
        a.part_ml[(bh * a.splits + split) * 2 + 0] = r.M;
        a.part_ml[(bh * a.splits + split) * 2 + 1] = r.L;
      }
    }
  }
}

// One block per (b, head), D threads: merges the splits' partials.
template <typename T>
__global__ void decode_attn_combine(raw::DecodeAttnArgs a) {
  const int64_t bh = blockIdx.x;
  const int D = a.D;
  const float* ml = a.part_ml + bh * a.splits * 2;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    const math::Merged r = math::merge_partials(a.splits, ml, 2, ml + 1, 2, a.part_acc + bh * a.splits * D + d, D);
    static_cast<T*>(a.out)[bh * D + d] = dev::from_float<T>(math::merged_output(r));
  }
}

template <typename T, int D, int G>
cudaError_t launch_dg(const raw::DecodeAttnArgs& a, cudaStream_t stream) {
  constexpr int UNROLL = (G <= 2) ? 4 : 2;
  dim3 grid(a.splits, a.kv_heads, a.B);
  decode_attn_kernel<T, D, G, UNROLL><<<grid, kThreads, 0, stream>>>(a);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || a.splits == 1) return e;
  constexpr int kCombineThreads = D < 128 ? D : 128;  // a named constant: clang-format misreads `<` in <<<>>>
  decode_attn_combine<T><<<a.B * a.heads, kCombineThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T, int D>
cudaError_t launch_d(const raw::DecodeAttnArgs& a, int G, cudaStream_t stream) {
  switch (G) {
    case 1:
      return launch_dg<T, D, 1>(a, stream);
    case 2:
      return launch_dg<T, D, 2>(a, stream);
    case 4:
      return launch_dg<T, D, 4>(a, stream);
    case 8:
      return launch_dg<T, D, 8>(a, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

template <typename T>
cudaError_t launch_t(const raw::DecodeAttnArgs& a, cudaStream_t stream) {
  const int G = a.heads / a.kv_heads;
  switch (a.D) {
    case 64:
      return launch_d<T, 64>(a, G, stream);
    case 128:
      return launch_d<T, 128>(a, G, stream);
    case 256:
      if constexpr (sizeof(T) == 2)
        return launch_d<T, 256>(a, G, stream);
      else
        return cudaErrorInvalidValue;
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

namespace raw {

bool decode_attention_supported(int dtype, int D, int G) {
  if (dtype != kF32 && dtype != kBF16) return false;
  if (D != 64 && D != 128 && !(D == 256 && dtype == kBF16)) return false;
  return G == 1 || G == 2 || G == 4 || G == 8;
}

cudaError_t decode_attention(const DecodeAttnArgs& a, cudaStream_t stream) {
  if (a.kv_heads <= 0 || a.heads % a.kv_heads != 0 || a.splits < 1 || a.split_len < 1) return cudaErrorInvalidValue;
  if (!decode_attention_supported(a.dtype, a.D, a.heads / a.kv_heads)) return cudaErrorInvalidValue;
  if (a.B == 0) return cudaSuccess;
  return a.dtype == kBF16 ? launch_t<__nv_bfloat16>(a, stream) : launch_t<float>(a, stream);
}

}  // namespace raw
}  // namespace cuda
}  // namespace gtr
