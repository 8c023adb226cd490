// Batched single-token attention over the paged KV cache (the decode step of the rollout engine):
// the libtorch reference path, used on CPU, under GTR_KERNELS=ref and by the tests. The CUDA decode
// step (decode_step.h) runs the paged flash-decoding kernel (native/cuda/decode_attention.cu) with
// the same inputs instead.
//
// Pool layout (per layer): k_pool, v_pool [num_blocks, block_size, kv_heads, head_dim] in the model
// dtype; block 0 is the null block. Row b of the step attends to positions [0, lengths[b]) of the
// sequence whose block table is row slot_ids[b] of `block_table` (int32 [rows, W]): position p lives
// at block block_table[slot, p / block_size], offset p % block_size.
//
// Reference: a gather of the rows' K/V from the pool by block table into [B, kv_heads, L, D]
// (positions at or beyond a row's length read the null block and are masked), then SDPA with the
// boolean mask and the GQA view (q [B, heads, D] as [B, kv_heads, group, D], head h using kv head
// h / group, as HF's repeat_kv). The gathered tensors hold exactly the values a contiguous cache
// would, with the same shapes, so the result equals the contiguous-cache attention (bitwise on CPU,
// checked against the pre-paging engine's outputs in test/generate-paged.test.ts).
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
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

// q [B, heads, D] (model dtype) -> attention output [B, heads * D], softmax scale 1/sqrt(D).
// k_pool, v_pool: [num_blocks, block_size, kv_heads, D] contiguous.
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                            const DecodeAttentionPlan& plan);

}  // namespace gtr
