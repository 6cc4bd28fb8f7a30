#include "errors.h"

#include "addon.h"

namespace zc {

void SetErrorFactory(Napi::Env env, Napi::Function factory) {
  GetAddonData(env)->errorFactory = Napi::Persistent(factory);
}

// What a failed raw call left pending, dropped: the caller returns a value that says the call failed.
static void DropPendingException(napi_env env) {
  bool pending = false;
  napi_value ignored;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
}

Napi::Value ErrnoError(Napi::Env env, int negErrno, const char* syscall, const char* path) {
  Napi::FunctionReference& factory = GetAddonData(env)->errorFactory;
  Napi::Value args[] = {
      Napi::Number::New(env, negErrno),
      Napi::String::New(env, syscall),
      path ? Napi::Value(Napi::String::New(env, path)) : env.Undefined(),
  };
  if (!factory.IsEmpty()) {
    napi_value argv[] = {args[0], args[1], args[2]};
    napi_value result;
    if (napi_call_function(env, env.Undefined(), factory.Value(), 3, argv, &result) == napi_ok) {
      return Napi::Value(env, result);
    }
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  // Without the factory (not installed yet, or JS cannot run any more): a plain error with the same fields.
  // Raw calls only, failures tolerated: while an environment is torn down node-addon-api's wrappers would turn
  // a failed call into napi_throw, which fails in turn and aborts the process (seen at worker termination).
  std::string text = std::string("errno ") + std::to_string(negErrno) + ", " + syscall;
  napi_value message, err;
  if (napi_create_string_utf8(env, text.c_str(), text.size(), &message) != napi_ok ||
      napi_create_error(env, nullptr, message, &err) != napi_ok) {
    DropPendingException(env);
    return env.Undefined();
  }
  napi_set_named_property(env, err, "errno", args[0]);
  napi_set_named_property(env, err, "syscall", args[1]);
  return Napi::Value(env, err);
}

bool CallQuietly(Napi::Env env, napi_value fn, size_t argc, const napi_value* argv, napi_async_context context) {
  napi_value global, result;
  napi_get_global(env, &global);
  napi_status status = context != nullptr ? napi_make_callback(env, context, global, fn, argc, argv, &result)
                                          : napi_call_function(env, global, fn, argc, argv, &result);
  if (status == napi_ok) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    // A listener that threw while JS could run: report it as Node reports uncaught exceptions.
    if (status == napi_pending_exception) napi_fatal_exception(env, err);
  }
  return false;
}

Napi::Value BufferCopyOrNull(Napi::Env env, const char* data, size_t length) {
  napi_value buffer;
  void* copied;
  if (napi_create_buffer_copy(env, length, data, &copied, &buffer) == napi_ok) return Napi::Value(env, buffer);
  DropPendingException(env);
  return env.Null();
}

Napi::Value ThrowErrno(Napi::Env env, int negErrno, const char* syscall, const char* path) {
  Napi::Value err = ErrnoError(env, negErrno, syscall, path);
  if (!env.IsExceptionPending()) Napi::Error(env, err).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace zc

namespace zc {

Napi::Value ThrowErrnoAfter(Napi::Env env, int negErrno, const char* syscall, double bytes) {
  Napi::Value error = ErrnoError(env, negErrno, syscall);
  if (env.IsExceptionPending()) return env.Undefined();
  error.As<Napi::Object>().Set("bytes", bytes);
  Napi::Error(env, error).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace zc
