#include "train/zero.h"
#include <cmath>
#include <map>
#include <stdexcept>

namespace gtr {

Sharding sharding_from_name(const std::string& name) {
  if (name == "none") return Sharding::kNone;
  if (name == "optimizer") return Sharding::kOptimizer;
  if (name == "full") return Sharding::kFull;
  throw std::invalid_argument("unknown sharding '" + name + "' (valid: none, optimizer, full)");
}

const char* sharding_name(Sharding s) {
  switch (s) {
    case Sharding::kNone:
      return "none";
    case Sharding::kOptimizer:
      return "optimizer";
    case Sharding::kFull:
      return "full";
  }
  return "?";
}

// "model.layers.{i}.<rest>" (also LoRA adapters' names) -> i; anything else -> -1 (root unit).
static int64_t layer_of(const std::string& name) {
  static const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return -1;
  size_t end = name.find('.', prefix.size());
  if (end == std::string::npos) return -1;
  return std::stoll(name.substr(prefix.size(), end - prefix.size()));
}

bool ZeroOptimizer::uses_master(size_t i) const {
  return opt_.fp32_master && params_[i].second.scalar_type() != at::kFloat;
}

ZeroOptimizer::ZeroOptimizer(NamedTensors params, AdamWOptions opt, std::shared_ptr<dist::ProcessGroup> pg,
                             Sharding level)
    : params_(std::move(params)), opt_(opt), pg_(std::move(pg)), level_(level) {
  if (level_ == Sharding::kNone) throw std::invalid_argument("ZeroOptimizer: sharding none holds no shards");
  if (!pg_) throw std::invalid_argument("ZeroOptimizer: a process group is needed (world size 1 included)");
  if (params_.empty()) throw std::invalid_argument("ZeroOptimizer: no trainable parameters");
  const int64_t W = pg_->size(), r = pg_->rank();
  // Units in order of first appearance: root first (embeddings lead the HF order), then the layers.
  std::map<int64_t, size_t> unit_index;
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i].second;
    if (p.device() != params_[0].second.device() || p.scalar_type() != params_[0].second.scalar_type())
      throw std::invalid_argument("sharded training needs every trainable parameter on one device in one dtype (" +
                                  params_[i].first + " differs)");
    shapes_.push_back(p.sizes().vec());
    const int64_t layer = layer_of(params_[i].first);
    auto it = unit_index.find(layer);
    if (it == unit_index.end()) {
      FlatUnit u;
      u.layer = layer;
      u.name = layer < 0 ? "root" : "layers." + std::to_string(layer);
      it = unit_index.emplace(layer, units_.size()).first;
      units_.push_back(u);
    }
    FlatUnit& u = units_[it->second];
    u.idx.push_back(i);
    u.offset.push_back(u.total);
    u.numel.push_back(p.numel());
    u.total += p.numel();
  }
  at::NoGradGuard no_grad;
  for (auto& u : units_) {
    u.shard = (u.total + W - 1) / W;
    const at::Tensor& p0 = params_[u.idx[0]].second;
    // fp32 masters of bf16 params are state of their own; fp32 params are their own masters (the
    // shard is read from them at each step), so the state is 1/W of AdamW's in both cases.
    const bool own = uses_master(u.idx[0]) || level_ == Sharding::kFull;
    const at::ScalarType mdt = uses_master(u.idx[0]) ? at::kFloat : params_[u.idx[0]].second.scalar_type();
    master_.push_back(own ? flat_range(u, r * u.shard, mdt) : at::Tensor());
    exp_avg_.push_back(at::zeros({u.shard}, p0.options().dtype(at::kFloat)));
    exp_avg_sq_.push_back(at::zeros({u.shard}, p0.options().dtype(at::kFloat)));
  }
  gacc_.resize(units_.size());
  buffers_.resize(units_.size());
  gathered_.assign(units_.size(), true);  // the params hold the full weights now
}

void ZeroOptimizer::point_params_at(size_t u, const at::Tensor& flat) {
  const FlatUnit& U = units_[u];
  for (size_t k = 0; k < U.idx.size(); ++k)
    params_[U.idx[k]].second.set_data(flat.narrow(0, U.offset[k], U.numel[k]).view(shapes_[U.idx[k]]));
}

