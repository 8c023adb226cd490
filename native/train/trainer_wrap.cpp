#include "train/trainer_wrap.h"
#include "dist/dist_binding.h"
#include <cstring>
#include "core/async.h"
#include "core/convert.h"
#include "policy/policy_wrap.h"
#include "train/chunked_logprob.h"

namespace gtr {

// ---------------------------------------------------------------------------------------------
// JS -> C++ conversions (JS thread).

// Runs `f` on the JS thread; a C++ exception becomes a thrown JS Error (GTR_JS_TRY without the
// macro's trouble with commas).
template <typename F>
static Napi::Value js_try(Napi::Env env, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    Napi::Error::New(env, exception_message(e)).ThrowAsJavaScriptException();
    return Napi::Value();
  }
}

static double opt_number(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw std::invalid_argument(std::string("field '") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}
static bool opt_bool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsBoolean()) throw std::invalid_argument(std::string("field '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}
static std::string opt_string(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsString()) throw std::invalid_argument(std::string("field '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

static at::Tensor float_tensor(const Napi::Value& v, const char* what) {
  std::vector<float> f = to_float_vector(v, what);
  return at::tensor(at::ArrayRef<float>(f), at::TensorOptions().dtype(at::kFloat));
}

static at::Tensor double_tensor(const Napi::Value& v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw std::invalid_argument(what + " must be a Float64Array");
  auto a = v.As<Napi::Float64Array>();
  return at::tensor(at::ArrayRef<double>(a.Data(), a.ElementLength()), at::TensorOptions().dtype(at::kDouble));
}

static at::Tensor mask_tensor(const Napi::Value& v, const char* what) {
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    auto a = v.As<Napi::Uint8Array>();
    std::vector<uint8_t> b(a.Data(), a.Data() + a.ElementLength());
    return at::tensor(at::ArrayRef<uint8_t>(b), at::TensorOptions().dtype(at::kByte)).to(at::kBool);
  }
  throw std::invalid_argument(std::string(what) + " must be a Uint8Array (1 = response token)");
}

static std::vector<int64_t> lens_of(const Napi::Value& v, int64_t total) {
  std::vector<int64_t> lens;
  int64_t sum = 0;
  for (int32_t l : to_int_vector(v, "seqLens")) {
    if (l <= 0) throw std::invalid_argument("seqLens: every sequence needs at least one token");
    lens.push_back(l);
    sum += l;
  }
  if (sum != total)
    throw std::invalid_argument("seqLens sum to " + std::to_string(sum) + " but tokens has " + std::to_string(total));
  return lens;
}

static PackedInput packed_of(const Napi::Value& tokens, const Napi::Value& seq_lens, const Napi::Value& mask,
                             int64_t vocab) {
  std::vector<int32_t> toks = to_int_vector(tokens, "tokens");
  for (size_t i = 0; i < toks.size(); ++i)
    if (toks[i] < 0 || toks[i] >= vocab)
      throw std::invalid_argument("token id " + std::to_string(toks[i]) + " at position " + std::to_string(i) +
                                  " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  PackedInput b;
  b.ids = at::tensor(at::ArrayRef<int32_t>(toks), at::TensorOptions().dtype(at::kInt)).to(at::kLong);
  const int64_t T = b.ids.size(0);
  b.lens = lens_of(seq_lens, T);
  if (mask.IsUndefined() || mask.IsNull()) {
    b.mask = at::ones({T}, at::kBool);
    int64_t s = 0;
    for (int64_t l : b.lens) b.mask[s].fill_(false), s += l;
  } else {
    b.mask = mask_tensor(mask, "responseMask");
  }
  return b;
}

static LossConfig loss_config_of(const Napi::Value& v) {
  if (!v.IsObject()) throw std::invalid_argument("loss must be an object {name, ...}");
  Napi::Object o = v.As<Napi::Object>();
  LossConfig c;
  c.name = get_string(o, "name");
  c.clip_low = opt_number(o, "clipLow", c.clip_low);
  c.clip_high = opt_number(o, "clipHigh", c.clip_high);
  c.dual_clip = opt_number(o, "dualClip", c.dual_clip);
  c.penalty = opt_string(o, "penalty", "");
  c.sigma = opt_number(o, "sigma", c.sigma);
  c.beta = opt_number(o, "beta", c.beta);
  c.beta_mode = opt_string(o, "betaMode", c.beta_mode);
  c.penalty_eps = opt_number(o, "penaltyEps", c.penalty_eps);
  c.kl_coef = opt_number(o, "klCoef", c.kl_coef);
  c.kl_estimator = opt_string(o, "klEstimator", c.kl_estimator);
  c.entropy_coef = opt_number(o, "entropyCoef", c.entropy_coef);
  c.aggregation = opt_string(o, "aggregation", c.aggregation);
  return c;
}

static Napi::Object metrics_object(Napi::Env env, const Metrics& m) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [k, v] : m) {
    if (k == "skipped") o.Set(k, Napi::Boolean::New(env, v != 0));
    else o.Set(k, Napi::Number::New(env, v));
  }
  return o;
}

static Napi::Float64Array to_float64_array(Napi::Env env, const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
  auto out = Napi::Float64Array::New(env, static_cast<size_t>(c.numel()));
  if (c.numel() > 0) std::memcpy(out.Data(), c.data_ptr<double>(), sizeof(double) * c.numel());
  return out;
}

// ---------------------------------------------------------------------------------------------

Napi::Function TrainerWrap::Define(Napi::Env env) {
  return DefineClass(env, "Trainer", {
    InstanceMethod("logprobs", &TrainerWrap::Logprobs),
    InstanceMethod("referenceLogprobs", &TrainerWrap::ReferenceLogprobs),
    InstanceMethod("trainMicroBatch", &TrainerWrap::TrainMicroBatch),
    InstanceMethod("step", &TrainerWrap::Step),
    InstanceMethod("zeroGrad", &TrainerWrap::ZeroGrad),
    InstanceMethod("saveState", &TrainerWrap::SaveState),
    InstanceMethod("loadState", &TrainerWrap::LoadState),
    InstanceMethod("gradients", &TrainerWrap::Gradients),
    InstanceMethod("setProcessGroup", &TrainerWrap::SetProcessGroup),
    InstanceMethod("verifyReplicas", &TrainerWrap::VerifyReplicas),
    InstanceMethod("dispose", &TrainerWrap::Dispose),
    InstanceAccessor("stepCount", &TrainerWrap::StepCount, nullptr),
    StaticMethod("lossNames", &TrainerWrap::LossNames),
    StaticMethod("penaltyNames", &TrainerWrap::PenaltyNames),
    StaticMethod("lossDebug", &TrainerWrap::LossDebug),
    StaticMethod("chunkedLogprobDebug", &TrainerWrap::ChunkedLogprobDebug),
  });
}

TrainerWrap::TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1) throw std::invalid_argument("new Trainer(policy, options?)");
    auto policy = PolicyWrap::HandleOf(info[0]);
    TrainerOptions opt;
    std::shared_ptr<PolicyHandle> ref;
    if (info.Length() >= 2 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      Napi::Value betas = o.Get("betas");
      if (!betas.IsUndefined()) {
        if (!betas.IsArray() || betas.As<Napi::Array>().Length() != 2 ||
            !betas.As<Napi::Array>().Get(uint32_t(0)).IsNumber() || !betas.As<Napi::Array>().Get(uint32_t(1)).IsNumber())
          throw std::invalid_argument("betas must be [beta1, beta2]");
        opt.adamw.beta1 = betas.As<Napi::Object>().Get(uint32_t(0)).As<Napi::Number>().DoubleValue();
        opt.adamw.beta2 = betas.As<Napi::Object>().Get(uint32_t(1)).As<Napi::Number>().DoubleValue();
      }
      opt.adamw.eps = opt_number(o, "eps", opt.adamw.eps);
      opt.adamw.weight_decay = opt_number(o, "weightDecay", opt.adamw.weight_decay);
      opt.adamw.max_grad_norm = opt_number(o, "maxGradNorm", opt.adamw.max_grad_norm);
      opt.adamw.fp32_master = opt_bool(o, "fp32Master", opt.adamw.fp32_master);
      opt.logprob_chunk = static_cast<int64_t>(opt_number(o, "logprobChunk", static_cast<double>(opt.logprob_chunk)));
      opt.checkpoint_layers = opt_bool(o, "checkpointLayers", opt.checkpoint_layers);
      Napi::Value r = o.Get("reference");
      if (!r.IsUndefined() && !r.IsNull()) ref = PolicyWrap::HandleOf(r);
    }
    trainer_ = std::make_shared<Trainer>(policy, ref, opt);
  } catch (const std::exception& e) {
    Napi::Error::New(env, exception_message(e)).ThrowAsJavaScriptException();
  }
}

