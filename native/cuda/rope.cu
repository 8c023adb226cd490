// In-place rotary embedding (HF rotate_half form) on q [T, hq, D] and k [T, hk, D] with float32
// cos / sin tables [T, D]. One block per token; each thread rotates two adjacent pairs
// (i, i + D/2), (i + 1, i + 1 + D/2) of one head. Rounding follows the libtorch reference:
// out = T(T(x * T(cos)) + T(rot * T(sin))).
#include "common.cuh"
#include "launch.h"

namespace gtr {
namespace cuda {
namespace {

template <typename T>
__global__ void rope_kernel(T* q, T* k, const float* cos, const float* sin, int hq, int hk, int D) {
  const int64_t t = blockIdx.x;
  const int half = D / 2, pairs2 = half / 2;  // two pairs per thread
  const float* ct = cos + t * D;
  const float* st = sin + t * D;
  const int work = (hq + hk) * pairs2;
  for (int idx = threadIdx.x; idx < work; idx += blockDim.x) {
    const int h = idx / pairs2, i = (idx % pairs2) * 2;
    T* x = h < hq ? q + (t * hq + h) * D : k + (t * hk + (h - hq)) * D;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int a = i + j, b = i + j + half;
      const float x1 = dev::to_float(x[a]), x2 = dev::to_float(x[b]);
      const float ca = dev::round_to<T>(ct[a]), sa = dev::round_to<T>(st[a]);
      const float cb = dev::round_to<T>(ct[b]), sb = dev::round_to<T>(st[b]);
      const float o1 = dev::round_to<T>(x1 * ca) + dev::round_to<T>(-x2 * sa);
      const float o2 = dev::round_to<T>(x2 * cb) + dev::round_to<T>(x1 * sb);
      x[a] = dev::from_float<T>(o1);
      x[b] = dev::from_float<T>(o2);
    }
  }
}

}  // namespace

namespace raw {

cudaError_t rope_inplace(void* q, void* k, const float* cos, const float* sin, int64_t T, int hq, int hk, int D,
                         int dtype, cudaStream_t stream) {
  if (D % 4 != 0 || hq < 0 || hk < 0) return cudaErrorInvalidValue;
  if (T == 0 || hq + hk == 0) return cudaSuccess;
  if (T > 0x7fffffffLL) return cudaErrorInvalidValue;
  const int work = (hq + hk) * (D / 4);
  const int nt = work >= 256 ? 256 : ((work + 31) / 32) * 32;
  if (dtype == kBF16)
    rope_kernel<__nv_bfloat16><<<(unsigned)T, nt, 0, stream>>>(static_cast<__nv_bfloat16*>(q),
                                                               static_cast<__nv_bfloat16*>(k), cos, sin, hq, hk, D);
  else
    rope_kernel<float>
        <<<(unsigned)T, nt, 0, stream>>>(static_cast<float*>(q), static_cast<float*>(k), cos, sin, hq, hk, D);
  return cudaGetLastError();
}

}  // namespace raw
}  // namespace cuda
}  // namespace gtr
