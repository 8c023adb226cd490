// Module entry: registers every export described in src/native/types.ts.
#include <napi.h>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>
#include <chrono>
#include <thread>
#include "core/async.h"
#include "policy/policy_wrap.h"
#include "cuda/kernel_hooks.h"
#include "train/trainer_wrap.h"
#ifdef GTR_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace gtr {

static Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("addon", "0.1.0");
  o.Set("libtorch", TORCH_VERSION);
#ifdef GTR_WITH_CUDA
  o.Set("cudaCompiled", true);
#else
  o.Set("cudaCompiled", false);
#endif
  const bool has = at::hasCUDA();
  const int count = has ? static_cast<int>(at::detail::getCUDAHooks().deviceCount()) : 0;
  o.Set("cudaAvailable", has);
  o.Set("cudaDeviceCount", count);
  Napi::Array names = Napi::Array::New(env);
#ifdef GTR_WITH_CUDA
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) == cudaSuccess) names.Set(static_cast<uint32_t>(i), std::string(p.name));
  }
#endif
  o.Set("cudaDeviceNames", names);
  o.Set("numThreads", at::get_num_threads());
  return o;
}

static Napi::Value SleepAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsNumber(), "sleepAsync(ms)");
  const int64_t ms = info[0].As<Napi::Number>().Int64Value();
  return run_async(env, [ms] { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }, nullptr);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("versions", Napi::Function::New(env, Versions));
  exports.Set("sleepAsync", Napi::Function::New(env, SleepAsync));
  exports.Set("Policy", PolicyWrap::Define(env));
  register_kernel_hooks(env, exports);
  exports.Set("Trainer", TrainerWrap::Define(env));
  { void register_generate(Napi::Env, Napi::Object&); register_generate(env, exports); }  // native/generate
  { void register_dist(Napi::Env, Napi::Object&); register_dist(env, exports); }  // native/dist
  return exports;
}

}  // namespace gtr

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return gtr::Init(env, exports); }
NODE_API_MODULE(gtr_native, InitModule)
