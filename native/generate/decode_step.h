// The rollout engine's decode step on CUDA: one new token per active sequence through the Qwen3
// layers with the native/cuda kernels (via native/cuda/dispatch.h: paged decode attention through
// the block table, fused add + RMSNorm, q/k RMSNorm, in-place RoPE, SwiGLU, the one-kernel sampler),
// and, unless GTR_CUDA_GRAPHS=0, the whole step (forward, lm_head, sampler) captured in a CUDA
// graph per batch-size bucket.
//
// Used by engine.cpp only when the model is on CUDA, the kernels are enabled (GTR_KERNELS != ref)
// and no debug logits are requested; the CPU path of the engine is untouched.
//
// Graphs: the bucket of B rows is the next of 1, 2, 4, 8, 16, 32, then multiples of 32. Inputs
// (token, position, write row, table row, length, 24-bit uniform per row) are written into a static
// device buffer before each replay (one host -> device copy); the block table is a static device
// tensor the engine updates in place before the replay. Padding rows use table row `pad_slot`
// (all null blocks), write row 0 (the null block), position 0, length 1, so they touch no live
// sequence. The decode attention's split grid is sized by the cache length (fixed per call), so
// one graph serves every step of a call. Graphs live as long as the engine call (the pool and
// table they point into are per call); all share one memory pool.
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
#include "ops/sampler.h"
#include "model/qwen3.h"

namespace gtr {

struct DecodeStepCaches {
  std::vector<at::Tensor> k, v;          // per layer pool [blocks, block_size, kv, D]
  std::vector<at::Tensor> krows, vrows;  // per layer views [blocks * block_size, kv, D] (token rows)
  at::Tensor block_table;                // int32 [slots + 1, W] on the device
  int64_t block_size = 0;
  int64_t cache_len = 0;  // longest sequence of the call (sizes the split grid)
  int64_t pad_slot = 0;   // table row of padding rows (all null blocks)
};

// Whether the engine should use the CUDA decode step for this model (CUDA device, kernels on).
bool cuda_decode_available(const Qwen3Model& model);
// Whether decode steps are captured in CUDA graphs (CUDA build, GTR_CUDA_GRAPHS != 0).
bool cuda_graphs_enabled();

class CudaDecodeStep {
 public:
  CudaDecodeStep(Qwen3Model& model, const DecodeStepCaches& caches, const SamplerOptions& sampler);
  ~CudaDecodeStep();

  // Final-normed hidden states [B, H] of one decode step; writes the rows' K/V into the pool.
  // tok, pos, write (pool token row of position pos), slot (table row), len: int64 [B] on the
  // device (len = pos + 1).
  at::Tensor forward(const at::Tensor& tok, const at::Tensor& pos, const at::Tensor& write, const at::Tensor& slot,
                     const at::Tensor& len);

  // Sampler on the kernel path: (tokens int64 [R], logprobs float32 [R]) from hidden [R, H].
  std::pair<at::Tensor, at::Tensor> sample(const at::Tensor& hidden, const at::Tensor& uniforms);

  // A whole decode step (forward, lm_head, sampler) of B rows through the CUDA graph of B's bucket
  // (captured on first use). `packed` holds 6 * B int64: tokens, positions, write rows, table rows,
  // lengths, uniform24.
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
