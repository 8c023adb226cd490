#include "train/losses.h"
#include <cmath>
#include <stdexcept>

namespace gtr {

const std::map<std::string, LossSpec>& loss_registry() {
  static const std::map<std::string, LossSpec> reg = {
      {"grpo",
       {Surrogate::Clip, false, Penalty::None,
        "GRPO / DAPO: PPO clipped surrogate (clip-higher, optional dual clip), no trust-region penalty"}},
      {"ppo",
       {Surrogate::Clip, true, Penalty::None,
        "PPO clipped surrogate plus the penalty named by `penalty` (see penalty_registry())"}},
      {"gtr",
       {Surrogate::Clip, false, Penalty::Gaussian,
        "GTR: clipped surrogate + beta * mixture-anchored Gaussian penalty (docs/GTR.md, paper eq. 6)"}},
      {"pearson",
       {Surrogate::Clip, false, Penalty::Pearson,
        "clipped surrogate + beta * mixture-anchored Pearson chi^2 penalty (r-1)^2"}},
      {"spo",
       {Surrogate::Ratio, false, Penalty::Spo, "SPO: unclipped -r*A + beta * |A|/(2 eps) (r-1)^2, mixture-anchored"}},
      {"kl",
       {Surrogate::Clip, false, Penalty::ReverseKl,
        "clipped surrogate + beta * mixture-anchored reverse-KL penalty r log r - r + 1 to the behaviour policy"}},
  };
  return reg;
}

std::string loss_names() {
  std::string s;
  for (const auto& [name, spec] : loss_registry()) s += (s.empty() ? "" : ", ") + name;
  return s;
}

const std::vector<PenaltySpec>& penalty_registry() {
  static const std::vector<PenaltySpec> reg = {
      {"none", Penalty::None, "no trust-region penalty"},
      {"gaussian", Penalty::Gaussian, "sigma^2 (1 - exp(-(r-1)^2 / (2 sigma^2))) (paper eq. 3 / 21)"},
      {"pearson", Penalty::Pearson, "(r-1)^2 (Pearson chi^2, paper A.2 eq. 20)"},
      {"spo", Penalty::Spo, "|A| / (2 eps) (r-1)^2 (SPO)"},
      {"kl", Penalty::ReverseKl, "r log r - r + 1 (reverse KL to the anchor, paper A.2 eq. 19)"},
      {"k3", Penalty::K3, "1/r + log r - 1 (Schulman's k3 with the anchor as reference)"},
  };
  return reg;
}

std::string penalty_names() {
  std::string s;
  for (const auto& p : penalty_registry()) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

static Penalty parse_penalty(const std::string& s) {
  for (const auto& p : penalty_registry())
    if (s == p.name) return p.penalty;
  throw std::invalid_argument("loss.penalty: unknown penalty '" + s + "' (valid: " + penalty_names() + ")");
}

static const char* penalty_name(Penalty p) {
  for (const auto& e : penalty_registry())
    if (e.penalty == p) return e.name;
  return "?";
}

ResolvedLoss resolve_loss(const LossConfig& cfg) {
  const auto& reg = loss_registry();
  auto it = reg.find(cfg.name);
  if (it == reg.end())
    throw std::invalid_argument("loss.name: unknown loss '" + cfg.name + "' (valid: " + loss_names() + ")");
  ResolvedLoss r;
  r.cfg = cfg;
  r.surrogate = it->second.surrogate;
  if (it->second.penalty_from_config) {
    r.penalty = cfg.penalty.empty() ? Penalty::None : parse_penalty(cfg.penalty);
  } else {
    r.penalty = it->second.penalty;
    if (!cfg.penalty.empty() && parse_penalty(cfg.penalty) != r.penalty)
      throw std::invalid_argument("loss.penalty: loss '" + cfg.name + "' uses the '" + penalty_name(r.penalty) +
                                  "' penalty; use loss 'ppo' to choose penalty '" + cfg.penalty + "'");
  }
  auto finite_nonneg = [](double v, const char* f) {
    if (!std::isfinite(v) || v < 0)
      throw std::invalid_argument(std::string("loss.") + f + " must be a finite number >= 0");
  };
  finite_nonneg(cfg.clip_low, "clipLow");
  finite_nonneg(cfg.clip_high, "clipHigh");
  if (cfg.clip_low >= 1)
    throw std::invalid_argument("loss.clipLow must be < 1 (the ratio's lower bound is 1 - clipLow)");
  if (!std::isfinite(cfg.dual_clip) || (cfg.dual_clip != 0 && cfg.dual_clip <= 1))
    throw std::invalid_argument("loss.dualClip must be 0 (off) or > 1, got " + std::to_string(cfg.dual_clip));
  if (!std::isfinite(cfg.sigma) || cfg.sigma <= 0) throw std::invalid_argument("loss.sigma must be > 0");
  finite_nonneg(cfg.beta, "beta");
  finite_nonneg(cfg.kl_coef, "klCoef");
  if (!std::isfinite(cfg.entropy_coef)) throw std::invalid_argument("loss.entropyCoef must be finite");
  if (!std::isfinite(cfg.rollout_is_threshold) || cfg.rollout_is_threshold < 0 ||
      (cfg.rollout_is_threshold > 0 && cfg.rollout_is_threshold < 1))
    throw std::invalid_argument("loss.rolloutIsThreshold must be 0 (off) or >= 1, got " +
                                std::to_string(cfg.rollout_is_threshold));
  if (cfg.beta_mode == "fixed")
    r.beta_mode = BetaMode::Fixed;
  else if (cfg.beta_mode == "advantage")
    r.beta_mode = BetaMode::Advantage;
  else
    throw std::invalid_argument("loss.betaMode: unknown mode '" + cfg.beta_mode + "' (valid: fixed, advantage)");
  if (cfg.kl_estimator == "k1")
    r.kl_estimator = KlEstimator::K1;
  else if (cfg.kl_estimator == "k2")
    r.kl_estimator = KlEstimator::K2;
  else if (cfg.kl_estimator == "k3")
    r.kl_estimator = KlEstimator::K3;
  else
    throw std::invalid_argument("loss.klEstimator: unknown estimator '" + cfg.kl_estimator + "' (valid: k1, k2, k3)");
  if (cfg.aggregation == "token-mean")
    r.aggregation = Aggregation::TokenMean;
  else if (cfg.aggregation == "seq-mean-token-mean")
    r.aggregation = Aggregation::SeqMeanTokenMean;
  else if (cfg.aggregation == "seq-mean-token-sum")
    r.aggregation = Aggregation::SeqMeanTokenSum;
  else
    throw std::invalid_argument("loss.aggregation: unknown mode '" + cfg.aggregation +
                                "' (valid: token-mean, seq-mean-token-mean, seq-mean-token-sum)");
  r.eps = cfg.penalty_eps < 0 ? cfg.clip_low : cfg.penalty_eps;
  if (!std::isfinite(r.eps) || r.eps <= 0)
    throw std::invalid_argument("loss.penaltyEps (default clipLow) must be > 0 when used");
  return r;
}

at::Tensor aggregate(const at::Tensor& x, Aggregation agg, const at::Tensor& seq_ids, int64_t num_seqs,
                     double denom_tokens, double denom_seqs) {
  if (agg == Aggregation::TokenMean) return x.sum() / denom_tokens;
  at::Tensor seq_sum = at::zeros({num_seqs}, x.options()).index_add(0, seq_ids, x);
  if (agg == Aggregation::SeqMeanTokenSum) return seq_sum.sum() / denom_seqs;
  at::Tensor counts = at::zeros({num_seqs}, x.options()).index_add(0, seq_ids, at::ones_like(x));
  return (seq_sum / counts.clamp_min(1)).sum() / denom_seqs;
}

namespace {

// phi(r) and its score multiplier f(r) = d phi / d logp = r phi'(r), from the log-ratio lr (clamped).
struct PhiF {
  at::Tensor phi, f;
};

PhiF penalty_of(Penalty p, const at::Tensor& lr, const at::Tensor& abs_adv, double sigma, double eps) {
  at::Tensor r = lr.exp();
  at::Tensor d = r - 1;
  switch (p) {
    case Penalty::Gaussian: {
      const double s2 = sigma * sigma;
      at::Tensor z = d * d / (2 * s2);
      // sigma^2 (1 - exp(-z)) = -sigma^2 expm1(-z): exact near r = 1.
      return {at::expm1(-z) * (-s2), r * d * at::exp(-z)};
    }
    case Penalty::Pearson:
      return {d * d, 2 * r * d};
    case Penalty::Spo: {
      at::Tensor w = abs_adv / (2 * eps);
      return {w * d * d, 2 * w * r * d};
    }
    case Penalty::ReverseKl:
      return {r * lr - d, r * lr};  // r log r - r + 1
    case Penalty::K3:
      return {at::expm1(-lr) + lr, -at::expm1(-lr)};  // 1/r - 1 + log r; 1 - 1/r
    case Penalty::None:
      break;
  }
  return {at::zeros_like(lr), at::zeros_like(lr)};
}

void check_same(const at::Tensor& t, const at::Tensor& like, const char* what) {
  if (!t.defined() || t.dim() != 1 || t.size(0) != like.size(0))
    throw std::invalid_argument(std::string(what) + " must be a 1-D tensor of " + std::to_string(like.size(0)) +
                                " response tokens");
}

}  // namespace

LossTerms compute_loss(const ResolvedLoss& L, const LossInputs& in) {
  const LossConfig& c = L.cfg;
  check_same(in.logp, in.logp, "logp");
  check_same(in.old_logp, in.logp, "oldLogprobs");
  check_same(in.adv, in.logp, "advantages");
  check_same(in.seq_ids, in.logp, "sequence ids");
  for (const auto& a : in.anchors) check_same(a, in.logp, "anchorLogprobs[k]");
  const bool use_kl = c.kl_coef > 0;
  if (use_kl) check_same(in.ref_logp, in.logp, "refLogprobs (needed when klCoef > 0)");
  const bool use_is = c.rollout_is_threshold > 0;
  if (use_is) check_same(in.rollout_logp, in.logp, "rolloutLogprobs (needed when rolloutIsThreshold > 0)");
  const bool use_ent = in.entropy.defined();
  if (use_ent) check_same(in.entropy, in.logp, "entropy");
  if (!(in.denom_tokens > 0) || !(in.denom_seqs > 0))
    throw std::invalid_argument("denominators.tokens and denominators.sequences must be > 0");

  auto agg = [&](const at::Tensor& x) {
    return aggregate(x, L.aggregation, in.seq_ids, in.num_seqs, in.denom_tokens, in.denom_seqs);
  };
  const at::Tensor& A = in.adv;
  LossTerms out;

  // Surrogate (verl compute_policy_loss).
  at::Tensor lr0 = (in.logp - in.old_logp).clamp(-20.0, 20.0);
  at::Tensor ratio = lr0.exp();
  at::Tensor pg;
  at::Tensor zero_flags = at::zeros_like(ratio.detach());
  out.clipped_low = out.clipped_high = out.dual_clipped = zero_flags;
  if (L.surrogate == Surrogate::Clip) {
    at::Tensor pg1 = -A * ratio;
    at::Tensor pg2 = -A * ratio.clamp(1.0 - c.clip_low, 1.0 + c.clip_high);
    at::Tensor clip1 = at::maximum(pg1, pg2);
    pg = clip1;
    at::Tensor rd = ratio.detach();
    out.clipped_high = ((A > 0) & (rd > 1.0 + c.clip_high)).to(ratio.scalar_type());
    out.clipped_low = ((A < 0) & (rd < 1.0 - c.clip_low)).to(ratio.scalar_type());
    if (c.dual_clip > 0) {
      at::Tensor pg3 = -A * c.dual_clip;
      at::Tensor clip2 = at::minimum(pg3, clip1);
      pg = at::where(A < 0, clip2, clip1);
      out.dual_clipped = ((A < 0) & (clip1.detach() > pg3)).to(ratio.scalar_type());
    }
  } else {
    pg = -A * ratio;
  }
  // Decoupled objective: the proximal-policy surrogate, weighted by the truncated behaviour ->
  // proximal importance weight (a constant: both log-probs are fixed inputs).
  if (use_is) {
    at::Tensor raw = (in.old_logp - in.rollout_logp).clamp(-20.0, 20.0).exp().detach();
    at::Tensor w = raw.clamp_max(c.rollout_is_threshold);
    pg = pg * w;
    out.rollout_is_weight = w;
    out.rollout_is_raw = raw;
  }
  out.pg_loss = agg(pg);
  at::Tensor total = out.pg_loss;

  // Mixture-anchored penalty P_e = 1/(e+1) sum_k phi(r_k).
  if (L.penalty != Penalty::None) {
    at::Tensor abs_adv = A.abs();
    at::Tensor P, F;
    std::vector<at::Tensor> anchor_list{in.old_logp};
    for (const auto& a : in.anchors) anchor_list.push_back(a);
    for (size_t k = 0; k < anchor_list.size(); ++k) {
      at::Tensor lr = k == 0 ? lr0 : (in.logp - anchor_list[k]).clamp(-20.0, 20.0);
      PhiF pf = penalty_of(L.penalty, lr, abs_adv, c.sigma, L.eps);
      P = k == 0 ? pf.phi : P + pf.phi;
      F = k == 0 ? pf.f.detach() : F + pf.f.detach();
    }
    const double n = static_cast<double>(anchor_list.size());
    P = P / n;
    at::Tensor beta_t = L.beta_mode == BetaMode::Fixed ? at::full_like(A, c.beta) : A.abs() * (c.beta / L.eps);
    out.penalty_loss = agg(beta_t * P);
    total = total + out.penalty_loss;
    out.penalty = P.detach();
    out.penalty_grad_abs = (F / n).abs();
  } else {
    out.penalty_loss = at::zeros({}, in.logp.options());
    out.penalty = out.penalty_grad_abs = zero_flags;
  }

  // Reference-model KL (verl kl_penalty: kl, mse, low_var_kl).
  if (use_kl) {
    at::Tensor diff = in.logp - in.ref_logp;
    at::Tensor kl;
    switch (L.kl_estimator) {
      case KlEstimator::K1:
        kl = diff;
        break;
      case KlEstimator::K2:
        kl = 0.5 * diff * diff;
        break;
      case KlEstimator::K3: {
        at::Tensor d = (-diff).clamp(-20.0, 20.0);  // logp_ref - logp
        kl = (d.exp() - d - 1).clamp(-10.0, 10.0);
        break;
      }
    }
    at::Tensor kl_agg = agg(kl);
    out.kl_loss = kl_agg * c.kl_coef;
    total = total + out.kl_loss;
    out.ref_kl = kl.detach();
  } else {
    out.kl_loss = at::zeros({}, in.logp.options());
  }

  // Entropy bonus (subtracted).
  if (use_ent) {
    out.entropy = in.entropy.detach();
    if (c.entropy_coef != 0) {
      out.entropy_bonus = agg(in.entropy) * c.entropy_coef;
      total = total - out.entropy_bonus;
    }
  }
  if (!out.entropy_bonus.defined()) out.entropy_bonus = at::zeros({}, in.logp.options());

  out.loss = total;
  out.pg_loss = out.pg_loss.detach();
  out.penalty_loss = out.penalty_loss.detach();
  out.kl_loss = out.kl_loss.detach();
  out.entropy_bonus = out.entropy_bonus.detach();
  at::Tensor lrd = lr0.detach();
  out.ratio = ratio.detach();
  out.approx_kl = at::expm1(lrd) - lrd;
  return out;
}

}  // namespace gtr
