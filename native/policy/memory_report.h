// The addon's memory report (Policy.memory / Trainer.memory in src/native/types.ts MemoryReport):
// a model's tensors walked into a memory::Counter, and the Counter as a JS object.
#pragma once
#include <napi.h>
#include <string>
#include "core/memory.h"
#include "model/qwen3.h"

namespace gtr {

// Adds the model's parameters and LoRA adapters to `category`, one part per dtype ("bfloat16",
// "float32", ...). The caller holds the model's mutex.
void count_model(memory::Counter& c, const std::string& category, Qwen3Model& model);

// {device, total, weights, reference, gradients, optimizer, gathered, kvPool}: each category
// {bytes, parts}; gathered and kvPool add peak; kvPool adds inUse and peakInUse. Bytes are numbers
// (exact below 2^53). Every category is present (0 when empty).
Napi::Object memory_report_to_js(Napi::Env env, memory::Counter& c, const std::string& device);

}  // namespace gtr
