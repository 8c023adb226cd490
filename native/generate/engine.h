// The rollout engine: batched autoregressive sampling from a Qwen3Model with a paged KV cache and
// continuous batching (design after nano-vllm's engine and block manager and vLLM's PagedAttention;
// notes in docs/ROLLOUT.md).
//
// KV memory: one pool per call, `num_blocks` blocks of `block_size` tokens, per layer K and V
// [num_blocks, block_size, kv_heads, head_dim] (NHD) in the model dtype on the model device, zeroed
// once (masked reads must see finite values). Block 0 is the null block (never allocated; padding
// rows write there). Each running sequence owns a row ("slot") of the block table
// [max_num_seqs + 1, W] int32 (W = ceil((longest prompt + max_new_tokens) / block_size)); the last row
// is all null, for padding. The pool's size comes from a byte budget (`kv_cache_bytes`) or a block
// count; the default holds every sequence at full length (nothing is ever preempted).
//
// An engine step is schedule / run / postprocess:
// - schedule: running sequences that cross into a new block get one; when none is free, running
//   sequences are preempted (the one with the fewest generated tokens first, ties to the highest
//   (prompt, sample)) until the rest fit: their blocks are freed and they wait at the front of the
//   queue. Then waiting sequences are admitted in order while the pool keeps a reserve for the
//   running ones' growth (SGLang's new-token ratio: rho x max_new_tokens still to come per row,
//   rho from 0.7 decaying to 0.14 over 600 steps, raised after a preemption) and a 1% watermark.
//   Decisions use token and block counts only, never time or free device memory, so the same
//   call with the same budget on the same device gives the same tokens.
// - run: prefill passes for newly admitted prompts and resumed sequences (packed causal forward,
//   several per pass up to `prefill_tokens`), then one decode forward over the running rows (the
//   K/V of each row's pending token written through its block table) and one sampler call over
//   every row of the step; one device -> host copy.
// - postprocess: append tokens, detect stops (stop ids, stop strings matched on the token bytes),
//   free finished sequences' blocks.
//
// Prefix sharing: a prompt is prefilled once per call. Its full blocks are written once and shared
// by reference count among its n samples; its last partial block is written into each admitted
// sample's private block. When samples of a prompt remain unadmitted after a round, the prompt
// (its group) keeps a reference to the full blocks plus a copy of the partial block and the last
// hidden state, and later samples copy from that (block copy, no prefill).
//
// Preemption is by recomputation: a resumed sequence prefills prompt + generated tokens into fresh
// blocks and samples its next token from the last hidden state. Its random stream is keyed on
// (seed, prompt, sample, tokens generated so far) (sampler.h), so it draws exactly the uniforms it
// would have drawn without preemption; only the recomputed K/V may round differently (prefill
// GEMMs see other shapes than decode), the class of difference batch composition already causes.
//
// Stop strings: `token_bytes[id]` is the byte string of token id (byte-level BPE), so a sample's
// text is the concatenation of its tokens' bytes; a sample stops ('stop') at the token that
// completes the first occurrence of any stop string; `stop_offset` is that occurrence's byte
// offset in the response (-1 when it stopped on a stop token or length).
//
// CUDA: the decode step runs native/cuda kernels (the paged flash-decoding attention reads K/V
// through the block table) and CUDA graphs per batch bucket over the static table (decode_step.h;
// GTR_KERNELS=ref / GTR_CUDA_GRAPHS=0 turn them off). CPU and the reference path gather K/V rows
// from the pool by the block table and run SDPA (native/ops/decode_attention.h).
//
// Debug switches: `check_blocks` (GTR_KV_DEBUG=1) checks the allocator's invariants against the
// tables every step and at the end; `preempt_every` = k forces a preemption every k steps (tests).
// GTR_GENERATE_PROFILE=1 prints device-synchronised per-phase times to stderr.
// Not handled: per-sequence sampling options, repetition penalties, beam search, rope scaling,
// prefix sharing across different prompts.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include "ops/sampler.h"
#include "model/qwen3.h"

namespace gtr {

struct GenerateOptions {
  int64_t n = 1;                 // samples per prompt
  int64_t max_new_tokens = 128;  // >= 1
  SamplerOptions sampler;
  std::vector<int64_t> stop_token_ids;
  uint64_t seed = 0;
  // Added to each prompt's index in the random stream (sequence_uniform24), so a data-parallel rank
  // that samples prompts [offset, offset + P) of a global batch draws exactly their streams.
  int64_t prompt_index_offset = 0;
  int64_t max_num_seqs = 0;               // running sequences at most (table rows); 0 = min(total sequences, 256)
  int64_t prefill_tokens = 8192;          // token budget of one packed prefill pass
  bool return_logits = false;             // debug: keep each step's float32 logits per sequence
  int64_t block_size = 32;                // tokens per KV block, a power of two in [1, 1024]
  double kv_cache_bytes = 0;              // KV pool budget in bytes; 0 = kv_cache_blocks, or unbounded
  int64_t kv_cache_blocks = 0;            // KV pool size in allocatable blocks (overrides kv_cache_bytes); 0 = unset
  std::vector<std::string> stop_strings;  // matched on the generated bytes (needs token_bytes)
  std::shared_ptr<const std::vector<std::string>> token_bytes;  // [vocab] bytes of each token id
  bool check_blocks = false;  // debug: allocator invariants every step (GTR_KV_DEBUG=1 also sets it)
  int64_t preempt_every = 0;  // test hook: preempt one running sequence every k steps; 0 = off
  // Benchmarks: per-sequence length caps (prompt-major, prompts x n; each in [1, max_new_tokens]),
  // standing in for EOS with random weights (nano-vllm's bench.py ignore_eos + random max_tokens).
  std::vector<int64_t> target_lengths;
  // Benchmarks: schedule only. Blocks are allocated, shared, preempted and freed exactly as in a
  // real call, but no model runs and no pool is allocated; every sampled token is 0 and its
  // log-prob 0. With target_lengths this measures a shape's KV memory in seconds on any machine.
  bool dry_run = false;
};

// Bytes of one KV block of `model`: layers x 2 (K, V) x block_size x kv_heads x head_dim x dtype size.
int64_t kv_block_bytes(const Qwen3Model& model, int64_t block_size);

struct SequenceResult {
  int64_t prompt = 0, sample = 0;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // log softmax(logits / T)[token] (T = 1 when greedy)
  bool stopped = false;         // finish 'stop' (else 'length')
  int64_t stop_offset = -1;     // stop string: byte offset of its match in the response; else -1
  int64_t preemptions = 0;      // times this sequence was preempted and recomputed
  double prefill_ms = 0;        // wall time of the prefill pass that covered this prompt (0 if copied)
  double decode_ms = 0;         // wall time from admission to the last token
  std::vector<float> logits;    // [tokens x vocab] when return_logits
};

struct GenerateStats {
  double wall_ms = 0, prefill_ms = 0, decode_ms = 0;
  int64_t steps = 0, generated_tokens = 0, prefill_tokens = 0, prompt_prefills = 0, slots = 0, max_len = 0;
  // Paged KV cache: pool size (allocatable blocks, block size, bytes), blocks in use at the peak
  // and at the end (0 unless a bug leaked some), preemptions and the resume prefills they caused,
  // and the running rows summed over decode steps (mean running = decode_rows / steps).
  int64_t kv_blocks = 0, block_size = 0, kv_bytes = 0, peak_blocks = 0, blocks_in_use_end = 0;
  int64_t preemptions = 0, resume_prefills = 0, decode_rows = 0;
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
