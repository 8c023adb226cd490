#include "parallel/dist_binding.h"
#include <dlfcn.h>
#include <string>
#include <thread>
#include <chrono>
#include "core/async.h"
#include "core/options.h"
#include "policy/policy_wrap.h"

namespace gtr {

Napi::FunctionReference* ProcessGroupWrap::ctor_ = nullptr;

Napi::Function ProcessGroupWrap::Define(Napi::Env env) {
  Napi::Function f = DefineClass(env, "ProcessGroup",
                                 {
                                     InstanceAccessor("rank", &ProcessGroupWrap::Rank, nullptr),
                                     InstanceAccessor("size", &ProcessGroupWrap::Size, nullptr),
                                     InstanceAccessor("backend", &ProcessGroupWrap::Backend, nullptr),
                                     InstanceMethod("connect", &ProcessGroupWrap::Connect),
                                     InstanceMethod("allReduceSum", &ProcessGroupWrap::AllReduceSum),
                                     InstanceMethod("allGather", &ProcessGroupWrap::AllGather),
                                     InstanceMethod("broadcast", &ProcessGroupWrap::Broadcast),
                                     InstanceMethod("barrier", &ProcessGroupWrap::Barrier),
                                     InstanceMethod("close", &ProcessGroupWrap::Close),
                                     InstanceMethod("sendWeights", &ProcessGroupWrap::SendWeights),
                                     InstanceMethod("receiveWeights", &ProcessGroupWrap::ReceiveWeights),
                                     InstanceMethod("loadReceivedWeights", &ProcessGroupWrap::LoadReceivedWeights),
                                 });
  ctor_ = new Napi::FunctionReference(Napi::Persistent(f));
  return f;
}

std::shared_ptr<dist::ProcessGroup> ProcessGroupWrap::GroupOf(const Napi::Value& v) {
  if (!ctor_ || !v.IsObject() || !v.As<Napi::Object>().InstanceOf(ctor_->Value())) return nullptr;
  return Napi::ObjectWrap<ProcessGroupWrap>::Unwrap(v.As<Napi::Object>())->pg_;
}

// The directory of this addon (gtr_gloo.so is built next to it).
static std::string addon_dir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&addon_dir), &info) && info.dli_fname) {
    std::string p = info.dli_fname;
    auto slash = p.rfind('/');
    return slash == std::string::npos ? "." : p.substr(0, slash);
  }
  return ".";
}

ProcessGroupWrap::ProcessGroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupWrap>(info) {
  Napi::Env env = info.Env();
  try {
    // Read with the one option reader (core/options.h): a wrong type or range is an error naming the
    // field, never a silent default.
    const JsOptions o(info.Length() >= 1 ? info[0] : env.Undefined(), "new ProcessGroup: option ");
    dist::GroupOptions g;
    g.size = static_cast<int>(o.integer("worldSize", 1, 1));
    g.rank = static_cast<int>(o.integer("rank", 0, 0));
    if (g.rank >= g.size)
      o.fail("rank", "must be < worldSize (" + std::to_string(g.size) + "), got " + std::to_string(g.rank));
    g.master_addr = o.string("masterAddr", "127.0.0.1");
    g.master_port = static_cast<int>(o.integer("masterPort", 29500, 1));
    if (g.master_port > 65535) o.fail("masterPort", "must be in [1, 65535], got " + std::to_string(g.master_port));
    g.store_server = o.boolean("storeServer", false);
    g.backend = o.string("backend", "gloo");
    g.timeout_ms = o.integer("timeoutMs", 30 * 60 * 1000, 1);
    g.iface = o.string("iface", "");
    g.hostname = o.string("hostname", "");
    g.device_index = static_cast<int>(o.integer("deviceIndex", 0, 0));
    g.gloo_library = o.string("glooLibrary", addon_dir() + "/gtr_gloo.so");
    opts_ = g;
  } catch (const std::exception& e) {
    Napi::Error::New(env, exception_message(e)).ThrowAsJavaScriptException();
  }
}

// connect(): joins the rendezvous and the backend on a thread of its own, so the JS thread stays
// free for signal handlers and the caller's deadline. Not a libuv pool thread: a store that accepts
// connections but never answers blocks the join for good, and the pool's threads are joined at
// process exit, so a stuck one would keep the process from exiting; a detached thread does not.
namespace {
struct ConnectJob {
  dist::GroupOptions opts;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference self;
  std::shared_ptr<dist::ProcessGroup> pg;
  std::string error;
};
}  // namespace

