#include "train/trainer_wrap.h"
#include "parallel/dist_binding.h"
#include <cstring>
#include "core/async.h"
#include "core/convert.h"
#include "core/errors.h"
#include "core/options.h"
#include "policy/memory_report.h"
#include "policy/policy_wrap.h"
#include "train/chunked_logprob.h"

namespace gtr {

// ---------------------------------------------------------------------------------------------
// JS -> C++ conversions (JS thread).

static PackedInput packed_of(const Napi::Value& tokens, const Napi::Value& seq_lens, const Napi::Value& mask,
                             int64_t vocab) {
  PackedTokens p = packed_tokens_from_js(tokens, seq_lens, vocab);
  PackedInput b;
  b.ids = p.ids;
  b.lens = std::move(p.lens);
  const int64_t T = b.ids.size(0);
  if (mask.IsUndefined() || mask.IsNull()) {
    b.mask = at::ones({T}, at::kBool);
    int64_t s = 0;
    for (int64_t l : b.lens) b.mask[s].fill_(false), s += l;
  } else {
    b.mask = bool_tensor_from_js(mask, "responseMask");
  }
  return b;
}

LossConfig loss_config_from_js(const Napi::Value& v) {
  const JsOptions o(v, "loss.");
  LossConfig c;
  c.name = o.string("name");
  c.clip_low = o.number("clipLow", c.clip_low);
  c.clip_high = o.number("clipHigh", c.clip_high);
  c.dual_clip = o.number("dualClip", c.dual_clip);
  c.penalty = o.string("penalty", "");
  c.sigma = o.number("sigma", c.sigma);
  c.beta = o.number("beta", c.beta);
  c.beta_mode = o.string("betaMode", c.beta_mode);
  c.penalty_eps = o.number("penaltyEps", c.penalty_eps);
  c.kl_coef = o.number("klCoef", c.kl_coef);
  c.kl_estimator = o.string("klEstimator", c.kl_estimator);
  c.entropy_coef = o.number("entropyCoef", c.entropy_coef);
  c.aggregation = o.string("aggregation", c.aggregation);
  c.rollout_is_threshold = o.number("rolloutIsThreshold", c.rollout_is_threshold);
  return c;
}

static Napi::Object metrics_object(Napi::Env env, const Metrics& m) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [k, v] : m) {
    if (k == "skipped")
      o.Set(k, Napi::Boolean::New(env, v != 0));
    else
      o.Set(k, Napi::Number::New(env, v));
  }
  return o;
}

// ---------------------------------------------------------------------------------------------

Napi::Function TrainerWrap::Define(Napi::Env env) {
  return DefineClass(env, "Trainer",
                     {
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
                         InstanceMethod("memory", &TrainerWrap::Memory),
                         InstanceMethod("gatherWeights", &TrainerWrap::GatherWeights),
                         InstanceMethod("releaseWeights", &TrainerWrap::ReleaseWeights),
                         InstanceMethod("idleMicroBatch", &TrainerWrap::IdleMicroBatch),
                         InstanceMethod("stateBytes", &TrainerWrap::StateBytes),
                         InstanceMethod("gatheredBytes", &TrainerWrap::GatheredBytes),
                         InstanceMethod("dispose", &TrainerWrap::Dispose),
                         InstanceAccessor("stepCount", &TrainerWrap::StepCount, nullptr),
                         StaticMethod("lossNames", &TrainerWrap::LossNames),
                         StaticMethod("penaltyNames", &TrainerWrap::PenaltyNames),
                     });
}

