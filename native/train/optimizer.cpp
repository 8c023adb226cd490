#include "train/optimizer.h"
#include <cmath>
#include <stdexcept>

namespace gtr {

// ---------------------------------------------------------------------------------------------
// AdamW.

AdamW::AdamW(NamedTensors params, AdamWOptions opt) : params_(std::move(params)), opt_(opt) {
  if (!(opt_.beta1 >= 0 && opt_.beta1 < 1) || !(opt_.beta2 >= 0 && opt_.beta2 < 1))
    throw std::invalid_argument("optimizer betas must be in [0, 1)");
  if (!(opt_.eps > 0)) throw std::invalid_argument("optimizer eps must be > 0");
  if (!(opt_.weight_decay >= 0)) throw std::invalid_argument("optimizer weightDecay must be >= 0");
  const size_t n = params_.size();
  grads_.resize(n);
  exp_avg_.resize(n);
  exp_avg_sq_.resize(n);
  master_.resize(n);
}

bool AdamW::uses_master(size_t i) const { return opt_.fp32_master && params_[i].second.scalar_type() != at::kFloat; }

void AdamW::absorb_grads() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!grads_[i].defined())
      grads_[i] = uses_master(i) ? g.to(at::kFloat) : g;
    else
      grads_[i].add_(g);
    p.mutable_grad().reset();
  }
}

void AdamW::zero_grad() {
  for (size_t i = 0; i < params_.size(); ++i) {
    grads_[i].reset();
    if (params_[i].second.grad().defined()) params_[i].second.mutable_grad().reset();
  }
}

std::vector<at::Tensor>& AdamW::materialized_grads() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i].second;
    if (!grads_[i].defined())
      grads_[i] = at::zeros(p.sizes(), p.options().dtype(uses_master(i) ? at::kFloat : p.scalar_type()));
  }
  return grads_;
}

bool AdamW::has_grads() const {
  for (const auto& g : grads_)
    if (g.defined()) return true;
  return false;
}

void AdamW::ensure_state() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i].second;
    auto f32 = p.options().dtype(at::kFloat);
    if (!exp_avg_[i].defined()) exp_avg_[i] = at::zeros(p.sizes(), f32);
    if (!exp_avg_sq_[i].defined()) exp_avg_sq_[i] = at::zeros(p.sizes(), f32);
    if (uses_master(i) && !master_[i].defined()) master_[i] = p.detach().to(at::kFloat).clone();
  }
}

StepResult AdamW::step(double lr, const std::string& skip_reason) {
  at::NoGradGuard no_grad;
  StepResult r;
  r.lr = lr;
  if (!std::isfinite(lr) || lr < 0) throw std::invalid_argument("step: lr must be a finite number >= 0");
  // Global L2 norm of all gradients (torch clip_grad_norm_ with norm_type 2), summed in float64.
  std::vector<at::Tensor> sq;
  for (const auto& g : grads_)
    if (g.defined()) sq.push_back(g.to(at::kFloat).pow(2).sum().to(at::kDouble));
  r.grad_norm = sq.empty() ? 0.0 : std::sqrt(at::stack(sq).sum().item<double>());
  if (!skip_reason.empty() || !std::isfinite(r.grad_norm)) {
    r.skipped = true;
    r.reason = !skip_reason.empty() ? skip_reason : "non-finite gradient (norm " + std::to_string(r.grad_norm) + ")";
    ++skipped_;
    zero_grad();
    r.step = step_;
    return r;
  }
  ensure_state();
  if (opt_.max_grad_norm > 0) r.clip_coef = std::min(1.0, opt_.max_grad_norm / (r.grad_norm + 1e-6));
  const int64_t t = ++step_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(t));
  const double step_size = lr / bc1, bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    at::Tensor w = uses_master(i) ? master_[i] : p;
    w.mul_(1.0 - lr * opt_.weight_decay);
    if (grads_[i].defined()) {
      at::Tensor g = grads_[i].to(at::kFloat);
      if (r.clip_coef < 1.0) g = g * r.clip_coef;
      exp_avg_[i].mul_(opt_.beta1).add_(g, 1.0 - opt_.beta1);
      exp_avg_sq_[i].mul_(opt_.beta2).addcmul_(g, g, 1.0 - opt_.beta2);
    } else {
      exp_avg_[i].mul_(opt_.beta1);
      exp_avg_sq_[i].mul_(opt_.beta2);
    }
    at::Tensor denom = (exp_avg_sq_[i].sqrt() / bc2_sqrt).add_(opt_.eps);
    if (w.scalar_type() == at::kFloat) {
      w.addcdiv_(exp_avg_[i], denom, -step_size);
    } else {  // no masters: update in fp32, round once
      at::Tensor wf = w.to(at::kFloat);
      wf.addcdiv_(exp_avg_[i], denom, -step_size);
      w.copy_(wf);
    }
    if (uses_master(i)) p.copy_(w);
  }
  zero_grad();
  r.step = step_;
  return r;
}

NamedTensors AdamW::state_tensors() {
  ensure_state();
  NamedTensors st;
  st.emplace_back("optimizer.step", at::tensor(std::vector<int64_t>{step_, skipped_}, at::kLong));
  for (size_t i = 0; i < params_.size(); ++i) {
    st.emplace_back("exp_avg." + params_[i].first, exp_avg_[i]);
    st.emplace_back("exp_avg_sq." + params_[i].first, exp_avg_sq_[i]);
    if (uses_master(i)) st.emplace_back("master." + params_[i].first, master_[i]);
  }
  return st;
}

int64_t AdamW::state_bytes() const {
  int64_t n = 0;
  for (const auto* v : {&exp_avg_, &exp_avg_sq_, &master_})
    for (const auto& t : *v)
      if (t.defined()) n += static_cast<int64_t>(t.nbytes());
  return n;
}

void AdamW::state_loaded(const NamedTensors& st) {
  const at::Tensor& s = st.at(0).second;
  step_ = s[0].item<int64_t>();
  skipped_ = s[1].item<int64_t>();
}

}  // namespace gtr
