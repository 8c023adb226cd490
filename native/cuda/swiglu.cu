// SwiGLU: out = silu(gate) * up, rounding like libtorch's at::silu(gate) * up in the same dtype
// (silu rounded to dtype, then the product). 16-byte vectors when every row start is aligned,
// a scalar loop otherwise. Grid-stride over rows x vectors.
#include "common.cuh"
#include "launch.h"

namespace gtr {
namespace cuda {
namespace {

using dev::Vec;

__device__ __forceinline__ float silu(float x) { return x / (1.f + __expf(-x)); }

template <typename T>
__global__ void swiglu_vec_kernel(const T* gate, const T* up, int64_t gs, int64_t us, T* out, int64_t rows, int I) {
  constexpr int VEC = Vec<T>::N;
  const int nvec = I / VEC;
  const int64_t total = rows * nvec;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = idx / nvec;
    const int c = (int)(idx % nvec) * VEC;
    float g[VEC], u[VEC];
    Vec<T>::load(gate + r * gs + c, g);
    Vec<T>::load(up + r * us + c, u);
#pragma unroll
    for (int j = 0; j < VEC; ++j) g[j] = dev::round_to<T>(silu(g[j])) * u[j];
    Vec<T>::store(out + r * I + c, g);
  }
}

template <typename T>
__global__ void swiglu_scalar_kernel(const T* gate, const T* up, int64_t gs, int64_t us, T* out, int64_t rows, int I) {
  const int64_t total = rows * I;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = idx / I;
    const int c = (int)(idx % I);
    const float g = dev::to_float(gate[r * gs + c]), u = dev::to_float(up[r * us + c]);
    out[r * I + c] = dev::from_float<T>(dev::round_to<T>(silu(g)) * u);
  }
}

template <typename T>
cudaError_t launch(const void* gate, const void* up, int64_t gs, int64_t us, void* out, int64_t rows, int I,
                   cudaStream_t stream) {
  constexpr int VEC = Vec<T>::N;
  const bool aligned = I % VEC == 0 && gs % VEC == 0 && us % VEC == 0 && reinterpret_cast<uintptr_t>(gate) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(up) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
  const int64_t work = aligned ? rows * (I / VEC) : rows * I;
  const int nt = 256;
  int64_t blocks = (work + nt - 1) / nt;
  if (blocks > 132 * 16) blocks = 132 * 16;
  if (blocks < 1) blocks = 1;
  const T* g = static_cast<const T*>(gate);
  const T* u = static_cast<const T*>(up);
  T* o = static_cast<T*>(out);
  if (aligned)
    swiglu_vec_kernel<T><<<(unsigned)blocks, nt, 0, stream>>>(g, u, gs, us, o, rows, I);
  else
    swiglu_scalar_kernel<T><<<(unsigned)blocks, nt, 0, stream>>>(g, u, gs, us, o, rows, I);
  return cudaGetLastError();
}

}  // namespace

namespace raw {

cudaError_t swiglu(const void* gate, const void* up, int64_t g_stride, int64_t u_stride, void* out, int64_t rows, int I,
                   int dtype, cudaStream_t stream) {
  if (I <= 0 || rows < 0) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  return dtype == kBF16 ? launch<__nv_bfloat16>(gate, up, g_stride, u_stride, out, rows, I, stream)
                        : launch<float>(gate, up, g_stride, u_stride, out, rows, I, stream);
}

}  // namespace raw
}  // namespace cuda
}  // namespace gtr
