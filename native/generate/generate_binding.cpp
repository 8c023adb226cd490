// JS bindings of the rollout engine (see src/native/types.ts: NativeAddon.generate, NativeTesting.sampleDebug).
// Arguments are converted and validated on the JS thread; generation runs on a libuv pool thread
// (Napi::AsyncProgressWorker) holding the policy handle's mutex, so the event loop never blocks.
// Progress goes through the worker's thread-safe channel (only the latest report is delivered if
// the JS thread is busy). Cancellation: the returned handle's cancel() sets a flag the engine polls
// between steps; the promise then rejects with Error('generation cancelled').
#include <napi.h>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include "core/convert.h"
#include "core/errors.h"
#include "core/options.h"
#include "generate/engine.h"
#include "policy/policy_wrap.h"

namespace gtr {
namespace {

std::vector<std::vector<int32_t>> prompts_from_js(const Napi::Value& v, int64_t vocab) {
  if (!v.IsArray()) throw std::invalid_argument("generate: prompts must be an array of Int32Array token id lists");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::vector<int32_t>> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const std::string what = "prompts[" + std::to_string(i) + "]";
    std::vector<int32_t> p = to_int_vector(a.Get(i), what.c_str());
    if (p.empty()) throw std::invalid_argument("generate: " + what + " is empty (a prompt needs at least one token)");
    for (size_t j = 0; j < p.size(); ++j)
      if (p[j] < 0 || p[j] >= vocab)
        throw std::invalid_argument("generate: " + what + " has token id " + std::to_string(p[j]) + " at position " +
                                    std::to_string(j) + ", outside the vocabulary [0, " + std::to_string(vocab) + ")");
    out.push_back(std::move(p));
  }
  return out;
}

SamplerOptions sampler_from_js(const JsOptions& o, int64_t vocab) {
  SamplerOptions s;
  s.temperature = o.number("temperature", 1.0);
  if (s.temperature < 0) o.fail("temperature", "must be >= 0 (0 = greedy)");
  s.top_p = o.number("topP", 1.0);
  if (!(s.top_p > 0.0 && s.top_p <= 1.0)) o.fail("topP", "must be in (0, 1], got " + std::to_string(s.top_p));
  s.top_k = o.integer("topK", 0, 0);
  if (s.top_k > vocab) s.top_k = 0;  // keeps everything, as transformers' min(top_k, vocab)
  s.min_p = o.number("minP", 0.0);
  if (!(s.min_p >= 0.0 && s.min_p <= 1.0)) o.fail("minP", "must be in [0, 1], got " + std::to_string(s.min_p));
  return s;
}

GenerateOptions options_from_js(const Napi::Value& v, int64_t vocab) {
  const JsOptions o(v, "generate: option ");
  GenerateOptions g;
  g.n = o.integer("n", 1, 1);
  g.max_new_tokens = o.integer("maxNewTokens", 128, 1);
  g.sampler = sampler_from_js(o, vocab);
  // The tokenizer's size: ids past it (a padded embedding) are never sampled (sampler.h).
  g.sampler.vocab = std::min<int64_t>(o.integer("vocabSize", vocab, 1), vocab);
  g.seed = static_cast<uint64_t>(o.integer("seed", 0, 0));
  g.prompt_index_offset = o.integer("promptIndexOffset", 0, 0);
  g.max_num_seqs = o.integer("maxNumSeqs", 0, 0);
  g.prefill_tokens = o.integer("prefillTokens", 8192, 1);
  g.return_logits = o.boolean("returnLogits", false);
  g.block_size = o.integer("blockSize", 32, 1);
  const double gib = o.number("kvCacheGib", 0.0);
  if (gib < 0) o.fail("kvCacheGib", "must be >= 0 (0 = as much as the call can use)");
  g.kv_cache_bytes = gib * 1073741824.0;
  g.kv_cache_blocks = o.integer("kvCacheBlocks", 0, 0);
  g.preempt_every = o.integer("preemptEvery", 0, 0);
  if (o.has("targetLengths"))
    for (int32_t v : to_int_vector(o.get("targetLengths"), "generate: option targetLengths"))
      g.target_lengths.push_back(v);
  g.dry_run = o.boolean("dryRun", false);
  g.check_blocks = o.boolean("checkBlocks", false);
  if (o.has("stopStrings")) {
    Napi::Value ss = o.get("stopStrings");
    if (!ss.IsArray()) o.fail("stopStrings", "must be an array of strings");
    Napi::Array a = ss.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsString() || e.As<Napi::String>().Utf8Value().empty())
        throw std::invalid_argument("generate: stopStrings[" + std::to_string(i) + "] must be a non-empty string");
      g.stop_strings.push_back(e.As<Napi::String>().Utf8Value());
    }
  }
  if (!g.stop_strings.empty()) {
    // tokenBytes: { bytes: Uint8Array, offsets: Int32Array [vocab + 1] }: token id i is
    // bytes[offsets[i], offsets[i + 1]) (ids past the tokenizer's vocabulary: empty).
    if (!o.has("tokenBytes")) o.fail("stopStrings", "need option tokenBytes {bytes, offsets}");
    const JsOptions tb = o.object("tokenBytes");
    Napi::Value bytes = tb.get("bytes");
    if (!bytes.IsTypedArray() || bytes.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw std::invalid_argument("generate: tokenBytes.bytes must be a Uint8Array");
    Napi::Uint8Array b = bytes.As<Napi::Uint8Array>();
    std::vector<int32_t> off = to_int_vector(tb.get("offsets"), "generate: option tokenBytes.offsets");
    if (off.empty() || off.front() != 0 || static_cast<size_t>(off.back()) != b.ElementLength())
      throw std::invalid_argument("generate: tokenBytes.offsets must start at 0 and end at bytes.length");
    auto table = std::make_shared<std::vector<std::string>>(static_cast<size_t>(vocab));
    for (size_t i = 0; i + 1 < off.size() && i < static_cast<size_t>(vocab); ++i) {
      if (off[i + 1] < off[i]) throw std::invalid_argument("generate: tokenBytes.offsets must not decrease");
      (*table)[i].assign(reinterpret_cast<const char*>(b.Data()) + off[i], static_cast<size_t>(off[i + 1] - off[i]));
    }
    g.token_bytes = table;
  }
  if (o.has("stopTokenIds")) {
    for (int32_t id : to_int_vector(o.get("stopTokenIds"), "generate: option stopTokenIds")) {
      if (id < 0 || id >= vocab)
        throw std::invalid_argument("generate: stopTokenIds has " + std::to_string(id) +
                                    ", outside the vocabulary [0, " + std::to_string(vocab) + ")");
      g.stop_token_ids.push_back(id);
    }
  }
  return g;
}