Napi::Value ProcessGroupWrap::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (pg_ || connecting_) return rejected(env, "connect(): the process group is already connected or connecting");
  connecting_ = true;
  auto* job = new ConnectJob{opts_, Napi::Promise::Deferred::New(env), Napi::Persistent(info.This().As<Napi::Object>()),
                             nullptr, ""};
  Napi::Promise promise = job->deferred.Promise();
  auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                            "gtr.ProcessGroup.connect", 0, 1);
  tsfn.Unref(env);  // the caller's deadline timer keeps the loop alive, not a join that may never end
  std::thread([tsfn, job]() mutable {
    try {
      job->pg = dist::create_process_group(job->opts);
    } catch (const std::exception& e) {
      job->error = exception_message(e);
    } catch (...) {
      job->error = "unknown native exception";
    }
    tsfn.BlockingCall(job, [](Napi::Env env, Napi::Function, ConnectJob* j) {
      auto* w = Napi::ObjectWrap<ProcessGroupWrap>::Unwrap(j->self.Value());
      w->connecting_ = false;
      if (j->error.empty()) {
        w->pg_ = j->pg;
        j->deferred.Resolve(env.Undefined());
      } else {
        j->deferred.Reject(Napi::Error::New(env, j->error).Value());
      }
      delete j;
    });
    tsfn.Release();
  }).detach();
  return promise;
}

std::shared_ptr<dist::ProcessGroup> ProcessGroupWrap::group(Napi::Env env) {
  if (!pg_)
    Napi::Error::New(env, "the process group is not connected (await connect()) or was closed")
        .ThrowAsJavaScriptException();
  return pg_;
}

Napi::Value ProcessGroupWrap::Rank(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pg_ ? pg_->rank() : opts_.rank);
}
Napi::Value ProcessGroupWrap::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pg_ ? pg_->size() : opts_.size);
}
Napi::Value ProcessGroupWrap::Backend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), pg_ ? pg_->backend() : opts_.backend);
}

static std::string label_of(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : "collective";
}

// allReduceSum(Float64Array | Float32Array, label): sums in place over ranks; resolves to the array.
Napi::Value ProcessGroupWrap::AllReduceSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pg = group(env);
  if (!pg) return Napi::Value();
  if (info.Length() < 1 || !info[0].IsTypedArray())
    return rejected(env, "allReduceSum(Float64Array | Float32Array, label)");
  auto ta = info[0].As<Napi::TypedArray>();
  const auto type = ta.TypedArrayType();
  if (type != napi_float64_array && type != napi_float32_array)
    return rejected(env, "allReduceSum: Float64Array or Float32Array expected");
  auto dtype = type == napi_float64_array ? at::kDouble : at::kFloat;
  void* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  at::Tensor t = at::from_blob(data, {static_cast<int64_t>(ta.ElementLength())}, at::TensorOptions().dtype(dtype));
  std::string label = label_of(info, 1);
  Napi::Reference<Napi::Value> keep = Napi::Persistent(info[0]);
  auto ref = std::make_shared<Napi::Reference<Napi::Value>>(std::move(keep));
  return run_async(
      env,
      [pg, t, label]() mutable {
        std::vector<at::Tensor> v{t};
        pg->allreduce_sum(v, label);
      },
      [ref](Napi::Env) { return ref->Value(); }, {info[0]});
}

// allGather(Float64Array, label): resolves to the concatenation over ranks (rank order).
Napi::Value ProcessGroupWrap::AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pg = group(env);
  if (!pg) return Napi::Value();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    return rejected(env, "allGather(Float64Array, label)");
  auto a = info[0].As<Napi::Float64Array>();
  at::Tensor local = at::empty({static_cast<int64_t>(a.ElementLength())}, at::kDouble);
  std::memcpy(local.data_ptr(), a.Data(), a.ElementLength() * sizeof(double));
  std::string label = label_of(info, 1);
  auto out = std::make_shared<at::Tensor>();
  return run_async(
      env, [pg, local, label, out] { *out = pg->all_gather_cat(local, label); },
      [out](Napi::Env env) -> Napi::Value {
        auto r = Napi::Float64Array::New(env, static_cast<size_t>(out->numel()));
        if (out->numel()) std::memcpy(r.Data(), out->data_ptr(), out->numel() * sizeof(double));
        return r;
      });
}

// broadcast(Uint8Array, root, label): overwrites the bytes on every rank but root with root's.
Napi::Value ProcessGroupWrap::Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pg = group(env);
  if (!pg) return Napi::Value();
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[1].IsNumber())
    return rejected(env, "broadcast(Uint8Array, root, label)");
  auto a = info[0].As<Napi::Uint8Array>();
  at::Tensor t =
      at::from_blob(a.Data(), {static_cast<int64_t>(a.ElementLength())}, at::TensorOptions().dtype(at::kByte));
  const int root = info[1].As<Napi::Number>().Int32Value();
  std::string label = label_of(info, 2);
  auto ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(info[0]));
  return run_async(
      env,
      [pg, t, root, label]() mutable {
        std::vector<at::Tensor> v{t};
        pg->broadcast(v, root, label);
      },
      [ref](Napi::Env) { return ref->Value(); }, {info[0]});
}

Napi::Value ProcessGroupWrap::Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pg = group(env);
  if (!pg) return Napi::Value();
  std::string label = label_of(info, 0);
  return run_async(env, [pg, label] { pg->barrier(label); }, nullptr);
}

Napi::Value ProcessGroupWrap::Close(const Napi::CallbackInfo& info) {
  pg_.reset();
  return info.Env().Undefined();
}

