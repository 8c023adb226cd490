// Raw-pointer host launchers of the GTR-RL CUDA kernels (defined in native/cuda/*.cu, built only
// with CUDA). This header needs only cuda_runtime_api.h, so the .cu files compile with a bare nvcc
// and the at::Tensor glue (kernels.cpp) includes it. Every launcher enqueues on `stream`, does no
// host synchronisation and no allocation (CUDA-graph capturable), and returns the launch error.
// dtype codes: 0 = float32, 1 = bfloat16. Pointers are device pointers; strides are in elements.
#pragma once
#include <cuda_runtime_api.h>
#include <cstdint>

namespace gtr {
namespace cuda {
namespace raw {

enum DType : int { kF32 = 0, kBF16 = 1 };

// Decode attention over a KV cache (one new query token per sequence), flash-decoding style:
// grid (splits, kv_heads, B), each block reduces all G = heads / kv_heads query heads of one KV
// head over one split of the sequence with an online softmax; a combine kernel merges the splits.
//   q: [B, heads, D] (strides q_sb, q_sh; last dim contiguous)
//   k, v: cache viewed as [num_slots, kv_heads, capacity, D] with strides (s_slot, s_head, s_pos), last dim contiguous
//   slot_ids, lengths: int32 [B]; sequence b attends to positions [0, lengths[b]) of slot slot_ids[b]
//   paged (block_table != nullptr): k, v are pools [num_blocks, block_size, kv_heads, D] with strides
//     (s_slot = per block, s_pos = per token in a block, s_head); position p of row b lives at block
//     block_table[slot_ids[b] * bt_stride + (p >> block_shift)], offset p & ((1 << block_shift) - 1)
//     (vLLM's PagedAttention addressing; one table lookup per key, an L1 hit within a block)
//   out: [B, heads, D] contiguous, q's dtype
//   part_acc: float [B, heads, splits, D], part_ml: float [B, heads, splits, 2] (only when splits > 1)
// Supported: D in {64, 128} (and 256 for bf16), G in {1, 2, 4, 8}; `decode_attention_supported` says.
struct DecodeAttnArgs {
  const void* q;
  int64_t q_sb, q_sh;
  const void* k;
  int64_t k_sslot, k_shead, k_spos;
  const void* v;
  int64_t v_sslot, v_shead, v_spos;
  const int32_t* slot_ids;
  const int32_t* lengths;
  const int32_t* block_table;
  int64_t bt_stride;
  int block_shift;  // paged; nullptr = contiguous
  void* out;
  float* part_acc;
  float* part_ml;
  int B, heads, kv_heads, D, splits, split_len;
  float scale;
  int dtype;
};
bool decode_attention_supported(int dtype, int D, int G);
cudaError_t decode_attention(const DecodeAttnArgs& a, cudaStream_t stream);

// out = rms_norm(x + residual) * weight over rows of H (HF Qwen3RMSNorm rounding); when residual is
// non-null it is overwritten with x + residual (rounded to dtype). x, residual, out: [rows, H]
// contiguous (out may alias x); weight [H]. Needs H % (16 / sizeof(dtype)) == 0 and H <= 32768.
cudaError_t add_rms_norm(void* x, void* residual, const void* weight, void* out, int64_t rows, int H, float eps,
                         int dtype, cudaStream_t stream);

// In-place RoPE (rotate_half form) on q [T, hq, D] and k [T, hk, D] (contiguous) with cos / sin
// float32 [T, D] (rope_tables). Rounds like the libtorch reference (x*cos and rot*sin in dtype).
cudaError_t rope_inplace(void* q, void* k, const float* cos, const float* sin, int64_t T, int hq, int hk, int D,
                         int dtype, cudaStream_t stream);

// out[r, i] = silu(gate[r, i]) * up[r, i] for rows r < rows, i < I; gate/up row strides in
// elements (a fused [rows, 2I] gate_up passes gate = base, up = base + I, stride 2I). out [rows, I].
cudaError_t swiglu(const void* gate, const void* up, int64_t g_stride, int64_t u_stride, void* out, int64_t rows, int I,
                   int dtype, cudaStream_t stream);

// Sampling from logits [B, V] (row stride ld; dtype float32 or bf16), one block per row:
// z = logits / temperature; keep z >= max(k-th largest z (top_k > 0), top-p cut over the top-k
// survivors (top_p < 1), max z + log(min_p) (min_p > 0)); token = smallest index whose inclusive
// cumulative kept mass (index order) exceeds uniforms[b] * kept mass. temperature <= 0: argmax.
// tokens int64 [B]; logprobs float [B] = log softmax(z)[token] (unfiltered; temperature 1 when greedy).
cudaError_t sample_tokens(const void* logits, int64_t ld, int B, int V, float temperature, int top_k, float top_p,
                          float min_p, const float* uniforms, int64_t* tokens, float* logprobs, int dtype,
                          cudaStream_t stream);

// Per row of logits [N, V] (row stride ld): lse = logsumexp, logprob = z[target] - lse,
// entropy = lse - sum softmax(z) * z. One pass over the row. targets int64 [N] (a negative
// target gives logprob 0). Outputs float [N].
cudaError_t logprob_entropy(const void* logits, int64_t ld, const int64_t* targets, int64_t N, int V, float* logprob,
                            float* entropy, float* lse, int dtype, cudaStream_t stream);

// Gradient of sum(g_lp * logprob + g_ent * entropy) w.r.t. logits: with p = exp(z - lse),
// grad[j] = g_lp * ([j == target] - p_j) - g_ent * p_j * (z_j - lse + entropy). grad [N, V]
// contiguous, logits' dtype. g_lp / g_ent float [N] (either may be null = 0).
cudaError_t logprob_entropy_backward(const void* logits, int64_t ld, const int64_t* targets, const float* lse,
                                     const float* entropy, const float* g_lp, const float* g_ent, int64_t N, int V,
                                     void* grad, int dtype, cudaStream_t stream);

}  // namespace raw
}  // namespace cuda
}  // namespace gtr
