// Conversions between JS values and C++ / ATen values, done on the JS thread.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <string>
#include <vector>

namespace gtr {

// Copies an Int32Array (or array of numbers) into a vector; throws std::invalid_argument naming `what`.
std::vector<int32_t> to_int_vector(const Napi::Value& v, const char* what);
// Copies a Float32Array (or array of numbers) into a vector.
std::vector<float> to_float_vector(const Napi::Value& v, const char* what);
// 1-D CPU tensors from typed arrays: float32 from a Float32Array (or array of numbers), float64
// from a Float64Array, bool from a Uint8Array (nonzero = true). Throw std::invalid_argument naming `what`.
at::Tensor float_tensor_from_js(const Napi::Value& v, const std::string& what);
at::Tensor double_tensor_from_js(const Napi::Value& v, const std::string& what);
at::Tensor bool_tensor_from_js(const Napi::Value& v, const std::string& what);
// A tensor's contents as a new Float64Array (copied as contiguous float64 on the CPU).
Napi::Float64Array to_float64_array(Napi::Env env, const at::Tensor& t);
// A float32 CPU tensor's contents as a new Float32Array (the tensor is made contiguous float32 first).
Napi::Float32Array to_float32_array(Napi::Env env, const at::Tensor& t);
// A packed batch of token sequences (the shared input of Policy.forwardLogits / tokenLogprobs and
// the Trainer's calls): `tokens` Int32Array [T] of ids in [0, vocab), `seqLens` Int32Array of
// lengths >= 1 summing to T. ids: int64 [T] on the CPU. Throws std::invalid_argument naming the
// field, the bad id and its position.
struct PackedTokens {
  at::Tensor ids;
  std::vector<int64_t> lens;
};
PackedTokens packed_tokens_from_js(const Napi::Value& tokens, const Napi::Value& seq_lens, int64_t vocab);
// seqLens alone: lengths >= 1 summing to `total`.
std::vector<int64_t> seq_lens_from_js(const Napi::Value& v, int64_t total);
// 'float32' | 'bfloat16' -> ScalarType; throws naming the bad value.
at::ScalarType parse_dtype(const std::string& s);
std::string dtype_name(at::ScalarType t);
// 'cpu' | 'cuda' | 'cuda:N'; throws when CUDA is asked for but not available.
at::Device parse_device(const std::string& s);

}  // namespace gtr
