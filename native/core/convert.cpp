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

at::Tensor float_tensor_from_js(const Napi::Value& v, const std::string& what) {
  std::vector<float> f = to_float_vector(v, what.c_str());
  return at::tensor(at::ArrayRef<float>(f), at::TensorOptions().dtype(at::kFloat));
}

at::Tensor double_tensor_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw std::invalid_argument(what + " must be a Float64Array");
  auto a = v.As<Napi::Float64Array>();
  return at::tensor(at::ArrayRef<double>(a.Data(), a.ElementLength()), at::TensorOptions().dtype(at::kDouble));
}

at::Tensor bool_tensor_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw std::invalid_argument(what + " must be a Uint8Array (1 = response token)");
  auto a = v.As<Napi::Uint8Array>();
  std::vector<uint8_t> b(a.Data(), a.Data() + a.ElementLength());
  return at::tensor(at::ArrayRef<uint8_t>(b), at::TensorOptions().dtype(at::kByte)).to(at::kBool);
}

Napi::Float64Array to_float64_array(Napi::Env env, const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
  auto out = Napi::Float64Array::New(env, static_cast<size_t>(c.numel()));
  if (c.numel() > 0) std::memcpy(out.Data(), c.data_ptr<double>(), sizeof(double) * c.numel());
  return out;
}

std::vector<int64_t> seq_lens_from_js(const Napi::Value& v, int64_t total) {
  std::vector<int64_t> lens;
  int64_t sum = 0;
  for (int32_t l : to_int_vector(v, "seqLens")) {
    if (l <= 0) throw std::invalid_argument("seqLens: every sequence needs at least one token");
    lens.push_back(l);
    sum += l;
  }
  if (sum != total)
    throw std::invalid_argument("seqLens sum to " + std::to_string(sum) + " but tokens has " + std::to_string(total));
  return lens;
}

PackedTokens packed_tokens_from_js(const Napi::Value& tokens, const Napi::Value& seq_lens, int64_t vocab) {
  std::vector<int32_t> toks = to_int_vector(tokens, "tokens");
  PackedTokens b;
  b.lens = seq_lens_from_js(seq_lens, static_cast<int64_t>(toks.size()));
  for (size_t i = 0; i < toks.size(); ++i)
    if (toks[i] < 0 || toks[i] >= vocab)
      throw std::invalid_argument("token id " + std::to_string(toks[i]) + " at position " + std::to_string(i) +
                                  " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  b.ids = at::tensor(at::ArrayRef<int32_t>(toks), at::TensorOptions().dtype(at::kInt)).to(at::kLong);
  return b;
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
  if (d.is_cuda() && !at::hasCUDA())
    throw std::invalid_argument("device '" + s + "' asked for, but CUDA is not available");
  if (!d.is_cpu() && !d.is_cuda()) throw std::invalid_argument("device must be 'cpu' or 'cuda[:N]', got '" + s + "'");
  return d;
}

}  // namespace gtr
