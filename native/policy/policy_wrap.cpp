#include "policy/policy_wrap.h"
#include <map>
#include "core/async.h"
#include "core/convert.h"
#include "core/options.h"
#include "io/tensor_io.h"
#include "policy/memory_report.h"

namespace gtr {

static Napi::FunctionReference* g_policy_ctor = nullptr;

static Qwen3Config config_from_js(const Napi::Value& v) {
  const JsOptions o(v, "new Policy: config.");
  Qwen3Config c;
  c.vocab_size = o.integer("vocabSize");
  c.hidden_size = o.integer("hiddenSize");
  c.intermediate_size = o.integer("intermediateSize");
  c.num_hidden_layers = o.integer("numHiddenLayers");
  c.num_attention_heads = o.integer("numAttentionHeads");
  c.num_key_value_heads = o.integer("numKeyValueHeads");
  c.head_dim = o.integer("headDim");
  c.rms_norm_eps = o.number("rmsNormEps");
  c.rope_theta = o.number("ropeTheta");
  c.tie_word_embeddings = o.boolean("tieWordEmbeddings");
  c.max_position_embeddings = o.integer("maxPositionEmbeddings");
  // Architecture switches (src/checkpoint/config.ts ARCHITECTURES); absent: Qwen3's.
  c.qk_norm = o.boolean("qkNorm", true);
  c.qkv_bias = o.boolean("qkvBias", false);
  c.o_bias = o.boolean("oBias", false);
  c.mlp_bias = o.boolean("mlpBias", false);
  if (o.has("ropeScaling")) {
    const JsOptions r = o.object("ropeScaling");
    c.rope_scaling.type = r.string("type");
    c.rope_scaling.factor = r.number("factor", 1.0);
    c.rope_scaling.low_freq_factor = r.number("lowFreqFactor", 1.0);
    c.rope_scaling.high_freq_factor = r.number("highFreqFactor", 4.0);
    c.rope_scaling.original_max_position_embeddings = r.integer("originalMaxPositionEmbeddings", 8192, 1);
  }
  return c;
}

Napi::Function PolicyWrap::Define(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Policy",
                                 {
                                     InstanceMethod("parameterInfo", &PolicyWrap::ParameterInfo),
                                     InstanceMethod("enableLora", &PolicyWrap::EnableLora),
                                     InstanceMethod("adapterInfo", &PolicyWrap::AdapterInfo),
                                     InstanceMethod("mergeLora", &PolicyWrap::MergeLora),
                                     InstanceMethod("initRandom", &PolicyWrap::InitRandom),
                                     InstanceMethod("loadTensors", &PolicyWrap::LoadTensors),
                                     InstanceMethod("writeSafetensors", &PolicyWrap::WriteSafetensors),
                                     InstanceMethod("forwardLogits", &PolicyWrap::ForwardLogits),
                                     InstanceMethod("tokenLogprobs", &PolicyWrap::TokenLogprobs),
                                     InstanceMethod("memory", &PolicyWrap::Memory),
                                     InstanceMethod("dispose", &PolicyWrap::Dispose),
                                     InstanceAccessor("numParameters", &PolicyWrap::NumParameters, nullptr),
                                     InstanceAccessor("device", &PolicyWrap::Device, nullptr),
                                     InstanceAccessor("dtype", &PolicyWrap::DType, nullptr),
                                 });
  g_policy_ctor = new Napi::FunctionReference(Napi::Persistent(f));
  return f;
}

std::shared_ptr<PolicyHandle> PolicyWrap::HandleOf(const Napi::Value& v) {
  if (!g_policy_ctor || !v.IsObject() || !v.As<Napi::Object>().InstanceOf(g_policy_ctor->Value()))
    throw std::invalid_argument("expected a native Policy object");
  return Unwrap(v.As<Napi::Object>())->handle_;
}

PolicyWrap::PolicyWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PolicyWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject()) {
    Napi::TypeError::New(env, "new Policy(config, {device, dtype})").ThrowAsJavaScriptException();
    return;
  }
  try {
    Qwen3Config cfg = config_from_js(info[0]);
    const JsOptions opt(info[1], "new Policy: option ");
    at::Device device = parse_device(opt.string("device"));
    at::ScalarType dtype = parse_dtype(opt.string("dtype"));
    handle_ = std::make_shared<PolicyHandle>();
    handle_->model = std::make_shared<Qwen3Model>(cfg, device, dtype);
  } catch (const std::exception& e) {
    Napi::Error::New(env, exception_message(e)).ThrowAsJavaScriptException();
  }
}

// [{name, shape, dtype}] of named tensors (parameters or adapters).
static Napi::Array tensor_info(Napi::Env env, const std::vector<std::pair<std::string, at::Tensor>>& named) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& [name, t] : named) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", name);
    Napi::Array shape = Napi::Array::New(env, t.dim());
    for (int64_t d = 0; d < t.dim(); ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, t.size(d)));
    o.Set("shape", shape);
    o.Set("dtype", dtype_name(t.scalar_type()));
    out.Set(i++, o);
  }
  return out;
}

