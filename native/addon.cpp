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
#include "core/errors.h"
#include "core/memory.h"
#include "core/options.h"
#ifdef GTR_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
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
#if defined(GTR_WITH_CUDA) && defined(GTR_WITH_NCCL)
  o.Set("ncclCompiled", true);  // multi-GPU data parallelism (native/parallel, c10d::ProcessGroupNCCL)
#else
  o.Set("ncclCompiled", false);
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

#ifdef GTR_WITH_CUDA
static Napi::Value cuda_memory(Napi::Env env, bool reset, c10::DeviceIndex dev) {
  c10::cuda::device_synchronize();
  const auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(dev);
  const size_t agg = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  Napi::Object o = Napi::Object::New(env);
  o.Set("allocated", static_cast<double>(st.allocated_bytes[agg].current));
  o.Set("peakAllocated", static_cast<double>(st.allocated_bytes[agg].peak));
  o.Set("reserved", static_cast<double>(st.reserved_bytes[agg].current));
  o.Set("peakReserved", static_cast<double>(st.reserved_bytes[agg].peak));
  size_t free_b = 0, total_b = 0;
  {
    c10::cuda::CUDAGuard guard(dev);
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) free_b = total_b = 0;
  }
  o.Set("deviceFree", static_cast<double>(free_b));  // device memory no allocator holds
  o.Set("deviceTotal", static_cast<double>(total_b));
  if (reset) c10::cuda::CUDACachingAllocator::resetPeakStats(dev);
  return o;
}
#endif

// cudaMemory(reset?: boolean, device?: number) -> { allocated, peakAllocated, reserved, peakReserved,
// deviceFree, deviceTotal } in bytes: the CUDA caching allocator's counters (after a device
// synchronise) and cudaMemGetInfo's free / total; null without CUDA.
// reset = true resets the peaks after reading them (benches: read + reset before the timed region).
static Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef GTR_WITH_CUDA
  if (!at::hasCUDA()) return env.Null();
  const bool reset = info.Length() >= 1 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  const auto dev = static_cast<c10::DeviceIndex>(
      info.Length() >= 2 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0);
  GTR_JS_TRY(env, return cuda_memory(env, reset, dev));
#else
  return env.Null();
#endif
}

// Test hook: sleeps `ms` on a worker thread (the async-worker tests).
static Napi::Value SleepAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_ASYNC_CHECK_ARG(env, info.Length() >= 1 && info[0].IsNumber(), "sleepAsync(ms)");
  const int64_t ms = info[0].As<Napi::Number>().Int64Value();
  return run_async(env, [ms] { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }, nullptr);
}

// Test hook: an FSDP-style gather cycle through the memory registry (core/memory.h), as sharded
// training registers its gathered units: for each size, a uint8 buffer of that many bytes is
// allocated and tracked under `category`, then freed (with `prefetch`, the next one is allocated
// before the previous is freed: two live at once). With `keepLast` the last buffer (tracked twice,
// to show it is counted once) stays alive until the next call. Throws for an unknown category.
static Napi::Value MemoryTrackCycle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static at::Tensor kept;
  static memory::Tracked kept_a, kept_b;
  try {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray())
      throw std::invalid_argument("memoryTrackCycle(category, sizes, {prefetch, keepLast}?)");
    const std::string category = info[0].As<Napi::String>().Utf8Value();
    const JsOptions o = JsOptions::optional(env, info.Length() >= 3 ? info[2] : env.Undefined(), "memoryTrackCycle: ");
    const bool prefetch = o.boolean("prefetch", false);
    const bool keep_last = o.boolean("keepLast", false);
    kept_a.reset();
    kept_b.reset();
    kept = at::Tensor();
    Napi::Array sizes = info[1].As<Napi::Array>();
    at::Tensor prev;
    memory::Tracked prev_reg;
    for (uint32_t i = 0; i < sizes.Length(); ++i) {
      at::Tensor buf = at::empty({sizes.Get(i).As<Napi::Number>().Int64Value()}, at::kByte);
      memory::Tracked reg = memory::track(category, "unit " + std::to_string(i), {buf});
      if (!prefetch) reg.reset(), buf = at::Tensor();  // freed before the next unit
      prev_reg = std::move(reg);
      prev = buf;  // with prefetch: the previous unit is freed here, after the next was allocated
      if (keep_last && i + 1 == sizes.Length()) {
        kept = at::empty({sizes.Get(i).As<Napi::Number>().Int64Value()}, at::kByte);
        kept_a = memory::track(category, "kept", {kept});
        kept_b = memory::track(category, "kept again", {kept, kept.view({-1})});
      }
    }
  } catch (const std::exception& e) {
    Napi::Error::New(env, exception_message(e)).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

void register_generate(Napi::Env, Napi::Object& exports, Napi::Object& testing);  // native/generate
void register_dist(Napi::Env, Napi::Object& exports);                             // native/parallel
void register_train_hooks(Napi::Env, Napi::Object& testing);                      // native/train

// The production surface on `exports`; test and bench hooks apart on `exports.testing`
// (src/native/types.ts NativeAddon and NativeTesting; test/native-exports.test.ts checks both).
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object testing = Napi::Object::New(env);
  exports.Set("versions", Napi::Function::New(env, Versions, "versions"));
  exports.Set("cudaMemory", Napi::Function::New(env, CudaMemory, "cudaMemory"));
  exports.Set("Policy", PolicyWrap::Define(env));
  exports.Set("Trainer", TrainerWrap::Define(env));
  register_generate(env, exports, testing);
  register_dist(env, exports);
  register_kernel_hooks(env, testing);
  register_train_hooks(env, testing);
  testing.Set("sleepAsync", Napi::Function::New(env, SleepAsync, "sleepAsync"));
  testing.Set("memoryTrackCycle", Napi::Function::New(env, MemoryTrackCycle, "memoryTrackCycle"));
  exports.Set("testing", testing);
  return exports;
}

}  // namespace gtr

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return gtr::Init(env, exports); }
NODE_API_MODULE(gtr_native, InitModule)
