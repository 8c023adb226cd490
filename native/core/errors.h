// Typed errors at the JS boundary: C++ and libtorch exceptions become JS Errors with their message.
// Argument checks on the JS thread throw Napi errors through these macros (in the style of
// onnxruntime-node's ORT_NAPI_THROW_*), so every binding reports bad input the same way.
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

}  // namespace gtr

#define GTR_THROW_TYPE_ERROR(env, msg)                                  \
  do {                                                                  \
    Napi::TypeError::New((env), (msg)).ThrowAsJavaScriptException();    \
    return Napi::Value();                                               \
  } while (0)

#define GTR_THROW_ERROR(env, msg)                                       \
  do {                                                                  \
    Napi::Error::New((env), (msg)).ThrowAsJavaScriptException();        \
    return Napi::Value();                                               \
  } while (0)

#define GTR_CHECK_ARG(env, cond, msg)                                   \
  do {                                                                  \
    if (!(cond)) GTR_THROW_TYPE_ERROR(env, msg);                        \
  } while (0)

// Runs a statement on the JS thread, turning a C++ exception into a thrown JS Error.
#define GTR_JS_TRY(env, stmt)                                           \
  try {                                                                 \
    stmt;                                                               \
  } catch (const std::exception& e) {                                   \
    Napi::Error::New((env), gtr::exception_message(e)).ThrowAsJavaScriptException(); \
    return Napi::Value();                                               \
  }

// As GTR_JS_TRY, for promise-returning bindings: the exception becomes a rejected promise.
#define GTR_ASYNC_TRY(env, stmt)                                        \
  try {                                                                 \
    stmt;                                                               \
  } catch (const std::exception& e) {                                   \
    return gtr::rejected((env), gtr::exception_message(e));             \
  }
