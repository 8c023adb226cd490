// Token-level RL losses for the trainer, in one name-keyed registry (see loss_registry()).
//
// Every loss is  loss(t) = surrogate(t) + beta_t * P_e(t) + kl_coef * KL_ref(t) - entropy_coef * H(t),
// aggregated over the mini-batch's response tokens (token-mean by default, DAPO). Formulas and
// their sources (docs/GTR.md, the authoritative math of this project; headings quoted below):
// - surrogate "clip": PPO clipped surrogate with clip-higher (eps_low, eps_high) and verl's dual clip
//   (verl/trainer/ppo/core_algos.py compute_policy_loss; docs/GTR.md "Surrogate").
// - surrogate "ratio": -r * A, unclipped (SPO, Xie et al. 2024, which replaces the clip by its penalty).
// - penalty P_e: the mixture anchor of docs/GTR.md "Mixture Gaussian anchor" (paper eq. 5): the mean of
//   phi(r_k) over the behaviour policy (k = 0, old log-probs) and the per-epoch snapshots k = 1..e.
//   phi: gaussian sigma^2 (1 - exp(-(r-1)^2 / (2 sigma^2))) (docs/GTR.md, paper eq. 3 / A.2 eq. 21);
//   pearson (r-1)^2 (A.2 eq. 20); spo |A| / (2 eps) (r-1)^2 (docs/GTR.md); kl: reverse KL
//   r log r - r + 1 (score multiplier f = r log r; A.2 eq. 19); k3: 1/r + log r - 1 (Schulman's k3
//   with the anchor as reference, as GRPO's KL term; f = 1 - 1/r).
// - beta_t: beta ("fixed") or beta * |A| / eps ("advantage", docs/GTR.md "Penalty weight", paper App. B.2).
// - KL_ref: k1 = logp - logp_ref, k2 = 0.5 (logp - logp_ref)^2, k3 = exp(logp_ref - logp) -
//   (logp_ref - logp) - 1 clamped to [-10, 10] (Schulman, "Approximating KL divergence"; verl kl_penalty).
// - aggregation (verl agg_loss): token-mean = sum / denom_tokens; seq-mean-token-mean = sum over
//   sequences of (the sequence's token mean) / denom_seqs; seq-mean-token-sum = sum over sequences
//   of (the sequence's token sum) / denom_seqs. The denominators are the MINI-BATCH's (passed in), so
//   accumulating micro-batch gradients equals one big batch.
// - rollout correction (off-policy samples, docs/GTR.md "Off-policy samples"): with
//   rollout_is_threshold C > 0 the surrogate of each token is multiplied by the detached truncated
//   importance weight w = min(exp(old_logp - rollout_logp), C) between the proximal policy (old_logp,
//   recomputed by the trainer) and the behaviour policy that sampled it (rollout_logp, from the
//   rollout engine): AReaL's decoupled PPO objective (Fu et al. 2025, Sec. 5) with verl's token-level
//   truncated IS (rollout_correction rollout_is=token, rollout_is_threshold; Yao et al. 2025, TIS).
//   Penalties, KL and entropy are not weighted (as in verl, which weights pg_losses only).
// Log-ratios are clamped to [-20, 20] before exp, as verl does (gradients vanish past the clamp).
#pragma once
#include <ATen/ATen.h>
#include <map>
#include <string>
#include <vector>

