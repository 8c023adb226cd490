#include "train/trainer.h"
#include <ATen/core/Generator.h>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include "policy/memory_report.h"
#include "train/chunked_logprob.h"
#include "train/sharded_forward.h"

namespace gtr {

std::pair<at::Tensor, at::Tensor> response_positions(const PackedInput& b) {
  const int64_t T = b.ids.size(0);
  if (b.mask.size(0) != T)
    throw std::invalid_argument("responseMask has " + std::to_string(b.mask.size(0)) + " entries but tokens has " +
                                std::to_string(T));
  at::Tensor m = b.mask.to(at::kBool).contiguous();
  const bool* mp = m.data_ptr<bool>();
  std::vector<int64_t> pos, sid;
  int64_t start = 0, s = 0;
  for (int64_t len : b.lens) {
    if (mp[start])
      throw std::invalid_argument("responseMask[" + std::to_string(start) + "] is set at the first token of sequence " +
                                  std::to_string(s) + ": a sequence's first token has no log-prob");
    for (int64_t j = start + 1; j < start + len; ++j)
      if (mp[j]) {
        pos.push_back(j);
        sid.push_back(s);
      }
    start += len;
    ++s;
  }
  auto lopt = at::TensorOptions().dtype(at::kLong);
  return {at::tensor(pos, lopt), at::tensor(sid, lopt)};
}

// Sets requires_grad on every parameter for the lifetime of the guard (the params are shared with
// the rollout engine, which must see plain tensors).
struct RequiresGradGuard {
  NamedTensors& params;
  explicit RequiresGradGuard(NamedTensors& p) : params(p) {
    for (auto& [n, t] : params) t.set_requires_grad(true);
  }
  ~RequiresGradGuard() {
    for (auto& [n, t] : params) t.set_requires_grad(false);
  }
};

Trainer::Trainer(std::shared_ptr<PolicyHandle> policy, std::shared_ptr<PolicyHandle> reference, TrainerOptions opt)
    : policy_(std::move(policy)),
      reference_(std::move(reference)),
      model_(policy_->get()),
      opt_(opt),
      adamw_(model_->trainable(), opt.adamw) {
  if (opt_.logprob_chunk < 1) throw std::invalid_argument("logprobChunk must be >= 1");
  if (opt_.sharding == Sharding::kFull && model_->has_lora())
    throw std::invalid_argument(
        "train.sharding: full shards the trained parameters, and with LoRA those are the adapters only (the base "
        "stays whole on every rank): use train.sharding: optimizer or none with model.lora");

  if (reference_) {
    auto ref = reference_->get();
    if (ref.get() == model_.get()) throw std::invalid_argument("the reference policy must be a separate Policy object");
    if (ref->config().vocab_size != model_->config().vocab_size)
      throw std::invalid_argument("the reference policy's vocabulary size differs from the policy's");
  }
}

std::shared_ptr<Qwen3Model> Trainer::model_checked() const {
  auto m = policy_->get();
  if (m.get() != model_.get()) throw std::runtime_error("the trainer's policy was disposed or replaced");
  return m;
}

std::pair<at::Tensor, at::Tensor> Trainer::logprobs(const PackedInput& b, bool reference) {
  if (reference && !reference_) throw std::invalid_argument("referenceLogprobs: this trainer has no reference policy");
  PolicyHandle& h = reference ? *reference_ : *policy_;
  std::lock_guard<std::mutex> lock(h.mu);
  auto model = reference ? reference_->get() : model_checked();
  auto [pos, sid] = response_positions(b);
  const int64_t T = b.ids.size(0);
  at::Tensor lp = at::zeros({T}, at::kFloat), ent = at::zeros({T}, at::kFloat);
  if (!reference) ensure_zero();
  const bool sharded = !reference && zero_ && zero_->level() == Sharding::kFull;
  at::NoGradGuard no_grad;
  if (pos.numel() == 0) {
    if (sharded) idle_forward_sharded(*model, *zero_, false);
    return {lp, ent};
  }
  at::Tensor ids = b.ids.to(model->device());
  const size_t root = sharded ? zero_->unit_of_layer(-1) : 0;
  if (sharded) zero_->gather_unit(root);
  at::Tensor hidden =
      sharded ? forward_hidden_sharded(*model, *zero_, ids, b.lens) : model->forward_hidden(ids, b.lens);
  at::Tensor pos_d = pos.to(model->device());
  at::Tensor h_sel = hidden.index_select(0, pos_d - 1);
  auto [l, e] = chunked_logprob_entropy(h_sel, model->lm_head(), ids.index_select(0, pos_d), opt_.logprob_chunk);
  lp.index_copy_(0, pos, l.to(at::kCPU));
  ent.index_copy_(0, pos, e.to(at::kCPU));
  if (sharded) zero_->release_unit(root);
  return {lp, ent};
}

Metrics Trainer::train_micro_batch(const MicroBatchInput& mb, const ResolvedLoss& loss) {
  std::lock_guard<std::mutex> lock(policy_->mu);
  auto model = model_checked();
  auto [pos, sid] = response_positions(mb.batch);
  const int64_t T = mb.batch.ids.size(0);
  auto check_len = [&](const at::Tensor& t, const std::string& what) {
    if (!t.defined() || t.dim() != 1 || t.size(0) != T)
      throw std::invalid_argument(what + " must have one value per token (" + std::to_string(T) + ")");
  };
  check_len(mb.adv, "advantages");
  check_len(mb.old_logp, "oldLogprobs");
  for (size_t k = 0; k < mb.anchors.size(); ++k) check_len(mb.anchors[k], "anchorLogprobs[" + std::to_string(k) + "]");
  if (loss.cfg.kl_coef > 0) check_len(mb.ref_logp, "refLogprobs (needed when klCoef > 0)");
  if (loss.cfg.rollout_is_threshold > 0)
    check_len(mb.rollout_logp, "rolloutLogprobs (needed when rolloutIsThreshold > 0)");
  Accum local;
  local.micro = 1;
  local.seqs = static_cast<int64_t>(mb.batch.lens.size());
  ensure_zero();
  const bool sharded = zero_ && zero_->level() == Sharding::kFull;
  // optimizer (ZeRO-2): each micro-batch's gradients are reduce-scattered into the shards after its
  // backward, so every rank runs the same number of micro-batches (src/rl/update.ts pads them).
  const bool scatter = zero_ && zero_->level() == Sharding::kOptimizer;
  if (pos.numel() == 0) {
    if (sharded) idle_forward_sharded(*model, *zero_, true);
    if (scatter) zero_->reduce_param_grads();  // zeros: joins the others' reduce-scatters
    accum_.micro += 1;
    accum_.seqs += local.seqs;
    return local.summarize();
  }
  const at::Device dev = model->device();
  // With LoRA: the adapters only; the base stays frozen (no gradient, no optimizer state).
  RequiresGradGuard grad_guard(model->trainable());
  at::AutoGradMode grad_mode(true);
  at::Tensor ids = mb.batch.ids.to(dev);
  // full: the root unit stays gathered through the backward; each layer is gathered around its
  // forward and its backward (and recomputed there: its own activation checkpoint).
  if (sharded) zero_->gather_unit(zero_->unit_of_layer(-1));
  at::Tensor hidden = sharded                  ? forward_hidden_sharded(*model, *zero_, ids, mb.batch.lens)
                      : opt_.checkpoint_layers ? forward_hidden_checkpointed(*model, ids, mb.batch.lens)
                                               : model->forward_hidden(ids, mb.batch.lens);
  at::Tensor pos_d = pos.to(dev);
  at::Tensor h_sel = hidden.index_select(0, pos_d - 1);
  auto [logp, ent] = chunked_logprob_entropy(h_sel, model->lm_head(), ids.index_select(0, pos_d), opt_.logprob_chunk);

  auto pick = [&](const at::Tensor& t) { return t.to(at::kFloat).index_select(0, pos).to(dev); };
  LossInputs in;
  in.logp = logp;
  in.old_logp = pick(mb.old_logp);
  for (const auto& a : mb.anchors) in.anchors.push_back(pick(a));
  in.adv = pick(mb.adv);
  if (loss.cfg.kl_coef > 0) in.ref_logp = pick(mb.ref_logp);
  if (loss.cfg.rollout_is_threshold > 0) in.rollout_logp = pick(mb.rollout_logp);
  in.entropy = ent;
  in.seq_ids = sid.to(dev);
  in.num_seqs = static_cast<int64_t>(mb.batch.lens.size());
  in.denom_tokens = mb.denom_tokens;
  in.denom_seqs = mb.denom_seqs;
  LossTerms terms = compute_loss(loss, in);
  const double value = terms.loss.item<double>();
  if (!std::isfinite(value)) {
    if (poison_.empty())
      poison_ = "non-finite loss (" + std::to_string(value) + ") in micro-batch " + std::to_string(accum_.micro);
    if (sharded) idle_backward_sharded(*model, *zero_);  // the other ranks' collectives still run
    if (scatter) zero_->reduce_param_grads();
  } else if (sharded) {
    terms.loss.backward();
    finish_backward_sharded(*zero_);
  } else if (scatter) {
    terms.loss.backward();
    zero_->reduce_param_grads();
  } else {
    terms.loss.backward();
    adamw_.absorb_grads();
  }
  local.add(terms, value);
  accum_.add(terms, value);
  accum_.micro += 1;
  accum_.seqs += local.seqs;
  return local.summarize();
}

void Trainer::make_zero(std::shared_ptr<dist::ProcessGroup> group) {
  if (zero_ && (zero_->step_count() + zero_->skipped_count() > 0))
    throw std::runtime_error("setProcessGroup: with train.sharding " + std::string(sharding_name(opt_.sharding)) +
                             " the process group must be set before the first step and before loadState");
  zero_.reset();  // before the new one, so two copies of the shards never coexist
  zero_ = std::make_unique<ZeroOptimizer>(model_->trainable(), opt_.adamw, std::move(group), opt_.sharding);
  zero_->set_keep_gathered(opt_.keep_gathered);
  // full: from now on the parameters live as shards; forward, backward and rollouts gather them.
  zero_->release_all();
}

void Trainer::set_process_group(std::shared_ptr<dist::ProcessGroup> pg) {
  std::lock_guard<std::mutex> lock(policy_->mu);
  model_checked();
  pg_ = pg && pg->size() > 1 ? std::move(pg) : nullptr;
  if (!pg_) return;
  if (zero_) {  // shards of a world of one (created by an earlier call): rebuilt over the group
    if (zero_->step_count() + zero_->skipped_count() > 0)
      throw std::runtime_error("setProcessGroup: with train.sharding " + std::string(sharding_name(opt_.sharding)) +
                               " the process group must be set before the first step and before loadState");
    zero_->set_keep_gathered(false);
    zero_->gather_all();
    zero_.reset();
  }
  // DDP's start: every rank begins from rank 0's weights (the rollout engine shares these tensors).
  std::vector<at::Tensor> params;
  for (auto& [n, t] : model_->trainable()) params.push_back(t);
  pg_->broadcast(params, 0, "initial weights from rank 0");
  if (opt_.sharding != Sharding::kNone) make_zero(pg_);
}

void Trainer::ensure_zero() {
  if (opt_.sharding == Sharding::kNone || zero_) return;
  dist::GroupOptions one;  // a single process: a world of one (shards = the whole state)
  make_zero(dist::create_process_group(one));
}

int64_t Trainer::state_bytes() {
  std::lock_guard<std::mutex> lock(policy_->mu);
  ensure_zero();
  return zero_ ? zero_->state_bytes() : adamw_.state_bytes();
}

int64_t Trainer::gathered_bytes() {
  std::lock_guard<std::mutex> lock(policy_->mu);
  return zero_ && zero_->level() == Sharding::kFull ? zero_->gathered_bytes() : 0;
}

void Trainer::gather_weights() {
  std::lock_guard<std::mutex> lock(policy_->mu);
  model_checked();
  ensure_zero();
  if (zero_) zero_->gather_all();
}

void Trainer::release_weights() {
  std::lock_guard<std::mutex> lock(policy_->mu);
  model_checked();
  ensure_zero();
  if (zero_) zero_->release_all();
}

void Trainer::idle_micro_batch(bool train) {
  std::lock_guard<std::mutex> lock(policy_->mu);
  auto model = model_checked();
  ensure_zero();
  if (!zero_) return;
  at::NoGradGuard no_grad;
  if (zero_->level() == Sharding::kOptimizer) {
    if (train) zero_->reduce_param_grads();  // zero gradients into the others' reduce-scatters
    return;
  }
  idle_forward_sharded(*model, *zero_, train);
}

void Trainer::verify_replicas() {
  std::lock_guard<std::mutex> lock(policy_->mu);
  model_checked();
  if (!pg_) return;
  at::NoGradGuard no_grad;
  if (zero_) zero_->gather_all();  // full: the weights compared are the gathered ones (the caller releases)
  std::vector<at::Tensor> copies;
  for (auto& [n, t] : model_->trainable()) copies.push_back(t.detach().clone());
  pg_->broadcast(copies, 0, "weights check (rank 0's weights)");
  int64_t first_bad = -1;
  size_t i = 0;
  for (auto& [n, t] : model_->trainable()) {
    if (first_bad < 0 && !at::equal(copies[i], t)) first_bad = static_cast<int64_t>(i);
    ++i;
  }
  std::vector<at::Tensor> bad{at::zeros({pg_->size()}, at::kDouble)};
  bad[0][pg_->rank()] = first_bad < 0 ? 0.0 : static_cast<double>(first_bad + 1);
  pg_->allreduce_sum(bad, "weights check (verdict)");
  std::string ranks;
  int64_t param = -1;
  for (int r = 0; r < pg_->size(); ++r) {
    const double v = bad[0][r].item<double>();
    if (v != 0) {
      ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
      if (param < 0) param = static_cast<int64_t>(v) - 1;
    }
  }
  if (!ranks.empty())
    throw std::runtime_error("data-parallel replicas diverged: the weights of rank(s) " + ranks +
                             " differ from rank 0's (first at parameter " + model_->trainable()[param].first + ")");
}

void Trainer::reduce_over_ranks() {
  // Gradients: summed (the loss denominators are global, so the sum is the global gradient); the
  // sharded levels reduce-scattered them after each micro-batch's backward instead.
  if (!zero_) {
    std::vector<at::Tensor>& grads = adamw_.materialized_grads();
    std::vector<at::Tensor> f32, other;
    std::vector<size_t> other_idx;
    for (size_t i = 0; i < grads.size(); ++i) {
      if (grads[i].scalar_type() == at::kFloat || grads[i].scalar_type() == at::kDouble)
        f32.push_back(grads[i]);
      else {
        other_idx.push_back(i);
        other.push_back(grads[i].to(at::kFloat));
      }
    }
    std::vector<at::Tensor> all = f32;
    all.insert(all.end(), other.begin(), other.end());
    pg_->allreduce_sum(
        all, "gradients (optimizer step " + std::to_string(adamw_.step_count() + adamw_.skipped_count() + 1) + ")");
    for (size_t k = 0; k < other_idx.size(); ++k) grads[other_idx[k]].copy_(other[k]);
  }
  // Scalars and the skip decision: one rank's non-finite loss skips the step on every rank.
  at::Tensor sc = at::zeros({9 + pg_->size()}, at::kDouble);
  double* p = sc.data_ptr<double>();
  p[0] = accum_.loss;
  p[1] = accum_.pg;
  p[2] = accum_.pen;
  p[3] = accum_.kl;
  p[4] = accum_.ent_bonus;
  p[5] = static_cast<double>(accum_.tokens);
  p[6] = static_cast<double>(accum_.seqs);
  p[7] = static_cast<double>(accum_.micro);
  p[9 + pg_->rank()] = poison_.empty() ? 0.0 : 1.0;
  std::vector<at::Tensor> scv{sc};
  pg_->allreduce_sum(scv, "step metrics");
  p = sc.data_ptr<double>();
  accum_.loss = p[0];
  accum_.pg = p[1];
  accum_.pen = p[2];
  accum_.kl = p[3];
  accum_.ent_bonus = p[4];
  accum_.tokens = static_cast<int64_t>(p[5]);
  accum_.seqs = static_cast<int64_t>(p[6]);
  accum_.micro = static_cast<int64_t>(p[7]);
  if (poison_.empty())
    for (int r = 0; r < pg_->size(); ++r)
      if (p[9 + r] != 0) {
        poison_ = "non-finite loss on rank " + std::to_string(r);
        break;
      }
  // Per-token metric values: gathered, so means and quantiles are those of the global batch.
  for (auto* v : {&accum_.ratio, &accum_.clow, &accum_.chigh, &accum_.dual, &accum_.pen_tok, &accum_.pen_grad,
                  &accum_.akl, &accum_.refkl, &accum_.ent, &accum_.is_w, &accum_.is_raw}) {
    std::vector<at::Tensor> parts;
    for (const auto& t : *v) parts.push_back(t.detach().to(at::kCPU, at::kDouble).reshape({-1}));
    at::Tensor local = parts.empty() ? at::zeros({0}, at::kDouble) : at::cat(parts);
    at::Tensor global = pg_->all_gather_cat(local, "step metrics (per token)");
    v->clear();
    if (global.numel()) v->push_back(global);
  }
}

Metrics Trainer::step(double lr, std::string* reason_out) {
  std::lock_guard<std::mutex> lock(policy_->mu);
  model_checked();
  ensure_zero();
  if (pg_) reduce_over_ranks();
  StepResult r;
  if (zero_) {
    r = zero_->step(lr, poison_);  // the gradients were reduce-scattered micro-batch by micro-batch
  } else {
    r = adamw_.step(lr, poison_);
  }
  Metrics m = accum_.summarize();
  m.emplace_back("gradNorm", r.grad_norm);
  m.emplace_back("clipCoef", r.clip_coef);
  m.emplace_back("skipped", r.skipped ? 1.0 : 0.0);
  m.emplace_back("lr", r.lr);
  m.emplace_back("step", static_cast<double>(r.step));
  if (reason_out) *reason_out = r.reason;
  accum_ = Accum();
  poison_.clear();
  step_count_ = zero_ ? zero_->step_count() : adamw_.step_count();
  return m;
}

void Trainer::zero_grad() {
  std::lock_guard<std::mutex> lock(policy_->mu);
  adamw_.zero_grad();
  if (zero_) zero_->zero_grad();
  accum_ = Accum();
  poison_.clear();
}

NamedTensors Trainer::state_layout() {
  ensure_zero();
  NamedTensors st = zero_ ? zero_->state_tensors() : adamw_.state_tensors();
  st.emplace_back("rng.cpu", at::globalContext().defaultGenerator(at::kCPU).get_state());
  if (model_->device().is_cuda())
    st.emplace_back("rng.cuda", at::globalContext().defaultGenerator(model_->device()).get_state());
  return st;
}

static const std::vector<std::pair<std::string, std::string>> kStateMeta = {{"format", "gtr-trainer-state"},
                                                                            {"version", "1"}};

void Trainer::save_state(const std::string& path) {
  std::lock_guard<std::mutex> lock(policy_->mu);
  model_checked();
  if (adamw_.has_grads() || accum_.micro > 0)
    throw std::runtime_error("saveState: gradients of " + std::to_string(accum_.micro) +
                             " micro-batches are pending; call step() or zeroGrad() first");
  NamedTensors st;
  {
    at::Generator g = at::globalContext().defaultGenerator(at::kCPU);
    std::lock_guard<std::mutex> glock(g.mutex());
    st = state_layout();
  }
  write_named_tensors(path, st, zero_ ? zero_->state_metadata() : kStateMeta);
}

void Trainer::load_state(const std::string& path) {
  std::lock_guard<std::mutex> lock(policy_->mu);
  model_checked();
  adamw_.zero_grad();
  if (zero_) zero_->zero_grad();  // pending shard gradients belong to the state being replaced
  accum_ = Accum();
  poison_.clear();
  NamedTensors st = state_layout();
  for (auto& [n, t] : st)
    if (n.rfind("rng.", 0) == 0) t = t.clone();
  if (zero_) {
    read_named_tensors(path, st, zero_->state_metadata());
    zero_->state_loaded(st);
  } else {
    read_named_tensors(path, st, kStateMeta);
    adamw_.state_loaded(st);
  }
  for (auto& [n, t] : st) {
    if (n == "rng.cpu" || n == "rng.cuda") {
      at::Generator g = at::globalContext().defaultGenerator(n == "rng.cpu" ? at::Device(at::kCPU) : model_->device());
      std::lock_guard<std::mutex> glock(g.mutex());
      g.set_state(t);
    }
  }
  step_count_ = zero_ ? zero_->step_count() : adamw_.step_count();
}

NamedTensors Trainer::gradients() {
  std::lock_guard<std::mutex> lock(policy_->mu);
  NamedTensors out;
  const auto& g = adamw_.grads();
  for (size_t i = 0; i < g.size(); ++i) {
    const auto& p = adamw_.params()[i];
    out.emplace_back(p.first,
                     g[i].defined() ? g[i].to(at::kCPU, at::kFloat).clone() : at::zeros(p.second.sizes(), at::kFloat));
  }
  return out;
}

memory::Counter Trainer::memory() {
  memory::Counter c;
  {
    std::lock_guard<std::mutex> lock(policy_->mu);
    auto model = model_checked();
    // Sharded state first, so gathered unit buffers count as gathered, not as the weights viewing them.
    if (zero_) zero_->count_memory(c);
    count_model(c, "weights", *model);
    c.categories()["gradients"];
    for (const auto& g : adamw_.grads()) c.add("gradients", memory::dtype_part(g), g);
    for (const auto& [name, p] : adamw_.params()) c.add("gradients", memory::dtype_part(p.grad()), p.grad());
    c.categories()["optimizer"];
    for (const auto& t : adamw_.masters()) c.add("optimizer", "master", t);
    for (const auto& t : adamw_.exp_avg()) c.add("optimizer", "exp_avg", t);
    for (const auto& t : adamw_.exp_avg_sq()) c.add("optimizer", "exp_avg_sq", t);
  }
  if (reference_ && reference_ != policy_) {
    std::lock_guard<std::mutex> lock(reference_->mu);
    count_model(c, "reference", *reference_->get());
  }
  memory::add_registered(c);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Metrics.

void Trainer::Accum::add(const LossTerms& t, double loss_value) {
  loss += loss_value;
  pg += t.pg_loss.item<double>();
  pen += t.penalty_loss.item<double>();
  kl += t.kl_loss.item<double>();
  ent_bonus += t.entropy_bonus.item<double>();
  ratio.push_back(t.ratio);
  clow.push_back(t.clipped_low);
  chigh.push_back(t.clipped_high);
  dual.push_back(t.dual_clipped);
  pen_tok.push_back(t.penalty);
  pen_grad.push_back(t.penalty_grad_abs);
  akl.push_back(t.approx_kl);
  if (t.ref_kl.defined()) refkl.push_back(t.ref_kl);
  if (t.entropy.defined()) ent.push_back(t.entropy);
  if (t.rollout_is_weight.defined()) is_w.push_back(t.rollout_is_weight), is_raw.push_back(t.rollout_is_raw);
  tokens += t.ratio.numel();
}

Metrics Trainer::Accum::summarize() const {
  Metrics m;
  m.emplace_back("loss", loss);
  m.emplace_back("pgLoss", pg);
  m.emplace_back("penaltyLoss", pen);
  m.emplace_back("klLoss", kl);
  m.emplace_back("entropyBonus", ent_bonus);
  auto mean_of = [](const std::vector<at::Tensor>& v) {
    if (v.empty()) return 0.0;
    at::Tensor c = at::cat(v).to(at::kDouble);
    return c.numel() ? c.mean().item<double>() : 0.0;
  };
  if (tokens > 0) {
    at::Tensor r = at::cat(ratio).to(at::kDouble);
    m.emplace_back("ratioMean", r.mean().item<double>());
    m.emplace_back("ratioMin", r.min().item<double>());
    m.emplace_back("ratioMax", r.max().item<double>());
    // Quantiles with linear interpolation (torch.quantile's default), via one sort (no size limit).
    at::Tensor sorted = std::get<0>(r.sort()).to(at::kCPU);
    const double* sp = sorted.data_ptr<double>();
    const int64_t n = sorted.numel();
    auto quant = [&](double q) {
      const double x = q * static_cast<double>(n - 1);
      const int64_t lo = static_cast<int64_t>(std::floor(x)), hi = std::min(lo + 1, n - 1);
      return sp[lo] + (sp[hi] - sp[lo]) * (x - static_cast<double>(lo));
    };
    m.emplace_back("ratioP5", quant(0.05));
    m.emplace_back("ratioP50", quant(0.5));
    m.emplace_back("ratioP95", quant(0.95));
  } else {
    for (const char* k : {"ratioMean", "ratioMin", "ratioMax", "ratioP5", "ratioP50", "ratioP95"})
      m.emplace_back(k, 1.0);
  }
  const double cl = mean_of(clow), ch = mean_of(chigh);
  m.emplace_back("clipFracLow", cl);
  m.emplace_back("clipFracHigh", ch);
  m.emplace_back("clipFrac", cl + ch);
  m.emplace_back("dualClipFrac", mean_of(dual));
  m.emplace_back("penaltyMean", mean_of(pen_tok));
  m.emplace_back("penaltyGradAbsMean", mean_of(pen_grad));
  m.emplace_back("entropy", mean_of(ent));
  m.emplace_back("approxKl", mean_of(akl));
  m.emplace_back("refKl", mean_of(refkl));
  // Rollout correction (only when on): truncated weight mean, untruncated max, fraction truncated.
  if (!is_w.empty()) {
    at::Tensor w = at::cat(is_w).to(at::kDouble), raw = at::cat(is_raw).to(at::kDouble);
    if (w.numel() > 0) {
      m.emplace_back("rolloutIsMean", w.mean().item<double>());
      m.emplace_back("rolloutIsMax", raw.max().item<double>());
      m.emplace_back("rolloutIsClipFrac", (raw > w).to(at::kDouble).mean().item<double>());
    }
  }
  m.emplace_back("responseTokens", static_cast<double>(tokens));
  m.emplace_back("sequences", static_cast<double>(seqs));
  m.emplace_back("microBatches", static_cast<double>(micro));
  return m;
}

}  // namespace gtr
