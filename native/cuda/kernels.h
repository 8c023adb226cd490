// at::Tensor entry points of the GTR-RL CUDA kernels (native/cuda/*.cu through launch.h). Defined
// in kernels.cpp, which is compiled only with CUDA (GTR_WITH_CUDA): call these through
// native/cuda/dispatch.h, which falls back to the libtorch reference paths on CPU or without
// CUDA. All functions take CUDA tensors of dtype bfloat16 or float32 (as stated), launch on the
// current CUDA stream, never synchronise, and are CUDA-graph capturable (outputs come from the
// caching allocator). They throw c10::Error (TORCH_CHECK) on unsupported shapes; the
// `*_supported` predicates say beforehand.
#pragma once
#include <ATen/ATen.h>
#include <tuple>
#include <functional>
#include <utility>

namespace gtr {
namespace cuda {

// Whether decode_attention's kernel handles this dtype / head_dim / group size (heads / kv_heads).
bool decode_attention_supported(at::ScalarType dtype, int64_t head_dim, int64_t group);

// Flash-decoding attention for one new query token per sequence.
//   q: [B, heads, D] (bf16 | fp32; last dim contiguous)
//   k_cache, v_cache: [num_slots, kv_heads, capacity, D], same dtype, any strides with the last dim
//     contiguous (a [slots, capacity, kv_heads, D] buffer passes .permute({0, 2, 1, 3}))
//   slot_ids, lengths: int32 or int64 [B] on the device; row b attends to positions
//     [0, lengths[b]) of slot slot_ids[b] (the new token's K/V already written at lengths[b] - 1)
//   scale: softmax scale (1/sqrt(D) for Qwen3)
//   max_length: a host-side upper bound of lengths (<= capacity; -1 = capacity) that sizes the
//     split-K grid; num_splits forces the split count (0 = chosen from the SM count)
// Returns out [B, heads, D] contiguous in q's dtype (a row with length 0 gives zeros).
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const at::Tensor& slot_ids, const at::Tensor& lengths, double scale,
                            int64_t max_length = -1, int64_t num_splits = 0);

// The same over a paged pool: k_pool, v_pool [num_blocks, block_size, kv_heads, D] (block_size a
// power of two), block_table int32 [rows, W] on the device (contiguous rows); row b attends to
// positions [0, lengths[b]) of the sequence in table row slot_ids[b], position p at block
// block_table[slot, p / block_size], offset p % block_size. max_length (required): the longest
// sequence the table can hold (<= W * block_size), which sizes the split grid.
at::Tensor decode_attention_paged(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                                  const at::Tensor& block_table, const at::Tensor& slot_ids, const at::Tensor& lengths,
                                  double scale, int64_t max_length, int64_t num_splits = 0);

// In place: residual <- x + residual (rounded to dtype); x <- rms_norm(residual) * weight.
// x, residual: [..., H] contiguous, same dtype; weight [H]. Returns (x, residual).
std::pair<at::Tensor, at::Tensor> fused_add_rms_norm(at::Tensor& x, at::Tensor& residual, const at::Tensor& weight,
                                                     double eps);
// Out of place RMSNorm over the last dim: x [..., H] -> [..., H] (same rounding as model/qwen3 rms_norm).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// In-place RoPE: q [T, hq, D], k [T, hk, D] contiguous, same dtype; cos / sin float32 [T, D]
// (gtr::rope_tables). Same result as gtr::apply_rope.
void rope_inplace(at::Tensor& q, at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin);

// silu(gate) * up: gate, up [..., I] (rows may be strided, last dim contiguous) -> [..., I] contiguous.
at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);

// Samples one token per row of logits [B, V] (bf16 | fp32, last dim contiguous) with
// temperature / top-k (<= 0: off) / top-p (>= 1: off) / min-p (<= 0: off) in one kernel, driven
// by uniforms float32 [B] in [0, 1). Returns (tokens int64 [B], logprobs float32 [B]) where
// logprob = log softmax(logits / temperature)[token] (unfiltered). temperature <= 0: greedy.
// Exact semantics in native/cuda/sampler.cu.
std::pair<at::Tensor, at::Tensor> sample_tokens(const at::Tensor& logits, double temperature, int64_t top_k,
                                                double top_p, double min_p, const at::Tensor& uniforms);

// Fused log-softmax, gather and entropy over rows: logits [N, V] (bf16 | fp32, last dim
// contiguous), targets int64 [N] -> (logprob, entropy, lse), each float32 [N].
std::tuple<at::Tensor, at::Tensor, at::Tensor> chunk_logprob_entropy(const at::Tensor& logits,
                                                                     const at::Tensor& targets);
// d(sum(g_lp * logprob + g_ent * entropy)) / d logits -> [N, V] in logits' dtype. lse / entropy
// from the forward; grad_logprob / grad_entropy float32 [N] or undefined (zero).
at::Tensor chunk_logprob_entropy_backward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& lse,
                                          const at::Tensor& entropy, const at::Tensor& grad_logprob,
                                          const at::Tensor& grad_entropy);

// Median time in ms of `iters` runs of fn on the current stream (CUDA events), after `warmup` runs.
double time_cuda_ms(const std::function<void()>& fn, int warmup = 3, int iters = 20);

}  // namespace cuda
}  // namespace gtr
