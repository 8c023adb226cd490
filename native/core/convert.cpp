#include "core/convert.h"
#include <cstring>
#include <stdexcept>

namespace gtr {

template <typename T, typename TA>
static std::vector<T> to_vector(const Napi::Value& v, const char* what, napi_typedarray_type type) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != type) throw std::invalid_argument(std::string(what) + ": wrong typed array type");
    auto arr = v.As<TA>();
    return std::vector<T>(arr.Data(), arr.Data() + arr.ElementLength());
  }
  if (v.IsArray()) {
    auto a = v.As<Napi::Array>();
    std::vector<T> out(a.Length());
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsNumber()) throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) + "] is not a number");
      out[i] = static_cast<T>(e.As<Napi::Number>().DoubleValue());
    }
    return out;
  }
  throw std::invalid_argument(std::string(what) + " must be a typed array or an array of numbers");
}

std::vector<int32_t> to_int_vector(const Napi::Value& v, const char* what) {
  return to_vector<int32_t, Napi::Int32Array>(v, what, napi_int32_array);
}
std::vector<float> to_float_vector(const Napi::Value& v, const char* what) {
  return to_vector<float, Napi::Float32Array>(v, what, napi_float32_array);
}

Napi::Float32Array to_float32_array(Napi::Env env, const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
  auto out = Napi::Float32Array::New(env, static_cast<size_t>(c.numel()));
  if (c.numel() > 0) std::memcpy(out.Data(), c.data_ptr<float>(), sizeof(float) * c.numel());
  return out;
}

double get_number(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw std::invalid_argument(std::string("field '") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}
bool get_bool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throw std::invalid_argument(std::string("field '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}
std::string get_string(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw std::invalid_argument(std::string("field '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

at::ScalarType parse_dtype(const std::string& s) {
  if (s == "float32" || s == "fp32") return at::kFloat;
  if (s == "bfloat16" || s == "bf16") return at::kBFloat16;
  throw std::invalid_argument("dtype must be 'float32' or 'bfloat16', got '" + s + "'");
}
std::string dtype_name(at::ScalarType t) {
  if (t == at::kFloat) return "float32";
  if (t == at::kBFloat16) return "bfloat16";
  return std::string(c10::toString(t));
}

at::Device parse_device(const std::string& s) {
  at::Device d(s);  // throws c10::Error on a malformed string
  if (d.is_cuda() && !at::hasCUDA()) throw std::invalid_argument("device '" + s + "' asked for, but CUDA is not available");
  if (!d.is_cpu() && !d.is_cuda()) throw std::invalid_argument("device must be 'cpu' or 'cuda[:N]', got '" + s + "'");
  return d;
}

}  // namespace gtr