class GenerateWorker : public Napi::AsyncProgressWorker<GenerateProgress> {
 public:
  GenerateWorker(Napi::Env env, std::shared_ptr<PolicyHandle> handle, std::shared_ptr<Qwen3Model> model,
                 std::vector<std::vector<int32_t>> prompts, GenerateOptions opt,
                 std::shared_ptr<std::atomic<bool>> cancel, Napi::Object policy_obj, Napi::Value on_progress)
      : Napi::AsyncProgressWorker<GenerateProgress>(env, "gtr.generate"),
        deferred_(Napi::Promise::Deferred::New(env)),
        handle_(std::move(handle)),
        model_(std::move(model)),
        prompts_(std::move(prompts)),
        opt_(std::move(opt)),
        cancel_(std::move(cancel)) {
    policy_ref_ = Napi::Persistent(policy_obj);
    if (on_progress.IsFunction()) progress_ = Napi::Persistent(on_progress.As<Napi::Function>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      if (cancel_->load()) throw std::runtime_error("generation cancelled");
      std::lock_guard<std::mutex> lock(handle_->mu);
      GenerateHooks hooks;
      auto cancel = cancel_;
      hooks.cancelled = [cancel] { return cancel->load(); };
      hooks.progress = [&progress](const GenerateProgress& p) { progress.Send(&p, 1); };
      out_ = run_generate(*model_, prompts_, opt_, hooks);
    } catch (const std::exception& e) {
      SetError(exception_message(e));
    } catch (...) {
      SetError("unknown native exception");
    }
  }
  void OnProgress(const GenerateProgress* data, size_t count) override {
    if (progress_.IsEmpty() || count == 0 || data == nullptr) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("finishedSequences", Napi::Number::New(env, static_cast<double>(data->finished)));
    o.Set("totalSequences", Napi::Number::New(env, static_cast<double>(data->total)));
    o.Set("generatedTokens", Napi::Number::New(env, static_cast<double>(data->generated)));
    progress_.Call({o});
    if (env.IsExceptionPending()) (void)env.GetAndClearPendingException();  // a throwing callback is ignored
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    const int64_t n = opt_.n;
    const int64_t nprompts = static_cast<int64_t>(prompts_.size());
    Napi::Array groups = Napi::Array::New(env, static_cast<size_t>(nprompts));
    for (int64_t p = 0; p < nprompts; ++p) {
      Napi::Array g = Napi::Array::New(env, static_cast<size_t>(n));
      for (int64_t s = 0; s < n; ++s) {
        SequenceResult& r = out_.sequences[static_cast<size_t>(p * n + s)];
        Napi::Object o = Napi::Object::New(env);
        o.Set("promptIndex", Napi::Number::New(env, static_cast<double>(p)));
        o.Set("sampleIndex", Napi::Number::New(env, static_cast<double>(s)));
        auto toks = Napi::Int32Array::New(env, r.tokens.size());
        std::copy(r.tokens.begin(), r.tokens.end(), toks.Data());
        auto lps = Napi::Float32Array::New(env, r.logprobs.size());
        std::copy(r.logprobs.begin(), r.logprobs.end(), lps.Data());
        o.Set("tokens", toks);
        o.Set("logprobs", lps);
        o.Set("finishReason", r.stopped ? "stop" : "length");
        if (r.stop_offset >= 0) o.Set("stopOffset", Napi::Number::New(env, static_cast<double>(r.stop_offset)));
        o.Set("preemptions", Napi::Number::New(env, static_cast<double>(r.preemptions)));
        Napi::Object t = Napi::Object::New(env);
        t.Set("prefillMs", r.prefill_ms);
        t.Set("decodeMs", r.decode_ms);
        t.Set("tokens", Napi::Number::New(env, static_cast<double>(r.tokens.size())));
        o.Set("timings", t);
        if (opt_.return_logits) {
          auto lg = Napi::Float32Array::New(env, r.logits.size());
          std::copy(r.logits.begin(), r.logits.end(), lg.Data());
          o.Set("logits", lg);
        }
        g.Set(static_cast<uint32_t>(s), o);
      }
      groups.Set(static_cast<uint32_t>(p), g);
    }
    const GenerateStats& st = out_.stats;
    Napi::Object stats = Napi::Object::New(env);
    stats.Set("wallMs", st.wall_ms);
    stats.Set("prefillMs", st.prefill_ms);
    stats.Set("decodeMs", st.decode_ms);
    stats.Set("steps", Napi::Number::New(env, static_cast<double>(st.steps)));
    stats.Set("generatedTokens", Napi::Number::New(env, static_cast<double>(st.generated_tokens)));
    stats.Set("prefillTokens", Napi::Number::New(env, static_cast<double>(st.prefill_tokens)));
    stats.Set("promptPrefills", Napi::Number::New(env, static_cast<double>(st.prompt_prefills)));
    stats.Set("slots", Napi::Number::New(env, static_cast<double>(st.slots)));
    stats.Set("maxLen", Napi::Number::New(env, static_cast<double>(st.max_len)));
    stats.Set("cudaKernels", Napi::Boolean::New(env, st.cuda_kernels));
    stats.Set("graphSteps", Napi::Number::New(env, static_cast<double>(st.graph_steps)));
    stats.Set("graphs", Napi::Number::New(env, static_cast<double>(st.graphs)));
    auto num = [&](const char* k, int64_t v) { stats.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
    num("kvBlocks", st.kv_blocks);
    num("blockSize", st.block_size);
    num("kvBytes", st.kv_bytes);
    num("peakBlocks", st.peak_blocks);
    num("blocksInUseEnd", st.blocks_in_use_end);
    num("preemptions", st.preemptions);
    num("resumePrefills", st.resume_prefills);
    stats.Set("meanRunning", st.steps > 0 ? static_cast<double>(st.decode_rows) / static_cast<double>(st.steps) : 0.0);
    Napi::Object res = Napi::Object::New(env);
    res.Set("rollouts", groups);
    res.Set("stats", stats);
    deferred_.Resolve(res);
  }
  void OnError(const Napi::Error& err) override { deferred_.Reject(err.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<PolicyHandle> handle_;
  std::shared_ptr<Qwen3Model> model_;
  std::vector<std::vector<int32_t>> prompts_;
  GenerateOptions opt_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  Napi::ObjectReference policy_ref_;
  Napi::FunctionReference progress_;
  GenerateOutput out_;
};

// generate(policy, prompts, options, onProgress?) -> { promise, cancel() }
Napi::Value Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 3 && info[0].IsObject() && info[1].IsArray() && info[2].IsObject(),
                "generate(policy, prompts: Int32Array[], options, onProgress?)");
  GTR_CHECK_ARG(env, info.Length() < 4 || info[3].IsUndefined() || info[3].IsFunction(),
                "generate: onProgress must be a function");
  std::shared_ptr<PolicyHandle> handle;
  std::shared_ptr<Qwen3Model> model;
  std::vector<std::vector<int32_t>> prompts;
  GenerateOptions opt;
  GTR_JS_TRY(env, {
    handle = PolicyWrap::HandleOf(info[0]);
    model = handle->get();
    const int64_t vocab = model->config().vocab_size;
    if (vocab >= (int64_t{1} << 24))
      throw std::invalid_argument("generate: vocabularies of 2^24 ids or more are not supported");
    prompts = prompts_from_js(info[1], vocab);
    opt = options_from_js(info[2], vocab);
  });
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto* w = new GenerateWorker(env, handle, model, std::move(prompts), std::move(opt), cancel,
                               info[0].As<Napi::Object>(), info.Length() >= 4 ? info[3] : env.Undefined());
  Napi::Object out = Napi::Object::New(env);
  out.Set("promise", w->Promise());
  out.Set("cancel", Napi::Function::New(
                        env,
                        [cancel](const Napi::CallbackInfo& ci) -> Napi::Value {
                          cancel->store(true);
                          return ci.Env().Undefined();
                        },
                        "cancel"));
  w->Queue();
  return out;
}

// sampleDebug(logits: Float32Array [rows * vocab], vocab, options) -> Uint8Array kept mask (sync).
Napi::Value SampleDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 3 && info[1].IsNumber() && info[2].IsObject(),
                "sampleDebug(logits: Float32Array, vocab: number, options)");
  GTR_JS_TRY(env, {
    std::vector<float> l = to_float_vector(info[0], "logits");
    const int64_t vocab = info[1].As<Napi::Number>().Int64Value();
    if (vocab < 1 || l.size() % static_cast<size_t>(vocab) != 0)
      throw std::invalid_argument("sampleDebug: logits length is not a multiple of vocab");
    SamplerOptions so = sampler_from_js(JsOptions(info[2], "sampleDebug: option "), vocab);
    at::NoGradGuard no_grad;
    at::Tensor t = at::from_blob(l.data(), {static_cast<int64_t>(l.size()) / vocab, vocab}, at::kFloat);
    at::Tensor keep = kept_mask(t, so).to(at::kByte).contiguous();
    auto out = Napi::Uint8Array::New(env, static_cast<size_t>(keep.numel()));
    std::copy(keep.data_ptr<uint8_t>(), keep.data_ptr<uint8_t>() + keep.numel(), out.Data());
    return out;
  });
  return env.Undefined();
}

}  // namespace

// Registers generate on the addon's exports and sampleDebug on its `testing` object (called from
// native/addon.cpp Init).
void register_generate(Napi::Env env, Napi::Object& exports, Napi::Object& testing) {
  exports.Set("generate", Napi::Function::New(env, Generate, "generate"));
  testing.Set("sampleDebug", Napi::Function::New(env, SampleDebug, "sampleDebug"));
}

}  // namespace gtr