TrainerWrap::TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1) throw std::invalid_argument("new Trainer(policy, options?)");
    auto policy = PolicyWrap::HandleOf(info[0]);
    TrainerOptions opt;
    std::shared_ptr<PolicyHandle> ref;
    const JsOptions o =
        JsOptions::optional(env, info.Length() >= 2 ? info[1] : env.Undefined(), "new Trainer: option ");
    if (o.has("betas")) {
      Napi::Value betas = o.get("betas");
      if (!betas.IsArray() || betas.As<Napi::Array>().Length() != 2 ||
          !betas.As<Napi::Array>().Get(uint32_t(0)).IsNumber() || !betas.As<Napi::Array>().Get(uint32_t(1)).IsNumber())
        o.fail("betas", "must be [beta1, beta2]");
      opt.adamw.beta1 = betas.As<Napi::Object>().Get(uint32_t(0)).As<Napi::Number>().DoubleValue();
      opt.adamw.beta2 = betas.As<Napi::Object>().Get(uint32_t(1)).As<Napi::Number>().DoubleValue();
    }
    opt.adamw.eps = o.number("eps", opt.adamw.eps);
    opt.adamw.weight_decay = o.number("weightDecay", opt.adamw.weight_decay);
    opt.adamw.max_grad_norm = o.number("maxGradNorm", opt.adamw.max_grad_norm);
    opt.adamw.fp32_master = o.boolean("fp32Master", opt.adamw.fp32_master);
    opt.logprob_chunk = o.integer("logprobChunk", opt.logprob_chunk);  // range checked by Trainer
    opt.checkpoint_layers = o.boolean("checkpointLayers", opt.checkpoint_layers);
    if (o.has("sharding")) opt.sharding = sharding_from_name(o.string("sharding"));
    opt.keep_gathered = o.boolean("keepGatheredWeights", opt.keep_gathered);
    if (o.has("reference")) ref = PolicyWrap::HandleOf(o.get("reference"));
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
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 2, "logprobs(tokens, seqLens, responseMask?)");
  PackedInput b;
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(env, {
    t = get();
    b = packed_of(info[0], info[1], info.Length() >= 3 ? info[2] : env.Undefined(), t->vocab_size());
  });
  auto result = std::make_shared<std::pair<at::Tensor, at::Tensor>>();
  return run_async(
      env, [t, b, result, reference] { *result = t->logprobs(b, reference); },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("logprobs", to_float32_array(env, result->first));
        o.Set("entropy", to_float32_array(env, result->second));
        return o;
      },
      {info.This()});
}

Napi::Value TrainerWrap::Logprobs(const Napi::CallbackInfo& info) { return Score(info, false); }
Napi::Value TrainerWrap::ReferenceLogprobs(const Napi::CallbackInfo& info) { return Score(info, true); }

Napi::Value TrainerWrap::TrainMicroBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 1 && info[0].IsObject(),
                      "trainMicroBatch({tokens, seqLens, responseMask, ...})");
  Napi::Object o = info[0].As<Napi::Object>();
  MicroBatchInput mb;
  ResolvedLoss loss;
  std::shared_ptr<Trainer> t;
  try {
    t = get();
    mb.batch = packed_of(o.Get("tokens"), o.Get("seqLens"), o.Get("responseMask"), t->vocab_size());
    if (o.Get("responseMask").IsUndefined()) throw std::invalid_argument("responseMask is required");
    mb.adv = float_tensor_from_js(o.Get("advantages"), "advantages");
    mb.old_logp = float_tensor_from_js(o.Get("oldLogprobs"), "oldLogprobs");
    Napi::Value anchors = o.Get("anchorLogprobs");
    if (!anchors.IsUndefined() && !anchors.IsNull()) {
      if (!anchors.IsArray()) throw std::invalid_argument("anchorLogprobs must be an array of Float32Array");
      Napi::Array a = anchors.As<Napi::Array>();
      for (uint32_t k = 0; k < a.Length(); ++k)
        mb.anchors.push_back(float_tensor_from_js(a.Get(k), "anchorLogprobs[k]"));
    }
    Napi::Value ref = o.Get("refLogprobs");
    if (!ref.IsUndefined() && !ref.IsNull()) mb.ref_logp = float_tensor_from_js(ref, "refLogprobs");
    Napi::Value rollout = o.Get("rolloutLogprobs");
    if (!rollout.IsUndefined() && !rollout.IsNull()) mb.rollout_logp = float_tensor_from_js(rollout, "rolloutLogprobs");
    loss = resolve_loss(loss_config_from_js(o.Get("loss")));
    if (!o.Get("denominators").IsObject())
      throw std::invalid_argument("denominators {tokens, sequences} are required (the mini-batch's counts)");
    const JsOptions d(o.Get("denominators"), "denominators.");
    mb.denom_tokens = d.number("tokens");
    mb.denom_seqs = d.number("sequences");
  } catch (const std::exception& e) {
    return rejected(env, exception_message(e));
  }
  auto result = std::make_shared<Metrics>();
  return run_async(
      env, [t, mb, loss, result] { *result = t->train_micro_batch(mb, loss); },
      [result](Napi::Env env) -> Napi::Value { return metrics_object(env, *result); }, {info.This()});
}

