// Batched single-token attention over the preallocated KV cache (the decode step of the rollout
// engine). Kept behind this one function so a fused CUDA kernel (native/cuda, issue 8) can replace
// the libtorch reference below without touching the engine.
//
// Cache layout (per layer): k_cache, v_cache [slots, kv_heads, max_len, head_dim] in the model
// dtype, contiguous, on the model device. Slot s holds one sequence; positions [0, lengths[s]) are
// valid (the current token's K/V already written), the rest is stale or zero.
//
// Reference implementation: SDPA with a boolean mask over the slot range [0, span) and positions
// [0, max length), where span = 1 + the largest active slot id. GQA is handled without expanding
// K/V: q [B, heads, D] is viewed as [B, kv_heads, group, D] (head h uses kv head h / group, as HF's
// repeat_kv), so each kv head attends with `group` query rows. Slots inside the span that are not
// active get a dummy length of 1 (their rows are computed and dropped; the cache must therefore
// hold finite values, which the engine guarantees by zero-initialising it).
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <vector>

namespace gtr {

// Per-step description of the active batch, built once per decode step and shared by all layers.
struct DecodeAttentionPlan {
  at::Tensor slot_ids;     // int64 [B] on device: slot of each batch row, strictly increasing
  at::Tensor lengths;      // int64 [B] on device: valid cache length of each row (incl. current token)
  at::Tensor span_mask;    // bool [span, 1, 1, max_len] on device (reference path)
  int64_t batch = 0;       // B
  int64_t span = 0;        // 1 + max slot id
  int64_t max_length = 0;  // max(lengths) rounded up to kLengthBucket, at most the cache length
  bool identity = false;   // slot_ids == arange(B) (then no scatter / gather is needed)
};

// Key positions are attended in buckets of this many (max_length is rounded up, capped at the
// cache length): attention shapes then change every kLengthBucket steps instead of every step,
// which matters on CUDA where SDPA backends (cuDNN) build a plan per new shape (~100 ms measured).
constexpr int64_t kLengthBucket = 64;

// Builds the plan. slot_ids_host strictly increasing; lengths_host >= 1 each. `span_lengths` is
// int64 [span] on device (active rows: their length; others: 1), already uploaded by the caller
// (the engine packs all per-step host data into one upload). cache_len: the cache's max_len.
DecodeAttentionPlan make_decode_plan(const std::vector<int64_t>& slot_ids_host, const std::vector<int64_t>& lengths_host,
                                     const at::Tensor& slot_ids, const at::Tensor& lengths,
                                     const at::Tensor& span_lengths, int64_t cache_len);

// q [B, heads, D] (model dtype) -> attention output [B, heads * D], softmax scale 1/sqrt(D), each
// row attending to cache positions [0, lengths[b]) of slot slot_ids[b].
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const DecodeAttentionPlan& plan);

}  // namespace gtr