namespace gtr {

enum class Surrogate { Clip, Ratio };
enum class Penalty { None, Gaussian, Pearson, Spo, ReverseKl, K3 };
enum class BetaMode { Fixed, Advantage };
enum class KlEstimator { K1, K2, K3 };
enum class Aggregation { TokenMean, SeqMeanTokenMean, SeqMeanTokenSum };

// The user-facing loss configuration (src/train/loss-config.ts LossConfig, camelCase there). The
// defaults are the recipe schema's (src/recipe/schema.ts LossSchema, the one source of them); the
// TypeScript side always sends a complete configuration, so these matter only to the lossDebug hook.
struct LossConfig {
  std::string name = "gtr";
  double clip_low = 0.2, clip_high = 0.28;
  double dual_clip = 0;             // 0 = off; otherwise c > 1, applied where A < 0
  std::string penalty;              // "" = the loss's own; only 'ppo' takes any penalty name
  double sigma = 0.2;               // Gaussian width, in ratio units
  double beta = 1.0;                // penalty weight
  std::string beta_mode = "fixed";  // "fixed" | "advantage"
  double penalty_eps = -1;          // eps of beta*|A|/eps and of SPO; < 0 means clip_low
  double kl_coef = 0;               // reference-model KL weight (needs reference log-probs when > 0)
  std::string kl_estimator = "k3";  // "k1" | "k2" | "k3"
  double entropy_coef = 0;          // entropy bonus weight (subtracted)
  std::string aggregation = "token-mean";
  double rollout_is_threshold = 0;  // truncation cap C of the behaviour->proximal weight; 0 = off
};

// One registry entry: what a loss name means.
struct LossSpec {
  Surrogate surrogate;
  bool penalty_from_config;  // true: LossConfig::penalty picks it (default none)
  Penalty penalty;           // used when !penalty_from_config
  const char* doc;
};

// The registry: grpo, ppo, gtr, pearson, spo, kl (see losses.cpp for each entry's doc).
const std::map<std::string, LossSpec>& loss_registry();
// "grpo, ppo, ..." for error messages.
std::string loss_names();

// The penalty registry (the phi of docs/GTR.md "Mixture Gaussian anchor"): the names a LossConfig's
// `penalty` takes, in the order error messages list them. Adding a penalty: an enum value, an entry
// here, and its phi / f in losses.cpp penalty_of().
struct PenaltySpec {
  const char* name;
  Penalty penalty;
  const char* doc;
};
const std::vector<PenaltySpec>& penalty_registry();
// "none, gaussian, ..." for error messages.
std::string penalty_names();

// A validated configuration. Throws std::invalid_argument naming the field at fault; an unknown
// loss name lists the registry's names, an unknown penalty / mode lists the valid ones.
struct ResolvedLoss {
  LossConfig cfg;
  Surrogate surrogate;
  Penalty penalty;
  BetaMode beta_mode;
  KlEstimator kl_estimator;
  Aggregation aggregation;
  double eps;  // resolved penalty eps
};
ResolvedLoss resolve_loss(const LossConfig& cfg);

// Per-token inputs for the selected response tokens (N of them), all 1-D [N] of one floating dtype
// (float32 in training, float64 in the lossDebug hook) on one device.
struct LossInputs {
  at::Tensor logp;                  // current policy log-probs (differentiable)
  at::Tensor old_logp;              // behaviour policy (anchor k = 0)
  std::vector<at::Tensor> anchors;  // snapshots of epochs 1..e (anchors k = 1..e)
  at::Tensor adv;                   // per-token advantage
  at::Tensor ref_logp;              // reference model; undefined when kl_coef == 0
  at::Tensor rollout_logp;          // behaviour policy (the rollout engine's); needed when rollout_is_threshold > 0
  at::Tensor entropy;               // per-token entropy (differentiable); undefined -> no bonus
  at::Tensor seq_ids;               // int64 [N]: local sequence index of each token, in [0, num_seqs)
  int64_t num_seqs = 1;
  double denom_tokens = 1, denom_seqs = 1;  // the mini-batch's response tokens / sequences
};

// The loss and its parts. Scalars are 0-dim tensors of the input dtype; `loss` is differentiable,
// the rest detached. Per-token tensors are detached [N] of the input dtype, for metrics.
struct LossTerms {
  at::Tensor loss, pg_loss, penalty_loss, kl_loss, entropy_bonus;
  at::Tensor ratio, clipped_low, clipped_high, dual_clipped;  // flags as 0/1 floats
  at::Tensor penalty;                                         // P_e(t) (before beta)
  at::Tensor penalty_grad_abs;   // |d P_e / d logp| in closed form (docs/GTR.md "Gaussian trust-region penalty")
  at::Tensor approx_kl;          // k3 of KL(old || new): r - 1 - log r
  at::Tensor ref_kl;             // KL_ref(t) (before kl_coef), empty when unused
  at::Tensor entropy;            // H(t), empty when not given
  at::Tensor rollout_is_weight;  // truncated w(t) = min(exp(old - rollout), C); empty when off
  at::Tensor rollout_is_raw;     // untruncated exp(old - rollout) (for the clip fraction / max); empty when off
};

// Computes the loss of `in` under `loss`. Throws std::invalid_argument when shapes disagree,
// an anchor is missing, ref_logp is missing while kl_coef > 0, or rollout_logp is missing while
// rollout_is_threshold > 0.
LossTerms compute_loss(const ResolvedLoss& loss, const LossInputs& in);

// verl agg_loss over the selected tokens with global denominators (see the header comment).
at::Tensor aggregate(const at::Tensor& x, Aggregation agg, const at::Tensor& seq_ids, int64_t num_seqs,
                     double denom_tokens, double denom_seqs);

}  // namespace gtr