Napi::Value TrainerWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 1 && info[0].IsObject(), "step({lr})");
  double lr = 0;
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(env, {
    t = get();
    lr = JsOptions(info[0], "step: ").number("lr");
  });
  auto result = std::make_shared<std::pair<Metrics, std::string>>();
  return run_async(
      env, [t, lr, result] { result->first = t->step(lr, &result->second); },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object o = metrics_object(env, result->first);
        if (!result->second.empty()) o.Set("reason", result->second);
        return o;
      },
      {info.This()});
}

Napi::Value TrainerWrap::ZeroGrad(const Napi::CallbackInfo& info) {
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(info.Env(), t = get());
  return run_async(info.Env(), [t] { t->zero_grad(); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::SaveState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 1 && info[0].IsString(), "saveState(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(env, t = get());
  return run_async(env, [t, path] { t->save_state(path); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::LoadState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 1 && info[0].IsString(), "loadState(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(env, t = get());
  return run_async(env, [t, path] { t->load_state(path); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::Gradients(const Napi::CallbackInfo& info) {
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(info.Env(), t = get());
  auto result = std::make_shared<NamedTensors>();
  return run_async(
      info.Env(), [t, result] { *result = t->gradients(); },
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
      },
      {info.This()});
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
  GTR_ASYNC_TRY(env, t = get());
  return run_async(env, [t, pg] { t->set_process_group(pg); }, nullptr,
                   {info.This(), info.Length() ? info[0] : env.Undefined()});
}

// gatherWeights() / releaseWeights(): train.sharding full's reshard around a rollout phase (collectives).
Napi::Value TrainerWrap::GatherWeights(const Napi::CallbackInfo& info) {
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(info.Env(), t = get());
  return run_async(info.Env(), [t] { t->gather_weights(); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::ReleaseWeights(const Napi::CallbackInfo& info) {
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(info.Env(), t = get());
  return run_async(info.Env(), [t] { t->release_weights(); }, nullptr, {info.This()});
}

// idleMicroBatch('score' | 'train'): the collectives of a micro-batch with no tokens (train.sharding full;
// optimizer: 'train' joins the per-micro-batch gradient reduce-scatter with zeros).
Napi::Value TrainerWrap::IdleMicroBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(
      env,
      info.Length() >= 1 && info[0].IsString() &&
          (info[0].As<Napi::String>().Utf8Value() == "score" || info[0].As<Napi::String>().Utf8Value() == "train"),
      "idleMicroBatch(kind): kind is 'score' or 'train'");
  const bool train = info[0].As<Napi::String>().Utf8Value() == "train";
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(env, t = get());
  return run_async(env, [t, train] { t->idle_micro_batch(train); }, nullptr, {info.This()});
}

Napi::Value TrainerWrap::StateBytes(const Napi::CallbackInfo& info) {
  return js_try(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(get()->state_bytes()));
  });
}

Napi::Value TrainerWrap::GatheredBytes(const Napi::CallbackInfo& info) {
  return js_try(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(get()->gathered_bytes()));
  });
}

Napi::Value TrainerWrap::VerifyReplicas(const Napi::CallbackInfo& info) {
  std::shared_ptr<Trainer> t;
  GTR_ASYNC_TRY(info.Env(), t = get());
  return run_async(info.Env(), [t] { t->verify_replicas(); }, nullptr, {info.This()});
}

// memory({resetPeaks?}): the bytes this rank holds by category (Trainer::memory); resetPeaks
// restarts the registered categories' peaks after the report.
Napi::Value TrainerWrap::Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Trainer> t;
  bool reset = false;
  GTR_ASYNC_TRY(env, {
    t = get();
    reset = JsOptions::optional(env, info.Length() >= 1 ? info[0] : env.Undefined(), "memory: option ")
                .boolean("resetPeaks", false);
  });
  auto result = std::make_shared<memory::Counter>();
  auto device = std::make_shared<std::string>();
  return run_async(
      env,
      [t, result, device, reset] {
        *result = t->memory();
        *device = t->device().str();
        if (reset) memory::reset_peaks();
      },
      [result, device](Napi::Env env) -> Napi::Value { return memory_report_to_js(env, *result, *device); },
      {info.This()});
}

Napi::Value TrainerWrap::StepCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_JS_TRY(env, return Napi::Number::New(env, static_cast<double>(get()->step_count())));
}

// ---------------------------------------------------------------------------------------------
// The registries' names (recipe validation lists them in its errors).

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

}  // namespace gtr
