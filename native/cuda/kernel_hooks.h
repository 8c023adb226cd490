// Registers the kernel test and bench hooks (kernelDebug, kernelBench) on `native().testing`.
// Their types: src/native/types.ts NativeTesting.
#pragma once
#include <napi.h>

namespace gtr {
void register_kernel_hooks(Napi::Env env, Napi::Object& testing);
}  // namespace gtr