namespace {
// A PromiseWorker that runs `finally` on the JS thread before the promise settles either way.
class FinallyWorker : public PromiseWorker {
 public:
  FinallyWorker(Napi::Env env, Work work, Resolve resolve, const std::vector<Napi::Value>& pins,
                std::function<void()> finally)
      : PromiseWorker(env, std::move(work), std::move(resolve), pins), finally_(std::move(finally)) {}

 protected:
  void OnOK() override {
    finally_();
    PromiseWorker::OnOK();
  }
  void OnError(const Napi::Error& err) override {
    finally_();
    PromiseWorker::OnError(err);
  }

 private:
  std::function<void()> finally_;
};
}  // namespace

// sendWeights(policy, version, label): packs the policy's trainable tensors now, on the JS thread
// under the policy's lock (so an update queued after this call cannot change what is sent), then
// broadcasts them from this rank on a pool thread. Resolves to {bytes, ms} (ms: the broadcast).
Napi::Value ProcessGroupWrap::SendWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pg = group(env);
  if (!pg) return Napi::Value();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 2 && info[1].IsNumber(), "sendWeights(policy, version, label)");
  std::shared_ptr<PolicyHandle> handle;
  GTR_ASYNC_TRY(env, handle = PolicyWrap::HandleOf(info[0]));
  const int64_t version = info[1].As<Napi::Number>().Int64Value();
  std::string label = label_of(info, 2);
  auto flat = std::make_shared<at::Tensor>();
  auto layout = std::make_shared<dist::WeightLayout>();
  GTR_ASYNC_TRY(env, {
    std::lock_guard<std::mutex> lock(handle->mu);
    auto model = handle->get();
    *layout = dist::weight_layout(model->trainable());
    *flat = dist::pack_weights(model->trainable());
  });
  auto ms = std::make_shared<double>(0);
  return run_async(
      env,
      [pg, flat, layout, version, label, ms] {
        const auto t0 = std::chrono::steady_clock::now();
        dist::send_weights(*pg, *flat, *layout, version, label);
        *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        flat->reset();
      },
      [layout, ms](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("bytes", static_cast<double>(layout->bytes));
        o.Set("ms", *ms);
        return o;
      },
      {info[0]});
}

// receiveWeights(policy, root, label): receives root's weights into a staging buffer on the
// policy's device (the live weights are untouched, so a generation may run meanwhile). Resolves to
// {version, bytes, ms}; loadReceivedWeights(policy) then copies them in.
Napi::Value ProcessGroupWrap::ReceiveWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pg = group(env);
  if (!pg) return Napi::Value();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 2 && info[1].IsNumber(), "receiveWeights(policy, root, label)");
  GTR_ASYNC_CHECK_ARG(env, !receiving_, "receiveWeights: a receive is already in flight on this group");
  std::shared_ptr<PolicyHandle> handle;
  GTR_ASYNC_TRY(env, handle = PolicyWrap::HandleOf(info[0]));
  const int root = info[1].As<Napi::Number>().Int32Value();
  std::string label = label_of(info, 2);
  auto layout = std::make_shared<dist::WeightLayout>();
  at::Device device(at::kCPU);
  GTR_ASYNC_TRY(env, {
    std::lock_guard<std::mutex> lock(handle->mu);
    auto model = handle->get();
    *layout = dist::weight_layout(model->trainable());
    if (!model->trainable().empty()) device = model->trainable().front().second.device();
  });
  auto staged = staged_;
  receiving_ = true;
  auto ms = std::make_shared<double>(0);
  auto done = [this]() { receiving_ = false; };
  auto work = [pg, root, label, layout, device, staged, ms] {
    const auto t0 = std::chrono::steady_clock::now();
    staged->version = -1;
    staged->version = dist::receive_weights(*pg, root, staged->flat, *layout, device, label);
    *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  // The flag is cleared on the JS thread whether the receive succeeded or not.
  auto* w = new FinallyWorker(
      env, work,
      [staged, layout, ms](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("version", static_cast<double>(staged->version));
        o.Set("bytes", static_cast<double>(layout->bytes));
        o.Set("ms", *ms);
        return o;
      },
      {info[0], info.This()}, done);
  auto p = w->Promise();
  w->Queue();
  return p;
}

// loadReceivedWeights(policy): copies the staged weights into the policy (under its lock, on the JS
// thread, so it is ordered before any generation queued after it). Returns the version loaded.
Napi::Value ProcessGroupWrap::LoadReceivedWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (receiving_) GTR_THROW_ERROR(env, "loadReceivedWeights: a receive is still in flight (await receiveWeights)");
  if (staged_->version < 0) GTR_THROW_ERROR(env, "loadReceivedWeights: no weights were received");
  GTR_JS_TRY(env, {
    auto handle = PolicyWrap::HandleOf(info.Length() >= 1 ? info[0] : env.Undefined());
    std::lock_guard<std::mutex> lock(handle->mu);
    auto model = handle->get();
    dist::unpack_weights(model->trainable(), staged_->flat);
  });
  const int64_t v = staged_->version;
  staged_->version = -1;
  return Napi::Number::New(env, static_cast<double>(v));
}

void register_dist(Napi::Env env, Napi::Object& exports) { exports.Set("ProcessGroup", ProcessGroupWrap::Define(env)); }

}  // namespace gtr