std::shared_ptr<Trainer> TrainerWrap::get() const {
  if (!trainer_) throw std::runtime_error("the trainer was disposed");
  return trainer_;
}

Napi::Value TrainerWrap::Dispose(const Napi::CallbackInfo& info) {
  trainer_.reset();  // running workers keep their own reference; memory goes when they finish
  return info.Env().Undefined();
}

Napi::Value TrainerWrap::Score(const Napi::CallbackInfo& info, bool reference) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 2, "logprobs(tokens, seqLens, responseMask?)");
  PackedInput b;
  std::shared_ptr<Trainer> t;
  try {
    t = get();
    b = packed_of(info[0], info[1], info.Length() >= 3 ? info[2] : env.Undefined(), t->vocab_size());
  } catch (const std::exception& e) {
    GTR_THROW_ERROR(env, exception_message(e));
  }
  auto result = std::make_shared<std::pair<at::Tensor, at::Tensor>>();
  return run_async(env, [t, b, result, reference] { *result = t->logprobs(b, reference); },
                   [result](Napi::Env env) -> Napi::Value {
                     Napi::Object o = Napi::Object::New(env);
                     o.Set("logprobs", to_float32_array(env, result->first));
                     o.Set("entropy", to_float32_array(env, result->second));
                     return o;
                   }, {info.This()});
}