void ZeroOptimizer::gather_unit(size_t u) {
  if (level_ != Sharding::kFull || gathered_[u]) return;
  at::NoGradGuard no_grad;
  buffers_[u] = gather_flat(u, master_[u]);
  if (tracked_.size() != units_.size()) tracked_.resize(units_.size());
  tracked_[u] = memory::track("gathered", units_[u].name, {buffers_[u]});
  point_params_at(u, buffers_[u]);
  gathered_[u] = true;
}

void ZeroOptimizer::release_unit(size_t u) {
  if (level_ != Sharding::kFull || !gathered_[u] || keep_) return;
  at::NoGradGuard no_grad;
  const FlatUnit& U = units_[u];
  for (size_t k = 0; k < U.idx.size(); ++k) {
    at::Tensor& p = params_[U.idx[k]].second;
    p.set_data(at::empty({0}, p.options()));
  }
  buffers_[u].reset();
  if (u < tracked_.size()) tracked_[u].reset();
  gathered_[u] = false;
}

void ZeroOptimizer::gather_all() {
  for (size_t u = 0; u < units_.size(); ++u) gather_unit(u);
}

void ZeroOptimizer::release_all() {
  for (size_t u = 0; u < units_.size(); ++u) release_unit(u);
}

void ZeroOptimizer::count_memory(memory::Counter& c) const {
  for (size_t u = 0; u < units_.size(); ++u) {
    if (u < buffers_.size()) c.add("gathered", units_[u].name, buffers_[u]);
    if (u < master_.size()) c.add("optimizer", "master", master_[u]);
    if (u < exp_avg_.size()) c.add("optimizer", "exp_avg", exp_avg_[u]);
    if (u < exp_avg_sq_.size()) c.add("optimizer", "exp_avg_sq", exp_avg_sq_[u]);
    if (u < gacc_.size()) c.add("gradients", "float32", gacc_[u]);
  }
}

int64_t ZeroOptimizer::gathered_bytes() const {
  int64_t n = 0;
  for (const auto& b : buffers_)
    if (b.defined()) n += static_cast<int64_t>(b.nbytes());
  return n;
}

void ZeroOptimizer::reduce_unit_grads(size_t u, const std::vector<at::Tensor>& grads) {
  at::NoGradGuard no_grad;
  const FlatUnit& U = units_[u];
  if (grads.size() != U.idx.size())
    throw std::logic_error("reduce_unit_grads: one gradient per unit parameter expected");
  at::Tensor flat = at::zeros({U.shard * pg_->size()}, exp_avg_[u].options());
  for (size_t k = 0; k < U.idx.size(); ++k)
    if (grads[k].defined()) flat.narrow(0, U.offset[k], U.numel[k]).copy_(grads[k].reshape({-1}));
  at::Tensor shard = at::empty({U.shard}, flat.options());
  pg_->reduce_scatter_sum(flat, shard, "gradients of " + U.name + " (backward)");
  if (gacc_[u].defined())
    gacc_[u].add_(shard);
  else
    gacc_[u] = shard;
}

void ZeroOptimizer::reduce_param_grads() {
  at::NoGradGuard no_grad;
  for (size_t u = 0; u < units_.size(); ++u) {
    const FlatUnit& U = units_[u];
    std::vector<at::Tensor> grads;
    for (size_t i : U.idx) grads.push_back(params_[i].second.grad());
    reduce_unit_grads(u, grads);
    grads.clear();
    for (size_t i : U.idx)
      if (params_[i].second.grad().defined()) params_[i].second.mutable_grad().reset();
  }
}

void ZeroOptimizer::zero_grad() {
  for (auto& g : gacc_) g.reset();
}

at::Tensor ZeroOptimizer::flat_range(const FlatUnit& u, int64_t lo, at::ScalarType dtype) const {
  const int64_t hi = lo + u.shard;
  at::Tensor m = at::zeros({u.shard}, params_[u.idx[0]].second.options().dtype(dtype));
  for (size_t k = 0; k < u.idx.size(); ++k) {
    const int64_t a = std::max(lo, u.offset[k]), b = std::min(hi, u.offset[k] + u.numel[k]);
    if (a >= b) continue;
    m.narrow(0, a - lo, b - a).copy_(params_[u.idx[k]].second.detach().reshape({-1}).narrow(0, a - u.offset[k], b - a));
  }
  return m;
}

