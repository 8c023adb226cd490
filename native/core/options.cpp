#include "core/options.h"
#include <cmath>
#include <stdexcept>

namespace gtr {

JsOptions::JsOptions(const Napi::Value& v, std::string where) : where_(std::move(where)) {
  if (!v.IsObject() || v.IsArray()) {
    // "generate: option " -> "generate: options must be an object"; "loss." -> "loss must be ..."
    std::string name = where_;
    while (!name.empty() && (name.back() == ' ' || name.back() == '.')) name.pop_back();
    if (name.size() >= 7 && name.compare(name.size() - 7, 7, " option") == 0) name += "s";
    throw std::invalid_argument(name + " must be an object");
  }
  o_ = v.As<Napi::Object>();
}

JsOptions JsOptions::optional(const Napi::Env& env, const Napi::Value& v, std::string where) {
  return JsOptions(v.IsUndefined() || v.IsNull() ? Napi::Object::New(env) : v, std::move(where));
}

bool JsOptions::has(const char* key) const {
  Napi::Value v = o_.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

void JsOptions::fail(const char* key, const std::string& rule) const {
  throw std::invalid_argument(where_ + key + " " + rule);
}

static std::string show(double d) {
  std::string s = std::to_string(d);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

double JsOptions::number(const char* key) const {
  if (!has(key)) fail(key, "is required (a number)");
  Napi::Value v = o_.Get(key);
  if (!v.IsNumber()) fail(key, "must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) fail(key, "must be finite");
  return d;
}

double JsOptions::number(const char* key, double def) const { return has(key) ? number(key) : def; }

static int64_t whole(const JsOptions& o, const char* key, double d, int64_t min) {
  if (d != std::floor(d) || d < static_cast<double>(min) || d > 9007199254740991.0)
    o.fail(key, min == INT64_MIN ? "must be an integer, got " + show(d)
                                 : "must be an integer >= " + std::to_string(min) + ", got " + show(d));
  return static_cast<int64_t>(d);
}

int64_t JsOptions::integer(const char* key) const { return whole(*this, key, number(key), INT64_MIN); }

int64_t JsOptions::integer(const char* key, int64_t def, int64_t min) const {
  return has(key) ? whole(*this, key, number(key), min) : def;
}

bool JsOptions::boolean(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsBoolean()) fail(key, "must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

bool JsOptions::boolean(const char* key, bool def) const { return has(key) ? boolean(key) : def; }

std::string JsOptions::string(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsString()) fail(key, "must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::string JsOptions::string(const char* key, const std::string& def) const { return has(key) ? string(key) : def; }

JsOptions JsOptions::object(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsObject() || v.IsArray()) fail(key, "must be an object");
  return JsOptions(v, where_ + key + ".");
}

}  // namespace gtr