Napi::Value PolicyWrap::ParameterInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_JS_TRY(env, {
    auto model = handle_->get();
    return tensor_info(env, model->parameters());
  });
}

Napi::Value PolicyWrap::AdapterInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_JS_TRY(env, {
    auto model = handle_->get();
    return tensor_info(env, model->adapters());
  });
}

Napi::Value PolicyWrap::EnableLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_JS_TRY(env, {
    auto model = handle_->get();
    const JsOptions o(info.Length() > 0 ? info[0] : env.Undefined(), "enableLora: ");
    LoraConfig c;
    c.r = o.integer("r");
    c.alpha = o.number("alpha");
    c.dropout = o.number("dropout", 0.0);
    Napi::Value t = o.get("targetModules");
    if (!t.IsArray()) o.fail("targetModules", "must be an array of module names");
    Napi::Array a = t.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) c.targets.push_back(a.Get(i).ToString().Utf8Value());
    const uint64_t seed = static_cast<uint64_t>(o.integer("seed", 0, 0));
    std::lock_guard<std::mutex> lock(handle_->mu);
    model->enable_lora(c, seed);
    return env.Undefined();
  });
}

Napi::Value PolicyWrap::MergeLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Qwen3Model> model;
  GTR_ASYNC_TRY(env, model = handle_->get());
  auto h = handle_;
  return run_async(env,
                   [h, model] {
                     std::lock_guard<std::mutex> lock(h->mu);
                     model->merge_lora();
                   },
                   nullptr, {info.This()});
}

Napi::Value PolicyWrap::InitRandom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 2 && info[0].IsNumber() && info[1].IsNumber(), "initRandom(seed, std)");
  const uint64_t seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  const double std = info[1].As<Napi::Number>().DoubleValue();
  std::shared_ptr<Qwen3Model> model;
  GTR_ASYNC_TRY(env, model = handle_->get());
  auto h = handle_;
  return run_async(env,
                   [h, model, seed, std] {
                     std::lock_guard<std::mutex> lock(h->mu);
                     model->init_random(seed, std);
                   },
                   nullptr, {info.This()});
}

Napi::Value PolicyWrap::LoadTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 1 && info[0].IsArray(), "loadTensors(sources: TensorSource[])");
  std::vector<TensorSource> sources;
  std::shared_ptr<Qwen3Model> model;
  GTR_ASYNC_TRY(env, {
    model = handle_->get();
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const JsOptions o(a.Get(i), "loadTensors: sources[" + std::to_string(i) + "].");
      TensorSource s;
      s.name = o.string("name");
      s.file = o.string("file");
      s.dtype = o.string("dtype");
      for (int32_t d : to_int_vector(o.get("shape"), "shape")) s.shape.push_back(d);
      for (const char* k : {"offset", "length"})
        if (o.integer(k) < 0) o.fail(k, "must be >= 0");
      s.offset = static_cast<uint64_t>(o.integer("offset"));
      s.length = static_cast<uint64_t>(o.integer("length"));
      sources.push_back(std::move(s));
    }
  });
  auto h = handle_;
  return run_async(
      env,
      [h, model, sources] {
        std::lock_guard<std::mutex> lock(h->mu);
        at::NoGradGuard no_grad;
        std::map<std::string, std::unique_ptr<MappedFile>> files;
        for (const TensorSource& s : sources) {
          at::Tensor& dst = model->param(s.name);
          if (dst.sizes() != at::IntArrayRef(s.shape))
            throw std::runtime_error(s.file + ": tensor '" + s.name + "' has shape " +
                                     c10::str(at::IntArrayRef(s.shape)) + ", the model expects " +
                                     c10::str(dst.sizes()));
          auto it = files.find(s.file);
          if (it == files.end()) it = files.emplace(s.file, std::make_unique<MappedFile>(s.file)).first;
          dst.copy_(view_mapped(*it->second, s));
          // NaN / Inf weights (a diverged run's checkpoint, a damaged file) would sample
          // out-of-vocabulary ids and score NaN without a word: refuse them here.
          if (!at::isfinite(dst).all().item<bool>()) {
            const int64_t bad = at::logical_not(at::isfinite(dst)).sum().item<int64_t>();
            throw std::runtime_error(s.file + ": tensor '" + s.name + "' holds " + std::to_string(bad) +
                                     " non-finite values (NaN or Inf) of " + std::to_string(dst.numel()) +
                                     ": the weights are damaged (a diverged run?); load another checkpoint");
          }
        }
      },
      nullptr, {info.This()});
}

