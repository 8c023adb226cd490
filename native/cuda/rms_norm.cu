// Fused residual add + RMSNorm (and plain RMSNorm when residual is null), one block per row.
// Rounds like the libtorch reference (model/qwen3.cpp rms_norm, HF Qwen3RMSNorm): sum = T(x + r);
// y = T(T(sum * rsqrt(mean(sum^2) + eps)) * w). Each thread keeps up to 4 16-byte vectors of the
// row in registers, so the row is read once and written once (twice with the residual).
#include "common.cuh"
#include "launch.h"

namespace gtr {
namespace cuda {
namespace {

using dev::Vec;
constexpr int kVPT = 4;  // 16-byte vectors per thread

template <typename T>
__global__ void add_rms_norm_kernel(T* x, T* residual, const T* w, T* out, int H, float eps) {
  constexpr int VEC = Vec<T>::N;
  __shared__ float scratch[33];
  const int64_t row = blockIdx.x;
  const int nvec = H / VEC;
  T* xr = x + row * H;
  T* rr = residual ? residual + row * H : nullptr;
  T* orow = out + row * H;
  float vals[kVPT][VEC];
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < kVPT; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < nvec) {
      Vec<T>::load(xr + i * VEC, vals[k]);
      if (rr) {
        float r[VEC];
        Vec<T>::load(rr + i * VEC, r);
#pragma unroll
        for (int j = 0; j < VEC; ++j) vals[k][j] = dev::round_to<T>(vals[k][j] + r[j]);
        Vec<T>::store(rr + i * VEC, vals[k]);
      }
#pragma unroll
      for (int j = 0; j < VEC; ++j) ss = fmaf(vals[k][j], vals[k][j], ss);
    }
  }
  ss = dev::block_sum(ss, scratch);
  const float inv = rsqrtf(ss / (float)H + eps);
#pragma unroll
  for (int k = 0; k < kVPT; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < nvec) {
      float wf[VEC];
      Vec<T>::load(w + i * VEC, wf);
#pragma unroll
      for (int j = 0; j < VEC; ++j) vals[k][j] = wf[j] * dev::round_to<T>(vals[k][j] * inv);
      Vec<T>::store(orow + i * VEC, vals[k]);
    }
  }
}

}  // namespace

namespace raw {

cudaError_t add_rms_norm(void* x, void* residual, const void* weight, void* out, int64_t rows, int H, float eps,
                         int dtype, cudaStream_t stream) {
  const int VEC = dtype == kBF16 ? 8 : 4;
  if (H <= 0 || H % VEC != 0) return cudaErrorInvalidValue;
  const int nvec = H / VEC;
  int nt = ((nvec + 31) / 32) * 32;
  if (nt > 256) nt = ((nvec + kVPT - 1) / kVPT + 31) / 32 * 32;
  if (nt < 256 && nvec > 256) nt = 256;
  if (nt > 1024 || nvec > nt * kVPT) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  if (rows > 0x7fffffffLL) return cudaErrorInvalidValue;
  if (dtype == kBF16) {
    add_rms_norm_kernel<__nv_bfloat16><<<(unsigned)rows, nt, 0, stream>>>(
        static_cast<__nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(residual),
        static_cast<const __nv_bfloat16*>(weight), static_cast<__nv_bfloat16*>(out), H, eps);
  } else {
    add_rms_norm_kernel<float><<<(unsigned)rows, nt, 0, stream>>>(static_cast<float*>(x), static_cast<float*>(residual),
                                                                  static_cast<const float*>(weight),
                                                                  static_cast<float*>(out), H, eps);
  }
  return cudaGetLastError();
}

}  // namespace raw
}  // namespace cuda
}  // namespace gtr
