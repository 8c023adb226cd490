// The rollout engine's decode step on CUDA (issue 8): one new token per active sequence through
// the Qwen3 layers with the native/cuda kernels (via native/cuda/dispatch.h: decode attention over
// the KV cache, fused add + RMSNorm, q/k RMSNorm, in-place RoPE, SwiGLU, the one-kernel sampler),
// and, unless GTR_CUDA_GRAPHS=0, the whole step (forward, lm_head, sampler) captured in a CUDA
// graph per batch-size bucket.
//
// Used by engine.cpp only when the model is on CUDA, the kernels are enabled (GTR_KERNELS != ref)
// and no debug logits are requested; the CPU path of the engine is untouched.
//
// Graphs: the bucket of B rows is the next of 1, 2, 4, 8, 16, 32, then multiples of 32. Inputs
// (token, position, slot, length, 24-bit uniform per row) are written into a static device buffer
// before each replay (one host -> device copy); padding rows use the scratch slot `pad_slot` (the
// engine allocates one slot more than it schedules), position 0, length 1, so they touch no live
// sequence. The decode attention's split grid is sized by the cache length (a fixed max length
// bucket), so one graph serves every step of a call. Graphs live as long as the engine call (the
// cache tensors they point into are per call); all share one memory pool.
//
// Determinism: the eager kernel path (GTR_CUDA_GRAPHS=0) and the graph run the same kernels with
// the same shapes when B equals a bucket size, so greedy tokens match exactly there; with padding
// the GEMMs see more rows, which may change rounding (cuBLAS picks kernels by shape).
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>
#include "generate/sampler.h"
#include "model/qwen3.h"

namespace gtr {

struct DecodeStepCaches {
  std::vector<at::Tensor> kc, vc;        // [slots + 1, kv, max_len, D] per layer
  std::vector<at::Tensor> kflat, vflat;  // views [-1, D]
  at::Tensor head_offsets;               // int64 [kv] = h * max_len
  int64_t max_len = 0;
  int64_t pad_slot = 0;                  // scratch slot for padding rows
};

// Whether the engine should use the CUDA decode step for this model (CUDA device, kernels on).
bool cuda_decode_available(const Qwen3Model& model);
// Whether decode steps are captured in CUDA graphs (CUDA build, GTR_CUDA_GRAPHS != 0).
bool cuda_graphs_enabled();

class CudaDecodeStep {
 public:
  CudaDecodeStep(Qwen3Model& model, const DecodeStepCaches& caches, const SamplerOptions& sampler);
  ~CudaDecodeStep();

  // Final-normed hidden states [B, H] of one decode step; writes the rows' K/V into the cache.
  // tok, pos, slot, len: int64 [B] on the device (len = pos + 1).
  at::Tensor forward(const at::Tensor& tok, const at::Tensor& pos, const at::Tensor& slot, const at::Tensor& len);

  // Sampler on the kernel path: (tokens int64 [R], logprobs float32 [R]) from hidden [R, H].
  std::pair<at::Tensor, at::Tensor> sample(const at::Tensor& hidden, const at::Tensor& uniforms);

  // A whole decode step (forward, lm_head, sampler) of B rows through the CUDA graph of B's bucket
  // (captured on first use). `packed` holds 5 * B int64: tokens, positions, slots, lengths, uniform24.
  // Returns device (tokens [B], logprobs [B]) views valid until the next replay.
  std::pair<at::Tensor, at::Tensor> graph_step(const std::vector<int64_t>& packed, int64_t B);

  int64_t graphs_captured() const { return captured_; }
  static int64_t bucket(int64_t B);

 private:
  std::pair<at::Tensor, at::Tensor> full_step(const at::Tensor& in, int64_t B);

  Qwen3Model& m_;
  const DecodeStepCaches& c_;
  SamplerOptions s_;
  struct Graph;
  std::map<int64_t, std::unique_ptr<Graph>> graphs_;
  int64_t captured_ = 0;
};

}  // namespace gtr