Napi::Value TrainerWrap::Logprobs(const Napi::CallbackInfo& info) { return Score(info, false); }
Napi::Value TrainerWrap::ReferenceLogprobs(const Napi::CallbackInfo& info) { return Score(info, true); }

Napi::Value TrainerWrap::TrainMicroBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsObject(), "trainMicroBatch({tokens, seqLens, responseMask, ...})");
  Napi::Object o = info[0].As<Napi::Object>();
  MicroBatchInput mb;
  ResolvedLoss loss;
  std::shared_ptr<Trainer> t;
  try {
    t = get();
    mb.batch = packed_of(o.Get("tokens"), o.Get("seqLens"), o.Get("responseMask"), t->vocab_size());
    if (o.Get("responseMask").IsUndefined()) throw std::invalid_argument("responseMask is required");
    mb.adv = float_tensor(o.Get("advantages"), "advantages");
    mb.old_logp = float_tensor(o.Get("oldLogprobs"), "oldLogprobs");
    Napi::Value anchors = o.Get("anchorLogprobs");
    if (!anchors.IsUndefined() && !anchors.IsNull()) {
      if (!anchors.IsArray()) throw std::invalid_argument("anchorLogprobs must be an array of Float32Array");
      Napi::Array a = anchors.As<Napi::Array>();
      for (uint32_t k = 0; k < a.Length(); ++k) mb.anchors.push_back(float_tensor(a.Get(k), "anchorLogprobs[k]"));
    }
    Napi::Value ref = o.Get("refLogprobs");
    if (!ref.IsUndefined() && !ref.IsNull()) mb.ref_logp = float_tensor(ref, "refLogprobs");
    loss = resolve_loss(loss_config_of(o.Get("loss")));
    Napi::Value d = o.Get("denominators");
    if (!d.IsObject()) throw std::invalid_argument("denominators {tokens, sequences} are required (the mini-batch's counts)");
    mb.denom_tokens = get_number(d.As<Napi::Object>(), "tokens");
    mb.denom_seqs = get_number(d.As<Napi::Object>(), "sequences");
  } catch (const std::exception& e) {
    GTR_THROW_ERROR(env, exception_message(e));
  }
  auto result = std::make_shared<Metrics>();
  return run_async(env, [t, mb, loss, result] { *result = t->train_micro_batch(mb, loss); },
                   [result](Napi::Env env) -> Napi::Value { return metrics_object(env, *result); }, {info.This()});
}

Napi::Value TrainerWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsObject(), "step({lr})");
  double lr = 0;
  std::shared_ptr<Trainer> t;
  GTR_JS_TRY(env, { t = get(); lr = get_number(info[0].As<Napi::Object>(), "lr"); });
  auto result = std::make_shared<std::pair<Metrics, std::string>>();
  return run_async(env, [t, lr, result] { result->first = t->step(lr, &result->second); },
                   [result](Napi::Env env) -> Napi::Value {
                     Napi::Object o = metrics_object(env, result->first);
                     if (!result->second.empty()) o.Set("reason", result->second);
                     return o;
                   }, {info.This()});
}

