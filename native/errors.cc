#include "errors.h"

#include "addon.h"

namespace zc {

void SetErrorFactory(Napi::Env env, Napi::Function factory) {
  GetAddonData(env)->errorFactory = Napi::Persistent(factory);
}

Napi::Value ErrnoError(Napi::Env env, int negErrno, const char* syscall, const char* path) {
  Napi::FunctionReference& factory = GetAddonData(env)->errorFactory;
  Napi::Value args[] = {
      Napi::Number::New(env, negErrno),
      Napi::String::New(env, syscall),
      path ? Napi::Value(Napi::String::New(env, path)) : env.Undefined(),
  };
  if (factory.IsEmpty()) {
    // Only reachable if the binding is used before binding.ts installed the factory.
    Napi::Error err = Napi::Error::New(env, std::string("errno ") + std::to_string(negErrno) + ", " + syscall);
    err.Set("errno", args[0]);
    err.Set("syscall", args[1]);
    return err.Value();
  }
  return factory.Call({args[0], args[1], args[2]});
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
