// Sharded training state (train.sharding), on the ProcessGroup's reduce-scatter and all-gather.
// Source: Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter
// Models" (stages 1-3, sec. 5), and PyTorch FSDP's FlatParameter (one flat, padded, evenly sharded
// buffer per unit; Zhao et al. 2023, "PyTorch FSDP", sec. 3.2).
//
// The trainable parameters are grouped into units (FSDP's wrapping: one unit per decoder layer,
// `model.layers.{i}.*`, and one root unit for the rest: embeddings, final norm, lm_head). A unit's
// parameters, flattened in model order and zero-padded to W x S elements (W = world size), are
// split into W contiguous shards of S elements; rank r owns [r S, (r+1) S). Per unit and rank:
//   master [S] float32: the fp32 master weights, only when the params are bf16 / fp16 and fp32
//     masters are on (fp32 params are their own masters: the shard is read from them at each step);
//     at the full level always (fp32 or the param dtype): the only copy of the weights
//   exp_avg, exp_avg_sq [S] float32: AdamW's moments
//   gradient accumulator [S] float32: the reduce-scattered gradients of the micro-batches so far
//     (both levels: ZeRO-2's gradient partitioning; the full-size local gradients of one micro-batch
//     exist only between its backward and reduce_param_grads / reduce_unit_grads)
// so the optimizer state and the accumulated gradients per rank are 1/W of train.sharding: none's
// (plus padding, < W elements a unit).
// The padding stays exactly zero (zero gradient, zero weight: AdamW leaves it 0).
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include "core/memory.h"
#include "io/tensor_io.h"
#include "parallel/process_group.h"
#include "train/optimizer.h"

namespace gtr {

// none: every rank holds everything (data parallelism, gradients all-reduced);
// optimizer: ZeRO-1/2, masters / moments / gradients sharded: after each micro-batch's backward its
//   gradients are reduce-scattered unit by unit into this rank's shard accumulator (and the
//   full-size .grad freed unit by unit), so a rank holds the full gradient of at most one
//   micro-batch; the updated shards are all-gathered into the whole weights each rank keeps;
// full: ZeRO-3 / FSDP, the parameters sharded too: each unit is all-gathered before its forward and
//   its backward and freed after (per unit; no prefetch of the next unit: on CPU gloo and compute
//   share the cores, so there is nothing to overlap), gradients reduce-scattered in backward.
enum class Sharding { kNone, kOptimizer, kFull };
// Throws std::invalid_argument listing the valid names (none, optimizer, full).
Sharding sharding_from_name(const std::string& name);
const char* sharding_name(Sharding s);

// One FSDP unit: indices into the trainable list, each param's offset / numel in the unit's flat
// space, the unpadded total and the shard size S (total padded up to a multiple of W, over W).
struct FlatUnit {
  std::string name;  // "root" or "layers.{i}"
  std::vector<size_t> idx;
  std::vector<int64_t> offset, numel;
  int64_t total = 0, shard = 0;
  int64_t layer = -1;  // decoder layer index, -1 for the root
};

class ZeroOptimizer {
 public:
  // params: the trainable parameters (full, equal on every rank: call after rank 0's broadcast).
  // Copies this rank's shard of each unit into its masters. Throws std::invalid_argument for
  // Sharding::kNone or mixed parameter devices.
  ZeroOptimizer(NamedTensors params, AdamWOptions opt, std::shared_ptr<dist::ProcessGroup> pg, Sharding level);

  // One AdamW update (the formulas of AdamW::step, on the shards) from the accumulated shard
  // gradients (reduce-scattered per micro-batch by reduce_param_grads at the optimizer level, per
  // unit in backward by reduce_unit_grads at the full level; summed over ranks and micro-batches,
  // which equals the reduce-scatter of the summed local gradients up to float32 summation order).
  // The global norm is the all-reduced sum of the shards' squares (float64), clipping and the skip
  // rule are AdamW::step's; then the updated shards are all-gathered into the parameters (optimizer
  // level, and at the full level for units gathered now). The accumulators are dropped either way.
  StepResult step(double lr, const std::string& skip_reason);