Napi::Value TrainerWrap::ZeroGrad(const Napi::CallbackInfo& info) {
  std::shared_ptr<Trainer> t;
  GTR_JS_TRY(info.Env(), t = get());
  return run_async(info.Env(), [t] { t->zero_grad(); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::SaveState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsString(), "saveState(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::shared_ptr<Trainer> t;
  GTR_JS_TRY(env, t = get());
  return run_async(env, [t, path] { t->save_state(path); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::LoadState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsString(), "loadState(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::shared_ptr<Trainer> t;
  GTR_JS_TRY(env, t = get());
  return run_async(env, [t, path] { t->load_state(path); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::Gradients(const Napi::CallbackInfo& info) {
  std::shared_ptr<Trainer> t;
  GTR_JS_TRY(info.Env(), t = get());
  auto result = std::make_shared<NamedTensors>();
  return run_async(info.Env(), [t, result] { *result = t->gradients(); },
                   [result](Napi::Env env) -> Napi::Value {
                     Napi::Array a = Napi::Array::New(env);
                     uint32_t i = 0;
                     for (const auto& [name, g] : *result) {
                       Napi::Object o = Napi::Object::New(env);
                       o.Set("name", name);
                       o.Set("grad", to_float32_array(env, g));
                       a.Set(i++, o);
                     }
                     return a;
                   }, {info.This()});
}

// setProcessGroup(pg | null): data-parallel training over pg's ranks (broadcasts rank 0's weights).
Napi::Value TrainerWrap::SetProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<dist::ProcessGroup> pg;
  if (info.Length() >= 1 && !info[0].IsNull() && !info[0].IsUndefined()) {
    pg = ProcessGroupWrap::GroupOf(info[0]);
    if (!pg) return rejected(env, "setProcessGroup: a ProcessGroup (or null) expected");
  }
  std::shared_ptr<Trainer> t;
  GTR_JS_TRY(env, t = get());
  return run_async(env, [t, pg] { t->set_process_group(pg); }, nullptr, {info.This(), info.Length() ? info[0] : env.Undefined()});
}

Napi::Value TrainerWrap::VerifyReplicas(const Napi::CallbackInfo& info) {
  std::shared_ptr<Trainer> t;
  GTR_JS_TRY(info.Env(), t = get());
  return run_async(info.Env(), [t] { t->verify_replicas(); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::StepCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_JS_TRY(env, return Napi::Number::New(env, static_cast<double>(get()->step_count())));
}

// ---------------------------------------------------------------------------------------------
// Static test hooks (synchronous, small inputs).

Napi::Value TrainerWrap::LossNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& [name, spec] : loss_registry()) a.Set(i++, name);
  return a;
}

Napi::Value TrainerWrap::PenaltyNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& p : penalty_registry()) a.Set(i++, p.name);
  return a;
}

Napi::Value TrainerWrap::LossDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 6, "lossDebug(logp, old, anchors, adv, mask, config, extra?)");
  return js_try(env, [&]() -> Napi::Value {
    at::Tensor logp_all = double_tensor(info[0], "logp");
    const int64_t T = logp_all.size(0);
    at::Tensor mask = mask_tensor(info[4], "mask");
    if (mask.size(0) != T) throw std::invalid_argument("mask length differs from logp");
    Napi::Object extra = info.Length() >= 7 && info[6].IsObject() ? info[6].As<Napi::Object>() : Napi::Object::New(env);
    std::vector<int64_t> lens = extra.Get("seqLens").IsUndefined() ? std::vector<int64_t>{T} : lens_of(extra.Get("seqLens"), T);
    at::Tensor pos = mask.nonzero().squeeze(1);
    std::vector<int64_t> sid_all;
    for (size_t s = 0; s < lens.size(); ++s) sid_all.insert(sid_all.end(), lens[s], static_cast<int64_t>(s));
    at::Tensor sid = at::tensor(sid_all, at::kLong).index_select(0, pos);
    auto pick = [&](const at::Tensor& t, const std::string& what) {
      if (t.size(0) != T) throw std::invalid_argument(what + " length differs from logp");
      return t.index_select(0, pos);
    };
    ResolvedLoss loss = resolve_loss(loss_config_of(info[5]));
    LossInputs in;
    in.logp = logp_all.index_select(0, pos).detach().requires_grad_(true);
    in.old_logp = pick(double_tensor(info[1], "old"), "old");
    if (!info[2].IsArray()) throw std::invalid_argument("anchors must be an array of Float64Array");
    Napi::Array anchors = info[2].As<Napi::Array>();
    for (uint32_t k = 0; k < anchors.Length(); ++k) in.anchors.push_back(pick(double_tensor(anchors.Get(k), "anchors[k]"), "anchors[k]"));
    in.adv = pick(double_tensor(info[3], "adv"), "adv");
    if (!extra.Get("ref").IsUndefined()) in.ref_logp = pick(double_tensor(extra.Get("ref"), "ref"), "ref");
    if (!extra.Get("entropy").IsUndefined())
      in.entropy = pick(double_tensor(extra.Get("entropy"), "entropy"), "entropy").detach().requires_grad_(true);
    in.seq_ids = sid;
    in.num_seqs = static_cast<int64_t>(lens.size());
    Napi::Value d = extra.Get("denominators");
    in.denom_tokens = d.IsObject() ? get_number(d.As<Napi::Object>(), "tokens") : static_cast<double>(pos.numel());
    in.denom_seqs = d.IsObject() ? get_number(d.As<Napi::Object>(), "sequences") : static_cast<double>(lens.size());
    at::AutoGradMode grad_mode(true);
    LossTerms terms = compute_loss(loss, in);
    terms.loss.backward();
    auto full = [&](const at::Tensor& x) {
      return at::zeros({T}, at::kDouble).index_copy(0, pos, x.defined() ? x.to(at::kDouble) : at::zeros({pos.numel()}, at::kDouble));
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", terms.loss.item<double>());
    o.Set("pgLoss", terms.pg_loss.item<double>());
    o.Set("penaltyLoss", terms.penalty_loss.item<double>());
    o.Set("klLoss", terms.kl_loss.item<double>());
    o.Set("entropyBonus", terms.entropy_bonus.item<double>());
    o.Set("grad", to_float64_array(env, full(in.logp.grad())));
    if (in.entropy.defined()) o.Set("entropyGrad", to_float64_array(env, full(in.entropy.grad())));
    o.Set("ratio", to_float64_array(env, full(terms.ratio)));
    o.Set("penalty", to_float64_array(env, full(terms.penalty)));
    o.Set("penaltyGradAbs", to_float64_array(env, full(terms.penalty_grad_abs)));
    o.Set("clippedLow", to_float64_array(env, full(terms.clipped_low)));
    o.Set("clippedHigh", to_float64_array(env, full(terms.clipped_high)));
    o.Set("dualClipped", to_float64_array(env, full(terms.dual_clipped)));
    return o;
  });
}

Napi::Value TrainerWrap::ChunkedLogprobDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsObject(),
                "chunkedLogprobDebug({hidden, weight, targets, hiddenSize, chunk, gradLogp, gradEntropy, naive})");
  return js_try(env, [&]() -> Napi::Value {
    Napi::Object o = info[0].As<Napi::Object>();
    const int64_t H = static_cast<int64_t>(get_number(o, "hiddenSize"));
    at::Tensor h = float_tensor(o.Get("hidden"), "hidden");
    at::Tensor w = float_tensor(o.Get("weight"), "weight");
    std::vector<int32_t> tg = to_int_vector(o.Get("targets"), "targets");
    if (H <= 0 || h.numel() % H != 0 || w.numel() % H != 0) throw std::invalid_argument("hidden / weight sizes are not multiples of hiddenSize");
    h = h.view({-1, H}).requires_grad_(true);
    w = w.view({-1, H}).requires_grad_(true);
    at::Tensor targets = at::tensor(at::ArrayRef<int32_t>(tg), at::kInt).to(at::kLong);
    if (targets.numel() > 0 && (targets.min().item<int64_t>() < 0 || targets.max().item<int64_t>() >= w.size(0)))
      throw std::invalid_argument("targets outside [0, vocab)");
    at::AutoGradMode grad_mode(true);
    const bool naive = opt_bool(o, "naive", false);
    auto [lp, ent] = naive ? naive_logprob_entropy(h, w, targets)
                           : chunked_logprob_entropy(h, w, targets, static_cast<int64_t>(get_number(o, "chunk")));
    at::Tensor g_lp = float_tensor(o.Get("gradLogp"), "gradLogp"), g_ent = float_tensor(o.Get("gradEntropy"), "gradEntropy");
    at::Tensor obj = (lp * g_lp).sum() + (ent * g_ent).sum();
    obj.backward();
    Napi::Object out = Napi::Object::New(env);
    out.Set("logprobs", to_float32_array(env, lp.detach()));
    out.Set("entropy", to_float32_array(env, ent.detach()));
    out.Set("gradHidden", to_float32_array(env, h.grad().defined() ? h.grad() : at::zeros_like(h)));
    out.Set("gradWeight", to_float32_array(env, w.grad().defined() ? w.grad() : at::zeros_like(w)));
    return out;
  });
}

}  // namespace gtr