Napi::Value PolicyWrap::WriteSafetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(
      env,
      info.Length() >= 4 && info[0].IsString() && info[1].IsTypedArray() && info[2].IsArray() && info[3].IsString(),
      "writeSafetensors(path, header: Uint8Array, names: string[], dtype)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto hdr = info[1].As<Napi::Uint8Array>();
  std::vector<uint8_t> header(hdr.Data(), hdr.Data() + hdr.ElementLength());
  std::vector<at::Tensor> tensors;
  at::ScalarType dtype;
  std::shared_ptr<Qwen3Model> model;
  GTR_ASYNC_TRY(env, {
    model = handle_->get();
    dtype = safetensors_dtype(info[3].As<Napi::String>().Utf8Value());
    Napi::Array names = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); ++i)
      tensors.push_back(model->param(names.Get(i).As<Napi::String>().Utf8Value()));
  });
  auto h = handle_;
  return run_async(env,
                   [h, model, path, header, tensors, dtype] {
                     std::lock_guard<std::mutex> lock(h->mu);
                     write_safetensors(path, header, tensors, dtype);
                   },
                   nullptr, {info.This()});
}

// The shared shape of the packed-batch calls: arguments converted on the JS thread, then
// `compute(model, batch)` on a worker under the policy's lock and without gradient, its float32
// CPU result returned as a Float32Array.
template <typename Compute>
static Napi::Value run_packed(const Napi::CallbackInfo& info, const std::shared_ptr<PolicyHandle>& handle,
                              const char* usage, Compute compute) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 2, usage);
  std::shared_ptr<Qwen3Model> model;
  PackedTokens b;
  GTR_ASYNC_TRY(env, {
    model = handle->get();
    b = packed_tokens_from_js(info[0], info[1], model->config().vocab_size);
  });
  auto result = std::make_shared<at::Tensor>();
  return run_async(
      env,
      [handle, model, b, result, compute] {
        std::lock_guard<std::mutex> lock(handle->mu);
        at::NoGradGuard no_grad;
        *result = compute(*model, b);
      },
      [result](Napi::Env env) -> Napi::Value { return to_float32_array(env, *result); }, {info.This()});
}

Napi::Value PolicyWrap::ForwardLogits(const Napi::CallbackInfo& info) {
  return run_packed(info, handle_, "forwardLogits(tokens, seqLens)", [](Qwen3Model& model, const PackedTokens& b) {
    at::Tensor hidden = model.forward_hidden(b.ids.to(model.device()), b.lens);
    return at::linear(hidden, model.lm_head()).to(at::kCPU, at::kFloat).contiguous();
  });
}

Napi::Value PolicyWrap::TokenLogprobs(const Napi::CallbackInfo& info) {
  return run_packed(info, handle_, "tokenLogprobs(tokens, seqLens)", [](Qwen3Model& model, const PackedTokens& b) {
    at::Tensor ids = b.ids.to(model.device());
    at::Tensor hidden = model.forward_hidden(ids, b.lens);
    // Row t predicts token t+1 of the same sequence; the first token of each sequence gets 0.
    at::Tensor lp = chunked_token_logprobs(hidden, model.lm_head(), at::roll(ids, -1)).to(at::kCPU);
    at::Tensor out = at::zeros({ids.size(0)}, at::kFloat);
    int64_t start = 0;
    for (int64_t len : b.lens) {
      if (len > 1) out.narrow(0, start + 1, len - 1).copy_(lp.narrow(0, start, len - 1));
      start += len;
    }
    return out;
  });
}

// memory({resetPeaks?}): the policy's weights plus the registered categories (the KV pool of a
// running or past generate call, gathered buffers); no gradients or optimizer state (Trainer.memory).
Napi::Value PolicyWrap::Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Qwen3Model> model;
  bool reset = false;
  GTR_ASYNC_TRY(env, {
    model = handle_->get();
    reset = JsOptions::optional(env, info.Length() >= 1 ? info[0] : env.Undefined(), "memory: option ")
                .boolean("resetPeaks", false);
  });
  auto h = handle_;
  auto result = std::make_shared<memory::Counter>();
  return run_async(
      env,
      [h, model, result, reset] {
        {
          std::lock_guard<std::mutex> lock(h->mu);
          count_model(*result, "weights", *model);
        }
        memory::add_registered(*result);
        if (reset) memory::reset_peaks();
      },
      [result, model](Napi::Env env) -> Napi::Value {
        return memory_report_to_js(env, *result, model->device().str());
      },
      {info.This()});
}

Napi::Value PolicyWrap::Dispose(const Napi::CallbackInfo& info) {
  handle_->model.reset();
  return info.Env().Undefined();
}

Napi::Value PolicyWrap::NumParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_JS_TRY(env, return Napi::Number::New(env, static_cast<double>(handle_->get()->num_parameters())));
}
Napi::Value PolicyWrap::Device(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_JS_TRY(env, return Napi::String::New(env, handle_->get()->device().str()));
}
Napi::Value PolicyWrap::DType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_JS_TRY(env, return Napi::String::New(env, dtype_name(handle_->get()->dtype())));
}

}  // namespace gtr
