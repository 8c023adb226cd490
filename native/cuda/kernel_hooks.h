// Registers the kernel test / bench hooks (kernelDebug, kernelBench) on the addon's exports.
#pragma once
#include <napi.h>

namespace gtr {
void register_kernel_hooks(Napi::Env env, Napi::Object exports);
}  // namespace gtr
