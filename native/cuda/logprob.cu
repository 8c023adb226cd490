// Fused log-softmax + gather + entropy over vocabulary rows (the chunked log-prob of training and
// scoring), and its backward. Forward: one block per row, one pass (online max / sum exp / sum
// exp * z per thread, merged by warp shuffles and shared memory). Backward: one block per row,
// one pass, writes the logits' gradient in the logits' dtype.
#include "common.cuh"
#include "launch.h"

namespace gtr {
namespace cuda {
namespace {

using dev::Vec;
constexpr int kThreads = 512;

template <typename T, int VEC>
__device__ __forceinline__ void load_n(const T* p, float (&out)[VEC]) {
  if constexpr (VEC == 1)
    out[0] = dev::to_float(*p);
  else
    Vec<T>::load(p, out);
}
template <typename T, int VEC>
__device__ __forceinline__ void store_n(T* p, const float (&in)[VEC]) {
  if constexpr (VEC == 1)
    *p = dev::from_float<T>(in[0]);
  else
    Vec<T>::store(p, in);
}

template <typename T, int VEC>
__global__ void __launch_bounds__(kThreads) logprob_entropy_kernel(const T* logits, int64_t ld, const int64_t* targets,
                                                                   int V, float* logprob, float* entropy, float* lse) {
  __shared__ float sm[3][kThreads / 32];
  const int64_t row = blockIdx.x;
  const T* z = logits + row * ld;
  dev::LseState st;
  const int nvec = V / VEC;
  for (int i = threadIdx.x; i < nvec; i += kThreads) {
    float x[VEC];
    load_n<T, VEC>(z + (int64_t)i * VEC, x);
#pragma unroll
    for (int j = 0; j < VEC; ++j) st.add(x[j]);
  }
  st = dev::warp_merge(st);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sm[0][warp] = st.m;
    sm[1][warp] = st.s;
    sm[2][warp] = st.t;
  }
  __syncthreads();
  if (warp == 0) {
    dev::LseState w;
    if (lane < kThreads / 32) {
      w.m = sm[0][lane];
      w.s = sm[1][lane];
      w.t = sm[2][lane];
    }
    w = dev::warp_merge(w);
    if (lane == 0) {
      const float l = w.m + logf(w.s);
      const int64_t tgt = targets[row];
      lse[row] = l;
      entropy[row] = l - w.t / w.s;
      logprob[row] = (tgt >= 0 && tgt < V) ? dev::to_float(z[tgt]) - l : 0.f;
    }
  }
}

template <typename T, int VEC>
__global__ void __launch_bounds__(kThreads)
    logprob_entropy_bwd_kernel(const T* logits, int64_t ld, const int64_t* targets, const float* lse,
                               const float* entropy, const float* g_lp, const float* g_ent, int V, T* grad) {
  const int64_t row = blockIdx.x;
  const T* z = logits + row * ld;
  T* g = grad + row * (int64_t)V;
  const float l = lse[row], H = entropy[row];
  const float a = g_lp ? g_lp[row] : 0.f, c = g_ent ? g_ent[row] : 0.f;
  const int64_t tgt = targets[row];
  const int nvec = V / VEC;
  for (int i = threadIdx.x; i < nvec; i += kThreads) {
    float x[VEC];
    load_n<T, VEC>(z + (int64_t)i * VEC, x);
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const float lp = x[j] - l;
      const float p = __expf(lp);
      const float onehot = ((int64_t)i * VEC + j == tgt) ? 1.f : 0.f;
      x[j] = a * (onehot - p) - c * p * (lp + H);
    }
    store_n<T, VEC>(g + (int64_t)i * VEC, x);
  }
}

template <typename T>
bool vec_ok(const void* p, int64_t ld, int V) {
  constexpr int VEC = Vec<T>::N;
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % VEC == 0 && V % VEC == 0;
}

template <typename T>
cudaError_t fwd(const void* logits, int64_t ld, const int64_t* targets, int64_t N, int V, float* lp, float* ent,
                float* lse, cudaStream_t s) {
  const T* z = static_cast<const T*>(logits);
  if (vec_ok<T>(logits, ld, V))
    logprob_entropy_kernel<T, Vec<T>::N><<<(unsigned)N, kThreads, 0, s>>>(z, ld, targets, V, lp, ent, lse);
  else
    logprob_entropy_kernel<T, 1><<<(unsigned)N, kThreads, 0, s>>>(z, ld, targets, V, lp, ent, lse);
  return cudaGetLastError();
}

template <typename T>
cudaError_t bwd(const void* logits, int64_t ld, const int64_t* targets, const float* lse, const float* ent,
                const float* g_lp, const float* g_ent, int64_t N, int V, void* grad, cudaStream_t s) {
  const T* z = static_cast<const T*>(logits);
  T* g = static_cast<T*>(grad);
  if (vec_ok<T>(logits, ld, V) && reinterpret_cast<uintptr_t>(grad) % 16 == 0)
    logprob_entropy_bwd_kernel<T, Vec<T>::N>
        <<<(unsigned)N, kThreads, 0, s>>>(z, ld, targets, lse, ent, g_lp, g_ent, V, g);
  else
    logprob_entropy_bwd_kernel<T, 1><<<(unsigned)N, kThreads, 0, s>>>(z, ld, targets, lse, ent, g_lp, g_ent, V, g);
  return cudaGetLastError();
}

}  // namespace

namespace raw {

cudaError_t logprob_entropy(const void* logits, int64_t ld, const int64_t* targets, int64_t N, int V, float* logprob,
                            float* entropy, float* lse, int dtype, cudaStream_t stream) {
  if (V <= 0 || N < 0 || N > 0x7fffffffLL) return cudaErrorInvalidValue;
  if (N == 0) return cudaSuccess;
  return dtype == kBF16 ? fwd<__nv_bfloat16>(logits, ld, targets, N, V, logprob, entropy, lse, stream)
                        : fwd<float>(logits, ld, targets, N, V, logprob, entropy, lse, stream);
}

cudaError_t logprob_entropy_backward(const void* logits, int64_t ld, const int64_t* targets, const float* lse,
                                     const float* entropy, const float* g_lp, const float* g_ent, int64_t N, int V,
                                     void* grad, int dtype, cudaStream_t stream) {
  if (V <= 0 || N < 0 || N > 0x7fffffffLL) return cudaErrorInvalidValue;
  if (N == 0) return cudaSuccess;
  return dtype == kBF16 ? bwd<__nv_bfloat16>(logits, ld, targets, lse, entropy, g_lp, g_ent, N, V, grad, stream)
                        : bwd<float>(logits, ld, targets, lse, entropy, g_lp, g_ent, N, V, grad, stream);
}

}  // namespace raw
}  // namespace cuda
}  // namespace gtr
