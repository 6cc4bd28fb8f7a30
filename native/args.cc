#include "args.h"

#include <limits.h>

#include <cmath>
#include <string>

#include "errors.h"

namespace zc {

// The readers by value: `what` names the argument or member in the TypeError.
static bool ValueFd(Napi::Env env, Napi::Value v, const std::string& what, int* fd) {
  if (!v.IsNumber()) return ThrowType(env, (what + " must be a number").c_str()), false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= INT32_MAX) || d != std::floor(d)) return ThrowType(env, (what + " out of range").c_str()), false;
  *fd = static_cast<int>(d);
  return true;
}

static bool ValueLength(Napi::Env env, Napi::Value v, const std::string& what, size_t cap, size_t* len) {
  if (!v.IsNumber()) return ThrowType(env, (what + " must be a number").c_str()), false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0)) return ThrowType(env, (what + " out of range").c_str()), false;
  *len = d >= static_cast<double>(cap) ? cap : static_cast<size_t>(d);
  return true;
}

static bool ValueOffset(Napi::Env env, Napi::Value v, const std::string& what, int64_t* off, bool* has) {
  *has = false;
  if (v.IsUndefined() || v.IsNull()) return true;
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless || x < 0) return ThrowType(env, (what + " out of range").c_str()), false;
    *off = x;
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0)) return ThrowType(env, (what + " out of range").c_str()), false;
    *off = static_cast<int64_t>(d);
  } else {
    return ThrowType(env, (what + " must be a number or bigint").c_str()), false;
  }
  *has = true;
  return true;
}

bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* fd) { return ValueFd(info.Env(), info[i], "fd", fd); }

bool ArgLength(const Napi::CallbackInfo& info, size_t i, size_t cap, size_t* len) {
  return ValueLength(info.Env(), info[i], "length", cap, len);
}

bool ArgOffset(const Napi::CallbackInfo& info, size_t i, int64_t* off, bool* has) {
  return ValueOffset(info.Env(), info[i], "offset", off, has);
}

bool ArgFlag(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = info[i];
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

bool OptFd(Napi::Object o, const char* name, int* fd) { return ValueFd(o.Env(), o.Get(name), name, fd); }

bool OptLength(Napi::Object o, const char* name, size_t cap, size_t* len) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) {
    *len = 0;
    return true;
  }
  return ValueLength(o.Env(), v, name, cap, len);
}

bool OptOffset(Napi::Object o, const char* name, int64_t* off, bool* has) {
  return ValueOffset(o.Env(), o.Get(name), name, off, has);
}

bool OptFlag(Napi::Object o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

bool OptString(Napi::Object o, const char* name, std::string* out) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return true;
  if (!v.IsString()) return ThrowType(o.Env(), (std::string(name) + " must be a string").c_str()), false;
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

static bool ViewToIovec(Napi::Value v, struct iovec* out) {
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    uint8_t* base = static_cast<uint8_t*>(t.ArrayBuffer().Data());
    out->iov_base = base ? base + t.ByteOffset() : nullptr;
    out->iov_len = t.ByteLength();
    return true;
  }
  if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    uint8_t* base = static_cast<uint8_t*>(dv.ArrayBuffer().Data());
    out->iov_base = base ? base + dv.ByteOffset() : nullptr;
    out->iov_len = dv.ByteLength();
    return true;
  }
  return false;
}

bool OptView(Napi::Object o, const char* name, struct iovec* view) {
  Napi::Value v = o.Get(name);
  *view = {nullptr, 0};
  if (v.IsUndefined() || ViewToIovec(v, view)) return true;
  return ThrowType(o.Env(), (std::string(name) + " must be an ArrayBufferView").c_str()), false;
}

bool ArgView(const Napi::CallbackInfo& info, size_t i, struct iovec* view) {
  if (ViewToIovec(info[i], view)) return true;
  return ThrowType(info.Env(), "target must be an ArrayBufferView"), false;
}

bool ArgIovecs(const Napi::CallbackInfo& info, size_t i, std::vector<struct iovec>* iov) {
  Napi::Value v = info[i];
  struct iovec one;
  if (ViewToIovec(v, &one)) {
    if (one.iov_len > 0) iov->push_back(one);
    return true;
  }
  if (!v.IsArray()) return ThrowType(info.Env(), "data must be an ArrayBufferView or an array of them"), false;
  Napi::Array arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  for (uint32_t k = 0; k < n && iov->size() < IOV_MAX; k++) {
    Napi::Value item = arr.Get(k);
    if (info.Env().IsExceptionPending()) return false;
    if (!ViewToIovec(item, &one)) return ThrowType(info.Env(), "data must be an ArrayBufferView or an array of them"), false;
    if (one.iov_len > 0) iov->push_back(one);
  }
  return true;
}

}  // namespace zc
