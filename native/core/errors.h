// Typed errors at the JS boundary: C++ and libtorch exceptions become JS Errors with their message.
// One rule for every binding (in the style of onnxruntime-node's ORT_NAPI_THROW_*):
//  - a call that returns a promise reports every failure, bad arguments included, as a rejection
//    (GTR_ASYNC_CHECK_ARG, GTR_ASYNC_TRY), never a synchronous throw;
//  - a synchronous call, a constructor or an accessor throws (GTR_CHECK_ARG, GTR_JS_TRY, js_try).
// Option objects are read with core/options.h, whose std::invalid_argument messages name the call
// and the field.
#pragma once
#include <napi.h>
#include <c10/util/Exception.h>
#include <stdexcept>
#include <string>

namespace gtr {

// A C++ exception's message for a JS Error. libtorch's c10::Error carries a long backtrace in
// what(); users need only the message.
inline std::string exception_message(const std::exception& e) {
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

// A promise already rejected with `msg`: promise-returning bindings report bad input this way, so
// callers see one failure path (a rejection), never a synchronous throw.
inline Napi::Value rejected(Napi::Env env, const std::string& msg) {
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(Napi::Error::New(env, msg).Value());
  return d.Promise();
}

// Runs `f` (returning a Napi::Value) on the JS thread; a C++ exception becomes a thrown JS Error
// (GTR_JS_TRY for bodies with commas or many statements).
template <typename F>
Napi::Value js_try(Napi::Env env, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    Napi::Error::New(env, exception_message(e)).ThrowAsJavaScriptException();
    return Napi::Value();
  }
}

// As js_try, for promise-returning bindings: `f` converts the arguments and returns the promise;
// a C++ exception becomes a rejected promise.
template <typename F>
Napi::Value async_try(Napi::Env env, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return rejected(env, exception_message(e));
  }
}

}  // namespace gtr

#define GTR_THROW_TYPE_ERROR(env, msg)                               \
  do {                                                               \
    Napi::TypeError::New((env), (msg)).ThrowAsJavaScriptException(); \
    return Napi::Value();                                            \
  } while (0)

#define GTR_THROW_ERROR(env, msg)                                \
  do {                                                           \
    Napi::Error::New((env), (msg)).ThrowAsJavaScriptException(); \
    return Napi::Value();                                        \
  } while (0)

#define GTR_CHECK_ARG(env, cond, msg)            \
  do {                                           \
    if (!(cond)) GTR_THROW_TYPE_ERROR(env, msg); \
  } while (0)

// As GTR_CHECK_ARG, for promise-returning bindings: a rejected promise.
#define GTR_ASYNC_CHECK_ARG(env, cond, msg)          \
  do {                                               \
    if (!(cond)) return gtr::rejected((env), (msg)); \
  } while (0)

// Runs a statement on the JS thread, turning a C++ exception into a thrown JS Error.
#define GTR_JS_TRY(env, stmt)                                                        \
  try {                                                                              \
    stmt;                                                                            \
  } catch (const std::exception& e) {                                                \
    Napi::Error::New((env), gtr::exception_message(e)).ThrowAsJavaScriptException(); \
    return Napi::Value();                                                            \
  }

// As GTR_JS_TRY, for promise-returning bindings: the exception becomes a rejected promise.
#define GTR_ASYNC_TRY(env, stmt)                            \
  try {                                                     \
    stmt;                                                   \
  } catch (const std::exception& e) {                       \
    return gtr::rejected((env), gtr::exception_message(e)); \
  }
