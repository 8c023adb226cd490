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
// A float32 CPU tensor's contents as a new Float32Array (the tensor is made contiguous float32 first).
Napi::Float32Array to_float32_array(Napi::Env env, const at::Tensor& t);
// Reads a required numeric / boolean / string property, throwing std::invalid_argument naming it.
double get_number(const Napi::Object& o, const char* key);
bool get_bool(const Napi::Object& o, const char* key);
std::string get_string(const Napi::Object& o, const char* key);
// 'float32' | 'bfloat16' -> ScalarType; throws naming the bad value.
at::ScalarType parse_dtype(const std::string& s);
std::string dtype_name(at::ScalarType t);
// 'cpu' | 'cuda' | 'cuda:N'; throws when CUDA is asked for but not available.
at::Device parse_device(const std::string& s);

}  // namespace gtr
