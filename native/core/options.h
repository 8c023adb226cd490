// Reading JS arguments and option objects on the JS thread: the one toolkit every binding uses.
// Every reader throws std::invalid_argument whose message names the call and the field in the JS
// caller's words ("generate: option topP must be in (0, 1], got 0"); errors.h turns it into a
// rejected promise (promise-returning calls) or a thrown Error (synchronous calls).
#pragma once
#include <napi.h>
#include <cstdint>
#include <string>

namespace gtr {

class JsOptions {
 public:
  // `v` must be an object (else "<where>must be an object"); `where` prefixes every message and
  // names the call and object, e.g. "generate: option " or "new Policy: config.".
  JsOptions(const Napi::Value& v, std::string where);
  // An object that may be absent: undefined / null read as an empty object (every field defaulted).
  static JsOptions optional(const Napi::Env& env, const Napi::Value& v, std::string where);

  bool has(const char* key) const;  // present and neither undefined nor null
  Napi::Value get(const char* key) const { return o_.Get(key); }
  const Napi::Object& object() const { return o_; }

  // Numbers are finite; integers are whole and within [min, 2^53 - 1].
  double number(const char* key) const;
  double number(const char* key, double def) const;
  int64_t integer(const char* key) const;
  int64_t integer(const char* key, int64_t def, int64_t min = INT64_MIN) const;
  bool boolean(const char* key) const;
  bool boolean(const char* key, bool def) const;
  std::string string(const char* key) const;
  std::string string(const char* key, const std::string& def) const;
  // A nested object field, read with the prefix "<where><key>.".
  JsOptions object(const char* key) const;

  // Throws std::invalid_argument("<where><key> <rule>").
  [[noreturn]] void fail(const char* key, const std::string& rule) const;

 private:
  Napi::Object o_;
  std::string where_;
};

}  // namespace gtr
