#include <napi.h>
#include <ATen/ATen.h>
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("torchVersion", Napi::String::New(env, "x"));
  auto t = at::ones({2,2});
  exports.Set("sum", Napi::Number::New(env, t.sum().item<double>()));
  return exports;
}
NODE_API_MODULE(gtr_native, Init)
