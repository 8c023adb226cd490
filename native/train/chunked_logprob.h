// Differentiable token log-probs and entropies without materialising the [N x V] logits, and the
// activation-checkpointed packed forward. Both are custom autograd functions
// (torch::autograd::Function) that recompute in backward what forward did not keep.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <utility>
#include <vector>
#include "model/qwen3.h"

namespace gtr {

// Token log-probs and entropies from hidden rows, chunk_rows rows of logits at a time.
//   hidden:  [N, H] (float32 / bfloat16), the rows that predict the targets
//   lm_head: [V, H], same dtype (the embedding matrix when tied)
//   targets: int64 [N] in [0, V)
// Returns (logp, entropy), float32 [N] each:
//   logp[i] = z_i[target_i] - logsumexp(z_i),  entropy[i] = logsumexp(z_i) - sum_j p_ij z_ij,
//   z_i = hidden_i lm_head^T computed in the input dtype and upcast to float32.
// Gradients flow to hidden and lm_head (whichever requires grad). Backward recomputes each
// chunk's logits: dz = g_logp (onehot - p) - g_ent p (log p + H); d hidden = dz W, d W = dz^T hidden
// (accumulated in float32 across chunks). Peak extra memory is O(chunk_rows x V).
// Throws std::invalid_argument on shape / dtype mismatch or chunk_rows < 1.
std::pair<at::Tensor, at::Tensor> chunked_logprob_entropy(const at::Tensor& hidden, const at::Tensor& lm_head,
                                                          const at::Tensor& targets, int64_t chunk_rows);

// The reference of the above for tests: full [N, V] float32 logits, log_softmax and entropy through
// plain autograd.
std::pair<at::Tensor, at::Tensor> naive_logprob_entropy(const at::Tensor& hidden, const at::Tensor& lm_head,
                                                        const at::Tensor& targets);

// Positions int64 [T] (0..len-1 within each packed sequence) on `device`, for packed ids int64 [T]
// with lengths `seq_lens`. Throws std::invalid_argument when input_ids is not 1-D, a length is not
// positive, or the lengths do not sum to T.
at::Tensor packed_positions(const at::Tensor& input_ids, const std::vector<int64_t>& seq_lens,
                            const at::Device& device);

// Qwen3Model::forward_hidden with activation checkpointing per decoder layer: each layer runs under
// no_grad in forward (only its input [T, H] is saved) and is recomputed with grad in backward
// (Qwen3Model::layer_forward + packed_attention, the same ops as the plain forward, so values
// are bitwise equal). input_ids int64 [T]; returns final-normed hidden [T, H] in the model dtype.
// The model must outlive the backward pass.
at::Tensor forward_hidden_checkpointed(Qwen3Model& model, const at::Tensor& input_ids,
                                       const std::vector<int64_t>& seq_lens);

}  // namespace gtr
