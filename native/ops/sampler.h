// Token sampling for the rollout engine: the one libtorch sampler (CPU, and CUDA wherever the
// kernel in native/cuda/sampler.cu does not apply), and the reference that kernel must equal. It
// sits below both (native/ops): the engine (native/generate) and the kernels' dispatch and tests
// (native/cuda) include it; native/cuda includes nothing of native/generate.
// Which tokens survive is Hugging Face transformers' logits processors (generation/logits_process.py)
// in their order: z = logits / T (TemperatureLogitsWarper); top-k keeps z >= the k-th largest z
// (TopKLogitsWarper, ties kept); top-p keeps, among the top-k survivors in descending order, every
// token the mass before which is < top_p of their mass (TopPLogitsWarper, min_tokens_to_keep = 1);
// min-p keeps z >= max z + log(min_p) (MinPLogitsWarper: prob >= min_p * max prob). As thresholds:
// keep z >= max(t_k, t_p, t_m), ties at a threshold kept. temperature 0 is greedy argmax (lowest
// index on ties; no warper applies). Disabled values: top_k 0, top_p 1, min_p 0.
//
// Randomness: one uniform per (row, step), drawn by the caller from a counter-based hash of
// (seed, prompt index, sample index, step) (sequence_uniform24), so a sequence's stream never
// depends on which other sequences share the batch. The token is the inverse CDF of the kept
// distribution at that uniform, cumulated in vocabulary order in float32, as the CUDA kernel does,
// so CPU, the libtorch fallback and the kernel draw the same token for the same seed (up to the
// rounding of the cumulative sum at a boundary).
//
// Returned log-prob: log softmax(logits / T)[token], the temperature-scaled, *untruncated*
// distribution (what RL trainers recompute); log softmax(logits)[token] at temperature 0.
//
// Padded vocabulary: with SamplerOptions::vocab = n, only ids < n are drawn and take part in the
// warpers (as if the row ended at n); the returned log-prob stays log softmax over every id, as the
// trainer computes it. NaN logits: a row holding a NaN (among its first n) gets token -1 and log-prob NaN on
// every path (this sampler, the CUDA kernel, CUDA graphs), and the engine stops with an error naming
// the sequence; no token is drawn from a NaN row.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <utility>

namespace gtr {

struct SamplerOptions {
  double temperature = 1.0;  // >= 0; 0 = greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // (0, 1]; 1 = off
  double min_p = 0.0;        // [0, 1]; 0 = off
  // Ids >= vocab are never sampled and take no part in the warpers (the returned log-prob is still
  // over every id): the rows of a padded embedding past the tokenizer (Qwen3: 151936 rows, 151669
  // tokens). 0 = every id.
  int64_t vocab = 0;
};

struct SampleOut {
  at::Tensor tokens;    // int64 [B], on the logits' device
  at::Tensor logprobs;  // float32 [B]
};

// A 24-bit uniform integer for (seed, prompt, sample, step) (splitmix64 chain); u = value / 2^24.
uint32_t sequence_uniform24(uint64_t seed, int64_t prompt, int64_t sample, int64_t step);

// logits floating [B, V] (computed in float32); uniforms float32 [B] in [0, 1) (ignored when greedy).
// tokens are -1 (log-prob NaN) for rows holding a NaN. Throws c10::Error on bad shapes.
SampleOut sample_tokens(const at::Tensor& logits, const SamplerOptions& opt, const at::Tensor& uniforms);

// The largest entries of each row of non-negative weights w [B, V], in descending order: (values,
// indices) [B, k], with k the first of 64, 256, 1024, ... (capped at V) whose entries hold at least
// `fraction` of every row's total. Top-p needs only these, so no path sorts the vocabulary (a
// full sort of [256, 151936] every decode step is the cost avoided; not timed here).
std::pair<at::Tensor, at::Tensor> top_mass(const at::Tensor& w, double fraction);

// Which tokens the warpers keep: bool [B, V] (all true for greedy / no truncation); logits floating
// [B, V]. The tests compare it with a reimplementation of transformers' warpers.
at::Tensor kept_mask(const at::Tensor& logits, const SamplerOptions& opt);

}  // namespace gtr
