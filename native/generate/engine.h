// The rollout engine: batched autoregressive sampling from a Qwen3Model with a preallocated KV
// cache and continuous batching.
//
// Handled:
// - prompts of different lengths in one call, n samples per prompt (results prompt-major);
// - a KV cache per layer [slots, kv_heads, max_len, head_dim] in the model dtype on the model
//   device, allocated once per call (max_len = longest prompt + max_new_tokens - 1), zeroed;
// - each prompt prefilled once (packed causal forward, several prompts per pass up to a token
//   budget) and its K/V written into every slot admitted for it in that round; samples of the same
//   prompt admitted in later rounds copy positions [0, P) from a live sibling slot. Only when no
//   sibling is live any more (possible when slots < n or slots are scarce) is the prompt prefilled
//   again (counted in stats.prompt_prefills);
// - continuous batching: `slots` sequences at most decode together; a finished sequence's slot is
//   taken by the next waiting sequence (lowest free slot first) at the next step;
// - one decode forward per step over the active slots (model.layer_forward with the cache-writing
//   attention from decode_attention.h), one sampler call over the rows of that step, and one
//   device -> host copy (tokens and log-probs) per step;
// - stop tokens (finish 'stop', the stop token included as the last token) and max_new_tokens
//   ('length'); cancellation between steps; progress reports.
// - GTR_GENERATE_PROFILE=1 in the environment: device-synchronised per-phase times (decode forward
//   and its host enqueue time, lm_head, sampler, copy, prefill) printed to stderr per call.
// Performance notes (H100, Qwen3-1.7B bf16, measured with a libtorch driver): the decode step is
// host-bound on libtorch dispatch (~90 ops per layer); CUDA graphs per (batch, length bucket) are
// the next step. Top-p sorts [rows, vocab] every step (~3 ms at 256 x 151936).
// Not handled: per-sequence sampling options, repetition penalties, beam search, rope scaling,
// positions beyond max_position_embeddings (not checked: RoPE extrapolates as HF would), prefix
// sharing across different prompts. On CUDA the decode step runs native/cuda kernels and CUDA graphs
// (decode_step.h; GTR_KERNELS=ref / GTR_CUDA_GRAPHS=0 turn them off).
//
// Determinism: a sequence's random stream depends only on (seed, prompt index, sample index,
// step) (see sampler.h), so the same call on the same device gives the same tokens. Changing the
// batch composition (slots, other prompts) changes only the floating-point rounding of batched
// matmuls / attention padding; tokens then agree unless a logit difference flips an argmax tie or
// moves a CDF boundary across the row's uniform, after which that sequence diverges.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>
#include "generate/sampler.h"
#include "model/qwen3.h"

namespace gtr {

struct GenerateOptions {
  int64_t n = 1;                     // samples per prompt
  int64_t max_new_tokens = 128;      // >= 1
  SamplerOptions sampler;
  std::vector<int64_t> stop_token_ids;
  uint64_t seed = 0;
  int64_t max_batch = 0;             // slots; 0 = min(total sequences, 256)
  int64_t prefill_tokens = 8192;     // token budget of one packed prefill pass
  bool return_logits = false;        // debug: keep each step's float32 logits per sequence
};

struct SequenceResult {
  int64_t prompt = 0, sample = 0;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // log softmax(logits / T)[token] (T = 1 when greedy)
  bool stopped = false;         // finish 'stop' (else 'length')
  double prefill_ms = 0;        // wall time of the prefill pass that covered this prompt (0 if copied)
  double decode_ms = 0;         // wall time from admission to the last token
  std::vector<float> logits;    // [tokens x vocab] when return_logits
};

struct GenerateStats {
  double wall_ms = 0, prefill_ms = 0, decode_ms = 0, sample_ms = 0;
  int64_t steps = 0, generated_tokens = 0, prefill_tokens = 0, prompt_prefills = 0, slots = 0, max_len = 0;
  // CUDA decode path (decode_step.h): 'kernels' when the native/cuda kernels ran the decode step,
  // graph_steps = steps replayed from CUDA graphs, graphs = graphs captured.
  bool cuda_kernels = false;
  int64_t graph_steps = 0, graphs = 0;
};

struct GenerateOutput {
  std::vector<SequenceResult> sequences;  // prompt-major: index = prompt * n + sample
  GenerateStats stats;
};

struct GenerateProgress {
  int64_t finished = 0, total = 0, generated = 0;
};

struct GenerateHooks {
  std::function<bool()> cancelled;                        // polled between steps
  std::function<void(const GenerateProgress&)> progress;  // called at most every ~100 ms, and once at the end
};

// Runs generation. prompts: non-empty token id lists within the vocabulary (checked by the caller,
// re-checked here). Throws std::runtime_error("generation cancelled") when cancelled.
GenerateOutput run_generate(Qwen3Model& model, const std::vector<std::vector<int32_t>>& prompts,
                            const GenerateOptions& opt, const GenerateHooks& hooks);

}  // namespace gtr
