// The training engine behind the `Trainer` ObjectWrap: no-grad scoring, micro-batch loss and
// backward with gradient accumulation, AdamW steps, per-step metrics, state save / load.
// Packed layout everywhere: sequences end to end, per-token arrays aligned with the tokens;
// value i of a per-token array is about token i as predicted from tokens [< i] of its sequence
// (so a sequence's first token never carries a log-prob and must not be in the response mask).
#pragma once
#include "parallel/process_group.h"
#include <ATen/ATen.h>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "core/memory.h"
#include "policy/policy_handle.h"
#include "train/losses.h"
#include "train/optimizer.h"
#include "train/zero.h"

namespace gtr {

struct TrainerOptions {
  AdamWOptions adamw;
  int64_t logprob_chunk = 1024;  // rows of logits per chunk (memory O(chunk x vocab))
  bool checkpoint_layers = false;
  // train.sharding (train/zero.h). none: the AdamW below, bitwise as before.
  Sharding sharding = Sharding::kNone;
  // full: keep the gathered weights between rollout phases (a memory budget that holds them);
  // false: release them after each (gather_weights / release_weights).
  bool keep_gathered = false;
};

// A packed batch on the CPU: ids int64 [T], lens (sum T), mask bool [T] (response tokens).
struct PackedInput {
  at::Tensor ids;
  std::vector<int64_t> lens;
  at::Tensor mask;
};

// One micro-batch of a training step. Per-token float32 CPU tensors [T] (values at non-response
// positions are ignored); anchors = snapshot log-probs of epochs 1..e; denominators are the
// mini-batch's response-token and sequence counts (verl agg_loss with global normalisation).
struct MicroBatchInput {
  PackedInput batch;
  at::Tensor adv, old_logp, ref_logp, rollout_logp;
  std::vector<at::Tensor> anchors;
  double denom_tokens = 0, denom_seqs = 0;
};

using Metrics = std::vector<std::pair<std::string, double>>;

// Checks `mask` against `lens` and returns the response positions p (int64 [N]) and the local
// sequence index of each (int64 [N]). Throws std::invalid_argument naming the position when a
// sequence's first token is marked, or when sizes disagree.
std::pair<at::Tensor, at::Tensor> response_positions(const PackedInput& b);

class Trainer {
 public:
  // `reference` may be null (no reference-model KL). Throws when the policy was disposed.
  Trainer(std::shared_ptr<PolicyHandle> policy, std::shared_ptr<PolicyHandle> reference, TrainerOptions opt);

  // No-grad log-probs and entropies of `b` under the policy (or the reference), through the same
  // forward + chunked path as training, so a ratio against them is exactly 1 before any update.
  // Returns float32 CPU [T] each, 0 outside the mask. Locks the scored policy's mutex.
  std::pair<at::Tensor, at::Tensor> logprobs(const PackedInput& b, bool reference);

  // Forward, loss, backward; gradients accumulate until step(). A non-finite loss is not
  // backpropagated and poisons the step (it is skipped). Returns the micro-batch's metrics.
  Metrics train_micro_batch(const MicroBatchInput& mb, const ResolvedLoss& loss);

  // One AdamW update at `lr` from the accumulated gradients, then the step's merged metrics
  // (every micro-batch since the last step / zero_grad) plus gradNorm, clipCoef, skipped, lr, step.
  Metrics step(double lr, std::string* skip_reason);
  void zero_grad();

  // Optimizer moments (+ fp32 masters), step counters and RNG states (see optimizer.h for the
  // tensor names). Throws when gradients are pending (save between steps).
  void save_state(const std::string& path);
  void load_state(const std::string& path);
  // The accumulated gradients (test hook), by parameter name; float32 CPU copies.
  NamedTensors gradients();

  // Data parallelism: with a group of more than one rank, the policy's parameters are broadcast from
  // rank 0 now, and every step() all-reduces (sums) the accumulated gradients in buckets before
  // clipping, agrees on skipping when any rank's loss was non-finite, and reduces the step's
  // metrics over ranks (so they equal one process's on the same global batch). The loss
  // denominators passed to train_micro_batch must then be the global ones. nullptr: single process.
  void set_process_group(std::shared_ptr<dist::ProcessGroup> pg);
  // Checks that every rank holds bitwise rank 0's weights (rank 0's are broadcast and compared with
  // at::equal; the verdict is agreed over ranks). Throws naming the first differing parameter and
  // the ranks that differ. A no-op without a group.
  void verify_replicas();

  // What this rank holds now, by walking the tensors (core/memory.h): the policy's parameters and
  // adapters (weights, by dtype), the reference policy's (reference), the accumulated and pending
  // gradients (gradients, by dtype), AdamW's masters and moments (optimizer: master, exp_avg,
  // exp_avg_sq; created at the first step), plus the registered categories (gathered, kv_pool).
  // Each storage counted once. Waits for a running step (takes the policies' mutexes).
  memory::Counter memory();
  // Bytes of this rank's optimizer state: AdamW's moments and fp32 masters as allocated now (none),
  // or this rank's shards of them (optimizer, full; at full the masters are the only weights).
  int64_t state_bytes();
  // full: bytes of the gathered full-weight buffers now (0 at the other levels).
  int64_t gathered_bytes();
  // full: gathers every unit into the policy's parameter tensors (the hybrid engine's reshard
  // before a rollout phase, an evaluation or a checkpoint's weights) / frees them again (a no-op
  // with keep_gathered). Collectives: every rank calls them together. No-ops at the other levels.
  void gather_weights();
  void release_weights();
  // full: the collectives of one micro-batch (train = forward + backward, else the scoring
  // forward) with no tokens, for a rank with fewer micro-batches than another (src/rl/update.ts
  // matches the counts). optimizer: with train, the micro-batch's gradient reduce-scatter with zero
  // gradients (ZeroOptimizer::reduce_param_grads). A no-op otherwise.
  void idle_micro_batch(bool train);
  Sharding sharding() const { return opt_.sharding; }

  int64_t step_count() const { return step_count_.load(); }
  int64_t vocab_size() const { return model_->config().vocab_size; }
  at::Device device() const { return model_->device(); }
  const TrainerOptions& options() const { return opt_; }

 private:
  std::shared_ptr<Qwen3Model> model_checked() const;
  NamedTensors state_layout();

  struct Accum {
    double loss = 0, pg = 0, pen = 0, kl = 0, ent_bonus = 0;
    std::vector<at::Tensor> ratio, clow, chigh, dual, pen_tok, pen_grad, akl, refkl, ent, is_w, is_raw;
    int64_t tokens = 0, seqs = 0, micro = 0;
    void add(const LossTerms& t, double loss_value);
    Metrics summarize() const;
  };

  std::shared_ptr<PolicyHandle> policy_, reference_;
  std::shared_ptr<Qwen3Model> model_;
  TrainerOptions opt_;
  AdamW adamw_;
  Accum accum_;
  std::string poison_;
  std::shared_ptr<dist::ProcessGroup> pg_;
  // The sharded state (train.sharding optimizer / full); null with none. Its group is pg_, or a
  // world of one before set_process_group.
  std::unique_ptr<ZeroOptimizer> zero_;
  void make_zero(std::shared_ptr<dist::ProcessGroup> group);
  // Creates the sharded state over a world of one when no group was set (sharded levels only).
  void ensure_zero();
  // Sums the gradients (unless sharded: the ZeroOptimizer reduce-scatters them) and merges the
  // metric accumulators of every rank (in rank order).
  void reduce_over_ranks();
  std::atomic<int64_t> step_count_{0};
};

}  // namespace gtr
