// The model's forward and backward at train.sharding: full (ZeRO-3 / FSDP): each decoder layer's
// parameters (one unit of train/zero.h) are all-gathered just before the layer's forward and again
// before its backward, and freed after each; the layer's gradients are reduce-scattered as soon as
// its backward is done. The root unit (embeddings, final norm, lm_head) stays gathered for the
// whole micro-batch, as FSDP's root module does. Source: Zhao et al. 2023, "PyTorch FSDP" (sec.
// 3.2-3.3, the unit's all-gather / reshard / reduce-scatter around forward and backward); ZeRO
// stage 3 (Rajbhandari et al. 2020, sec. 5.3).
//
// Every rank must call these in the same order, the same number of times (they are collectives):
// a rank with nothing to compute calls the idle_* variants, which run the same collectives with no
// tokens (and zero gradients).
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <vector>
#include "model/qwen3.h"
#include "train/zero.h"

namespace gtr {

// Final-normed hidden states [T, H] (model dtype) of packed ids int64 [T] (lengths `seq_lens`),
// with per-layer gather / release. With grad mode on, each layer is recomputed in backward (it is
// its own activation checkpoint) and reduce-scatters its gradients into the shards; the root unit
// must be gathered by the caller (and stays so until finish_backward_sharded). Throws
// std::invalid_argument on bad lengths.
at::Tensor forward_hidden_sharded(Qwen3Model& model, ZeroOptimizer& zero, const at::Tensor& input_ids,
                                  const std::vector<int64_t>& seq_lens);

// After the loss's backward: reduce-scatters the root unit's gradients (the params' .grad, then
// cleared) and releases the root unit.
void finish_backward_sharded(ZeroOptimizer& zero);

// The collectives of a forward (gather / release per layer) with nothing to compute; with
// `backward`, those of the backward too (each layer gathered, zero gradients reduce-scattered,
// released; then the root's). Gathers the root first and, with `backward`, releases it at the end.
void idle_forward_sharded(Qwen3Model& model, ZeroOptimizer& zero, bool backward);
// Only the backward's collectives (after a real forward whose loss is not backpropagated).
void idle_backward_sharded(Qwen3Model& model, ZeroOptimizer& zero);

}  // namespace gtr
