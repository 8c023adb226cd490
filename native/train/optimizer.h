// AdamW with fp32 master weights, global gradient-norm clipping, gradient accumulation across
// micro-batches, non-finite skip; its state file is a named-tensor safetensors file (io/tensor_io.h).
#pragma once
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>
#include "io/tensor_io.h"

namespace gtr {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;  // decoupled (Loshchilov & Hutter), applied to every parameter
  double max_grad_norm = 1.0;  // <= 0: no clipping
  bool fp32_master = true;     // keep fp32 masters (and fp32 gradient accumulation) for non-fp32 params
};

struct StepResult {
  bool skipped = false;
  std::string reason;    // why the update was skipped ("" when applied)
  double grad_norm = 0;  // global L2 norm before clipping (NaN / inf when non-finite)
  double clip_coef = 1;  // min(1, max_norm / (norm + 1e-6)), as torch.nn.utils.clip_grad_norm_
  double lr = 0;
  int64_t step = 0;  // updates applied so far (after this one)
};

// AdamW exactly as torch.optim.AdamW (foreach=False, amsgrad=False, maximize=False):
//   p <- p (1 - lr wd);  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
//   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// on fp32 masters (when the params are bf16 and fp32_master) that are copied back to the params.
// Moments are fp32. Gradients are taken from the params' .grad after each backward
// (absorb_grads), accumulated in fp32 (or in the param dtype without masters).
class AdamW {
 public:
  AdamW(NamedTensors params, AdamWOptions opt);

  // Moves each param's .grad into the accumulation buffer (adding) and clears .grad.
  void absorb_grads();
  // Drops accumulated and pending gradients.
  void zero_grad();
  bool has_grads() const;
  // The accumulated gradient of each parameter (undefined when none), fp32 or param dtype.
  const std::vector<at::Tensor>& grads() const { return grads_; }
  // Every parameter's accumulation buffer, zeros where no gradient arrived (so every data-parallel
  // rank holds the same list for the all-reduce); fp32 with masters, else the param dtype. A zero
  // gradient updates the moments exactly as an absent one (m b1 + 0, v b2 + 0).
  std::vector<at::Tensor>& materialized_grads();

  // One update with learning rate `lr`. When `skip_reason` is non-empty, or the gradient norm is
  // not finite, nothing is written to the params or moments (bitwise), the step is reported
  // skipped with the reason, and the gradients are dropped either way.
  StepResult step(double lr, const std::string& skip_reason = "");

  int64_t step_count() const { return step_; }
  int64_t skipped_count() const { return skipped_; }
  const NamedTensors& params() const { return params_; }
  // The state as it exists now (undefined entries before the first step), for memory accounting.
  const std::vector<at::Tensor>& exp_avg() const { return exp_avg_; }
  const std::vector<at::Tensor>& exp_avg_sq() const { return exp_avg_sq_; }
  const std::vector<at::Tensor>& masters() const { return master_; }
  // Bytes of the moments and masters allocated now (0 before the first step).
  int64_t state_bytes() const;

  // State tensors in file order: "optimizer.step" int64 [2] = (applied steps, skipped steps), then
  // per param "exp_avg.<name>", "exp_avg_sq.<name>" (fp32, zeros before the first step) and, with
  // masters, "master.<name>" (fp32). Creates moments / masters when missing.
  NamedTensors state_tensors();
  // After state_tensors() were filled in place from a file: restores the counters from them.
  void state_loaded(const NamedTensors& st);

 private:
  void ensure_state();
  bool uses_master(size_t i) const;

  NamedTensors params_;
  AdamWOptions opt_;
  std::vector<at::Tensor> grads_, exp_avg_, exp_avg_sq_, master_;
  int64_t step_ = 0, skipped_ = 0;
};

}  // namespace gtr
