// Host runs of the decode-attention and sampler kernels' reduction trees (CPU, float32), built in
// every variant of the addon: the same split / group / lane structure as the CUDA kernels, with the
// shipped __host__ __device__ helpers of kernel_math.h for the addressing, the merges, the radix
// selection and the index-order draw. The tests (test/kernel-math.test.ts, through
// testing.kernelDebug(name, { host: true })) compare them with the libtorch and float64 references,
// so that math is checked in CI on machines without a GPU.
#pragma once
#include <ATen/ATen.h>
#include "ops/sampler.h"

namespace gtr {
namespace cuda {

// decode_attention.cu over a paged pool, run on the host. q [B, heads, D], k_pool / v_pool
// [blocks, block_size, kv_heads, D], table int32 [rows, W], slot_ids / lengths int32 [B] (CPU).
// `splits` > 0 forces the split count (as DecodeAttnArgs.splits, split_len = ceil(max_length /
// splits)); `vec` = elements per 16-byte load (4 float32, 8 bf16: sets the kernel's key groups).
// Returns float32 [B, heads, D]. Throws std::invalid_argument on shapes the kernel does not take.
at::Tensor host_decode_attention_paged(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                                       const at::Tensor& table, const at::Tensor& slot_ids, const at::Tensor& lengths,
                                       double scale, int64_t max_length, int64_t splits, int vec);

// sampler.cu on the host: logits [B, V] (float32 math), uniforms [B]. tokens int64 [B] (-1 for a NaN
// row), logprobs float32 [B], kept bool [B, V] (which ids the kernel's thresholds keep).
struct HostSampleOut {
  at::Tensor tokens, logprobs, kept;
};
HostSampleOut host_sample(const at::Tensor& logits, const SamplerOptions& o, const at::Tensor& uniforms, int vec);

}  // namespace cuda
}  // namespace gtr
