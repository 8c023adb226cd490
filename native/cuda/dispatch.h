// Kernel dispatch for the rollout and training engines: each function runs the CUDA kernel
// (native/cuda/kernels.h) when its tensors are on CUDA, the addon was built with CUDA
// (GTR_WITH_CUDA) and the kernel supports the shape, and the libtorch reference path otherwise
// (CPU builds, CPU tensors, unsupported shapes, or GTR_KERNELS=ref in the environment).
// Shapes, dtypes and semantics are those of kernels.h; the reference paths in `ref` take the
// same arguments (any device, any floating dtype) and define what the kernels must compute.
#pragma once
#include <ATen/ATen.h>
#include <tuple>
#include <utility>

namespace gtr {
namespace kernels {

// True when this build has the CUDA kernels and GTR_KERNELS is not "ref".
bool cuda_kernels_enabled();

// Decode attention; q [B, heads, D], caches [slots, kv_heads, capacity, D] (see kernels.h).
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const at::Tensor& slot_ids, const at::Tensor& lengths, double scale,
                            int64_t max_length = -1);
// Paged decode attention; q [B, heads, D], pools [blocks, block_size, kv_heads, D], block_table
// int32 [rows, W] (see kernels.h decode_attention_paged).
at::Tensor decode_attention_paged(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                                  const at::Tensor& block_table, const at::Tensor& slot_ids, const at::Tensor& lengths,
                                  double scale, int64_t max_length);
// In place: residual <- x + residual, x <- rms_norm(residual) * weight; returns (x, residual).
std::pair<at::Tensor, at::Tensor> fused_add_rms_norm(at::Tensor& x, at::Tensor& residual, const at::Tensor& weight,
                                                     double eps);
// RMSNorm over the last dim (model/qwen3 rms_norm semantics).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// RoPE on q [T, hq, D] and k [T, hk, D] with cos / sin float32 [T, D]; in place when the kernel
// runs, and always returns the rotated (q, k) (callers use the returned tensors).
std::pair<at::Tensor, at::Tensor> rope(at::Tensor& q, at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin);
// silu(gate) * up; gate, up [..., I] with contiguous last dims (rows may be strided).
at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);
// (tokens int64 [B], logprobs float32 [B]) from logits [B, V]: the kernel (sampler.cu) or the one
// libtorch sampler (ops/sampler.h), which defines what the kernel must compute.
std::pair<at::Tensor, at::Tensor> sample_tokens(const at::Tensor& logits, double temperature, int64_t top_k,
                                                double top_p, double min_p, const at::Tensor& uniforms);
// (logprob, entropy, lse) float32 [N] from logits [N, V] and targets int64 [N]; no autograd.
std::tuple<at::Tensor, at::Tensor, at::Tensor> chunk_logprob_entropy(const at::Tensor& logits,
                                                                     const at::Tensor& targets);
// Gradient w.r.t. logits of sum(g_lp * logprob + g_ent * entropy): [N, V] in logits' dtype.
at::Tensor chunk_logprob_entropy_backward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& lse,
                                          const at::Tensor& entropy, const at::Tensor& grad_logprob,
                                          const at::Tensor& grad_entropy);

namespace ref {
// libtorch reference paths (same contracts; compute in the inputs' dtype like the model does).
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const at::Tensor& slot_ids, const at::Tensor& lengths, double scale,
                            int64_t max_length = -1);
// The rollout engine's paged attention (ops/decode_attention.h: a gather by block table, then SDPA)
// over positions [0, max_length), with this scale; [B, heads, D] in q's dtype.
at::Tensor decode_attention_paged(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                                  const at::Tensor& block_table, const at::Tensor& slot_ids, const at::Tensor& lengths,
                                  double scale, int64_t max_length);
std::pair<at::Tensor, at::Tensor> fused_add_rms_norm(const at::Tensor& x, const at::Tensor& residual,
                                                     const at::Tensor& weight, double eps);  // out of place
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cos,
                                       const at::Tensor& sin);
at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);
std::tuple<at::Tensor, at::Tensor, at::Tensor> chunk_logprob_entropy(const at::Tensor& logits,
                                                                     const at::Tensor& targets);
at::Tensor chunk_logprob_entropy_backward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& lse,
                                          const at::Tensor& entropy, const at::Tensor& grad_logprob,
                                          const at::Tensor& grad_entropy);
}  // namespace ref

}  // namespace kernels
}  // namespace gtr