  // full level. gather_unit: all-gathers unit u's shards (cast to the param dtype) into one flat
  // buffer and points the unit's parameter tensors at views of it (Tensor::set_data, so the model,
  // the trainer and the rollout engine see the full weights); release_unit points them at empty
  // tensors again and frees the buffer. Both are collectives when they change anything (every rank
  // calls them in the same order); no-ops at the optimizer level, and release_unit is a no-op while
  // the weights are kept (keep_gathered). gather_all / release_all: every unit (the hybrid engine's
  // reshard before a rollout phase, and after it).
  void gather_unit(size_t u);
  void release_unit(size_t u);
  void gather_all();
  void release_all();
  // Keep every unit gathered until release_all(force) (a memory budget that holds the full weights).
  void set_keep_gathered(bool keep) { keep_ = keep; }
  bool keep_gathered() const { return keep_; }
  // Reduce-scatters unit u's local gradients (one per param of the unit, in unit order; undefined =
  // zeros) through one [W S] float32 flat buffer and adds this rank's shard to the unit's gradient
  // accumulator. A collective.
  void reduce_unit_grads(size_t u, const std::vector<at::Tensor>& grads);
  // optimizer level, after a micro-batch's backward: for each unit in order, its parameters' .grad
  // (undefined = zeros: a rank with an empty or non-finite micro-batch still joins) reduce-scattered
  // by reduce_unit_grads, then the unit's .grad freed. A collective (every rank calls it once per
  // micro-batch, the counts agreed by src/rl/update.ts).
  void reduce_param_grads();
  // Drops the accumulated shard gradients.
  void zero_grad();
  // Bytes of the gathered buffers now (full level; 0 at the optimizer level, whose full weights are
  // the model's own parameters).
  int64_t gathered_bytes() const;

  // The unit of decoder layer i (or of the root with i = -1).
  size_t unit_of_layer(int64_t i) const;
  const std::vector<FlatUnit>& units() const { return units_; }
  // Trainable parameter i (the model's own tensor).
  at::Tensor& param(size_t i) { return params_.at(i).second; }

  // Bytes this rank holds: masters + moments (the trainer state).
  int64_t state_bytes() const;
  // Adds this rank's tensors to a memory report (core/memory.h): gathered unit buffers (gathered,
  // by unit), masters and moments (optimizer), accumulated shard gradients (gradients).
  void count_memory(memory::Counter& c) const;

  int64_t step_count() const { return step_; }
  int64_t skipped_count() const { return skipped_; }
  Sharding level() const { return level_; }
  int rank() const { return pg_->rank(); }
  int world_size() const { return pg_->size(); }
  const std::shared_ptr<dist::ProcessGroup>& group() const { return pg_; }

  // State in file order: "optimizer.step" int64 [2] (applied, skipped), then per unit
  // "zero.<unit>.master", "zero.<unit>.exp_avg", "zero.<unit>.exp_avg_sq" ([S] each).
  NamedTensors state_tensors();
  void state_loaded(const NamedTensors& st);
  // The file metadata: sharding level, rank, world size and the layout (JSON: per unit its name,
  // shard size, master dtype and its parameters' names and shapes), so `gtr checkpoint
  // consolidate` can rebuild the full tensors from the rank files alone.
  std::vector<std::pair<std::string, std::string>> state_metadata() const;

 private:
  NamedTensors params_;
  std::vector<std::vector<int64_t>> shapes_;
  AdamWOptions opt_;
  std::shared_ptr<dist::ProcessGroup> pg_;
  Sharding level_;
  std::vector<FlatUnit> units_;
  std::vector<at::Tensor> master_, exp_avg_, exp_avg_sq_;
  std::vector<at::Tensor> gacc_;          // full: accumulated shard gradients [S] float32 (undefined: none)
  std::vector<at::Tensor> buffers_;       // full: gathered unit buffers [W S] (undefined: released)
  std::vector<memory::Tracked> tracked_;  // full: buffers_ in the memory registry (their peak)
  std::vector<bool> gathered_;
  bool keep_ = false;
  void point_params_at(size_t u, const at::Tensor& flat);
  int64_t step_ = 0, skipped_ = 0;
  bool uses_master(size_t i) const;
  // Unit u's full flat buffer [W S] in the param dtype, from every rank's shard `w` [S].
  at::Tensor gather_flat(size_t u, const at::Tensor& w);
  // A copy of the unit's flat range [lo, lo + S) of the params (zeros in the padding), in `dtype`.
  at::Tensor flat_range(const FlatUnit& u, int64_t lo, at::ScalarType dtype) const;
  // Copies unit u's full weights, all-gathered from every rank's shard `w`, into the parameters.
  void refresh_params(size_t u, const at::Tensor& w);
};

}  // namespace gtr