size_t ZeroOptimizer::unit_of_layer(int64_t i) const {
  for (size_t u = 0; u < units_.size(); ++u)
    if (units_[u].layer == i) return u;
  throw std::out_of_range("no sharding unit for layer " + std::to_string(i));
}

at::Tensor ZeroOptimizer::gather_flat(size_t u, const at::Tensor& w) {
  const FlatUnit& U = units_[u];
  const at::Tensor& p0 = params_[U.idx[0]].second;
  at::Tensor shard = w.to(p0.scalar_type()).contiguous();
  at::Tensor full = at::empty({U.shard * pg_->size()}, p0.options());
  pg_->all_gather(shard, full, "gather " + U.name + " (step " + std::to_string(step_) + ")");
  return full;
}

void ZeroOptimizer::refresh_params(size_t u, const at::Tensor& w) {
  const FlatUnit& U = units_[u];
  at::Tensor full = gather_flat(u, w);
  for (size_t k = 0; k < U.idx.size(); ++k)
    params_[U.idx[k]].second.copy_(full.narrow(0, U.offset[k], U.numel[k]).view(shapes_[U.idx[k]]));
}

int64_t ZeroOptimizer::state_bytes() const {
  int64_t n = 0;
  for (size_t u = 0; u < units_.size(); ++u)
    n += (master_[u].defined() ? master_[u].nbytes() : 0) + exp_avg_[u].nbytes() + exp_avg_sq_[u].nbytes();
  return n;
}

StepResult ZeroOptimizer::step(double lr, const std::string& skip_reason) {
  at::NoGradGuard no_grad;
  StepResult r;
  r.lr = lr;
  if (!std::isfinite(lr) || lr < 0) throw std::invalid_argument("step: lr must be a finite number >= 0");
  const std::string when = " (optimizer step " + std::to_string(step_ + skipped_ + 1) + ")";
  // The gradient shards were reduce-scattered as the micro-batches finished (reduce_param_grads /
  // reduce_unit_grads): summed over ranks and micro-batches, this rank's [S] of each unit.
  std::vector<at::Tensor> gshard(units_.size());
  double sq = 0;
  for (size_t u = 0; u < units_.size(); ++u) {
    gshard[u] = gacc_[u].defined() ? gacc_[u] : at::zeros({units_[u].shard}, exp_avg_[u].options());
    gacc_[u].reset();
    sq += gshard[u].to(at::kDouble).pow(2).sum().item<double>();
  }
  // The global norm: every rank's sum of squares (torch clip_grad_norm_, norm_type 2, in float64).
  std::vector<at::Tensor> sqv{at::full({1}, sq, at::kDouble)};
  pg_->allreduce_sum(sqv, "gradient norm" + when);
  r.grad_norm = std::sqrt(sqv[0].item<double>());
  if (!skip_reason.empty() || !std::isfinite(r.grad_norm)) {
    r.skipped = true;
    r.reason = !skip_reason.empty() ? skip_reason : "non-finite gradient (norm " + std::to_string(r.grad_norm) + ")";
    ++skipped_;
    r.step = step_;
    return r;
  }
  if (opt_.max_grad_norm > 0) r.clip_coef = std::min(1.0, opt_.max_grad_norm / (r.grad_norm + 1e-6));
  const int64_t t = ++step_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(t));
  const double step_size = lr / bc1, bc2_sqrt = std::sqrt(bc2);
  for (size_t u = 0; u < units_.size(); ++u) {
    // AdamW::step's update, elementwise on the shard (same formulas, same order of operations).
    at::Tensor w = master_[u].defined() ? master_[u]
                                        : flat_range(units_[u], pg_->rank() * units_[u].shard,
                                                     params_[units_[u].idx[0]].second.scalar_type());
    w.mul_(1.0 - lr * opt_.weight_decay);
    at::Tensor g = gshard[u];
    if (r.clip_coef < 1.0) g = g * r.clip_coef;
    exp_avg_[u].mul_(opt_.beta1).add_(g, 1.0 - opt_.beta1);
    exp_avg_sq_[u].mul_(opt_.beta2).addcmul_(g, g, 1.0 - opt_.beta2);
    at::Tensor denom = (exp_avg_sq_[u].sqrt() / bc2_sqrt).add_(opt_.eps);
    if (w.scalar_type() == at::kFloat) {
      w.addcdiv_(exp_avg_[u], denom, -step_size);
    } else {  // no masters: update in fp32, round once
      at::Tensor wf = w.to(at::kFloat);
      wf.addcdiv_(exp_avg_[u], denom, -step_size);
      w.copy_(wf);
    }
    gshard[u].reset();
    // The updated shards all-gathered back into every rank's full weights (cast to their dtype); at
    // the full level only into the units gathered now (the weights kept by a memory budget).
    if (level_ == Sharding::kOptimizer) {
      refresh_params(u, w);
    } else if (gathered_[u]) {
      buffers_[u] = gather_flat(u, w);
      if (tracked_.size() != units_.size()) tracked_.resize(units_.size());
      tracked_[u] = memory::track("gathered", units_[u].name, {buffers_[u]});
      point_params_at(u, buffers_[u]);
    }
  }
  r.step = step_;
  return r;
}

