#include "policy/memory_report.h"

namespace gtr {

void count_model(memory::Counter& c, const std::string& category, Qwen3Model& model) {
  c.categories()[category];
  for (const auto& [name, p] : model.parameters()) c.add(category, memory::dtype_part(p), p);
  for (const auto& [name, p] : model.adapters()) c.add(category, memory::dtype_part(p), p);
}

Napi::Object memory_report_to_js(Napi::Env env, memory::Counter& c, const std::string& device) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", device);
  o.Set("total", Napi::Number::New(env, static_cast<double>(c.total())));
  for (const std::string& name : memory::category_names()) {
    const memory::Usage& u = c.categories()[name];
    Napi::Object cat = Napi::Object::New(env);
    cat.Set("bytes", Napi::Number::New(env, static_cast<double>(u.bytes)));
    Napi::Object parts = Napi::Object::New(env);
    for (const auto& [k, v] : u.parts) parts.Set(k, Napi::Number::New(env, static_cast<double>(v)));
    cat.Set("parts", parts);
    if (name == "gathered" || name == "kv_pool") cat.Set("peak", Napi::Number::New(env, static_cast<double>(u.peak)));
    if (name == "kv_pool") {
      cat.Set("inUse", Napi::Number::New(env, static_cast<double>(std::max<int64_t>(u.in_use, 0))));
      cat.Set("peakInUse", Napi::Number::New(env, static_cast<double>(u.peak_in_use)));
    }
    o.Set(name == "kv_pool" ? "kvPool" : name, cat);
  }
  return o;
}

}  // namespace gtr
