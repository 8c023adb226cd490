// The `Policy` ObjectWrap: a Qwen3 model held by the addon (see src/native/types.ts NativePolicy).
#pragma once
#include <napi.h>
#include <memory>
#include "policy/policy_handle.h"

namespace gtr {

class PolicyWrap : public Napi::ObjectWrap<PolicyWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The handle of a JS Policy object; throws std::invalid_argument when `v` is not one.
  static std::shared_ptr<PolicyHandle> HandleOf(const Napi::Value& v);

  explicit PolicyWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value ParameterInfo(const Napi::CallbackInfo& info);
  Napi::Value EnableLora(const Napi::CallbackInfo& info);
  Napi::Value AdapterInfo(const Napi::CallbackInfo& info);
  Napi::Value MergeLora(const Napi::CallbackInfo& info);
  Napi::Value InitRandom(const Napi::CallbackInfo& info);
  Napi::Value LoadTensors(const Napi::CallbackInfo& info);
  Napi::Value WriteSafetensors(const Napi::CallbackInfo& info);
  Napi::Value ForwardLogits(const Napi::CallbackInfo& info);
  Napi::Value TokenLogprobs(const Napi::CallbackInfo& info);
  Napi::Value Memory(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value NumParameters(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value DType(const Napi::CallbackInfo& info);

  std::shared_ptr<PolicyHandle> handle_;
};

}  // namespace gtr
