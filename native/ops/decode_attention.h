// Batched single-token attention over the paged KV cache (a decode step): the one libtorch path.
// The rollout engine runs it on CPU (native/generate/engine.cpp, one plan per step for all layers);
// the CUDA dispatch (native/cuda/dispatch.h, kernels::ref::decode_attention_paged) falls back to it
// where the paged flash-decoding kernel (native/cuda/decode_attention.cu) does not apply, and the
// kernel tests (test/kernel-math.test.ts, test/gpu-kernels.test.ts) check that kernel against it,
// run in float64.
//
// Pool layout (per layer): k_pool, v_pool [num_blocks, block_size, kv_heads, head_dim] in the model
// dtype; block 0 is the null block. Row b of the step attends to positions [0, lengths[b]) of the
// sequence whose block table is row slot_ids[b] of `block_table` (int32 [rows, W]): position p lives
// at block block_table[slot, p / block_size], offset p % block_size.
//
// Method: a gather of the rows' K/V from the pool by block table into [B, kv_heads, L, D]
// (positions at or beyond a row's length read the null block and are masked), then SDPA with the
// boolean mask and the GQA view (q [B, heads, D] as [B, kv_heads, group, D], head h using kv head
// h / group, as HF's repeat_kv). The gathered tensors hold exactly the values a contiguous cache
// would, with the same shapes, so the result equals the contiguous-cache attention (checked against
// a full forward in test/generate-paged.test.ts). A row of length 0 attends to nothing: zeros.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <optional>
#include <vector>

namespace gtr {

// Per-step description of the active batch, built once per decode step and shared by all layers.
struct DecodeAttentionPlan {
  at::Tensor token_rows;   // int64 [B * L] on device: pool token row (block * block_size + offset) per (row, position)
  at::Tensor mask;         // bool [B, 1, 1, L] on device: position < length
  int64_t batch = 0;       // B
  int64_t max_length = 0;  // L = max(lengths) rounded up to kLengthBucket, at most cache_len
};

// Key positions are attended in buckets of this many (max_length is rounded up, capped at the
// cache length): attention shapes then change every kLengthBucket steps instead of every step,
// which matters on CUDA where SDPA backends (cuDNN) build a plan per new shape (~100 ms measured).
constexpr int64_t kLengthBucket = 64;

// Builds the plan. lengths_host: each row's length (>= 1, <= cache_len); slot_ids, lengths: int64
// [B] on device; block_table: int32 [rows, W] on device with W * block_size >= cache_len.
// cache_len: the longest sequence the call can hold (longest prompt + max_new_tokens - 1).
// Throws std::invalid_argument for an empty batch or a length beyond cache_len.
DecodeAttentionPlan make_decode_plan(const std::vector<int64_t>& lengths_host, const at::Tensor& slot_ids,
                                     const at::Tensor& lengths, const at::Tensor& block_table, int64_t block_size,
                                     int64_t cache_len);

// The plan over positions [0, max_length) exactly (no bucketing, no read of the lengths on the
// host: the CUDA fallback's form). slot_ids, lengths: integer [B] and block_table integer [rows, W],
// all on the pools' device; max_length >= 1 with W * block_size >= max_length. Rows longer than
// max_length attend to their first max_length positions.
DecodeAttentionPlan make_decode_plan(const at::Tensor& slot_ids, const at::Tensor& lengths,
                                     const at::Tensor& block_table, int64_t block_size, int64_t max_length);

// q [B, heads, D] (any floating dtype, the pools' dtype) -> attention output [B, heads * D] in q's
// dtype; softmax scale `scale`, 1/sqrt(D) when not given. k_pool, v_pool: [num_blocks, block_size,
// kv_heads, D] contiguous; heads a multiple of kv_heads.
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                            const DecodeAttentionPlan& plan, std::optional<double> scale = std::nullopt);

}  // namespace gtr
