// The one AsyncWorker every slow native call goes through. Discipline (as in onnxruntime-node):
// JS values are converted to C++ on the JS thread before the worker is queued; `work` runs on a
// libuv pool thread and touches no N-API; `resolve` converts the result back on the JS thread.
// The JS objects named in `pins` (the wrapped policy, input buffers) stay referenced until the
// promise settles, so nothing is collected while the worker uses it.
#pragma once
#include <napi.h>
#include <functional>
#include <memory>
#include <vector>
#include "core/errors.h"

namespace gtr {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Resolve = std::function<Napi::Value(Napi::Env)>;

  PromiseWorker(Napi::Env env, Work work, Resolve resolve, const std::vector<Napi::Value>& pins)
      : Napi::AsyncWorker(env, "gtr.native"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        resolve_(std::move(resolve)) {
    for (const auto& v : pins) {
      if (v.IsObject()) pins_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    }
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(exception_message(e));
    } catch (...) {
      SetError("unknown native exception");
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    Napi::Value v;
    try {
      v = resolve_ ? resolve_(Env()) : Env().Undefined();
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), exception_message(e)).Value());
      return;
    }
    deferred_.Resolve(v);
  }
  void OnError(const Napi::Error& err) override { deferred_.Reject(err.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Resolve resolve_;
  std::vector<Napi::ObjectReference> pins_;
};

// Queues `work` on the pool and returns its promise.
inline Napi::Promise run_async(Napi::Env env, PromiseWorker::Work work, PromiseWorker::Resolve resolve,
                               const std::vector<Napi::Value>& pins = {}) {
  auto* w = new PromiseWorker(env, std::move(work), std::move(resolve), pins);
  auto p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace gtr