NamedTensors ZeroOptimizer::state_tensors() {
  NamedTensors st;
  st.emplace_back("optimizer.step", at::tensor(std::vector<int64_t>{step_, skipped_}, at::kLong));
  for (size_t u = 0; u < units_.size(); ++u) {
    if (master_[u].defined()) st.emplace_back("zero." + units_[u].name + ".master", master_[u]);
    st.emplace_back("zero." + units_[u].name + ".exp_avg", exp_avg_[u]);
    st.emplace_back("zero." + units_[u].name + ".exp_avg_sq", exp_avg_sq_[u]);
  }
  return st;
}

void ZeroOptimizer::state_loaded(const NamedTensors& st) {
  const at::Tensor& s = st.at(0).second;
  step_ = s[0].item<int64_t>();
  skipped_ = s[1].item<int64_t>();
  // The loaded masters are the weights (the policy file holds them rounded to the param dtype, so
  // this rewrites the same values; without masters the params were loaded from the policy file).
  at::NoGradGuard no_grad;
  for (size_t u = 0; u < units_.size(); ++u) {
    if (!master_[u].defined()) continue;
    if (level_ == Sharding::kOptimizer) {
      refresh_params(u, master_[u]);
    } else if (gathered_[u]) {
      buffers_[u] = gather_flat(u, master_[u]);
      if (tracked_.size() != units_.size()) tracked_.resize(units_.size());
      tracked_[u] = memory::track("gathered", units_[u].name, {buffers_[u]});
      point_params_at(u, buffers_[u]);
    }
  }
}

std::vector<std::pair<std::string, std::string>> ZeroOptimizer::state_metadata() const {
  std::string j = "[";
  for (size_t u = 0; u < units_.size(); ++u) {
    const FlatUnit& U = units_[u];
    j += (u ? "," : "") + std::string("{\"name\":\"") + U.name + "\",\"shard\":" + std::to_string(U.shard) +
         ",\"total\":" + std::to_string(U.total) + ",\"master\":" + (master_[u].defined() ? "true" : "false") +
         ",\"params\":[";
    for (size_t k = 0; k < U.idx.size(); ++k) {
      j += (k ? "," : "") + std::string("{\"name\":\"") + params_[U.idx[k]].first +
           "\",\"offset\":" + std::to_string(U.offset[k]) + ",\"shape\":[";
      const auto& sh = shapes_[U.idx[k]];
      for (size_t d = 0; d < sh.size(); ++d) j += (d ? "," : "") + std::to_string(sh[d]);
      j += "]}";
    }
    j += "]}";
  }
  j += "]";
  return {{"format", "gtr-trainer-state"},
          {"version", "1"},
          {"sharding", sharding_name(level_)},
          {"rank", std::to_string(pg_->rank())},
          {"world_size", std::to_string(pg_->size())},
          {"layout", j}};
}

}  // namespace gtr
