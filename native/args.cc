#include "args.h"

#include <limits.h>

#include <cmath>

#include "errors.h"

namespace zc {

bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* fd) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) return ThrowType(info.Env(), "fd must be a number"), false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= INT32_MAX) || d != std::floor(d)) return ThrowType(info.Env(), "fd out of range"), false;
  *fd = static_cast<int>(d);
  return true;
}

bool ArgLength(const Napi::CallbackInfo& info, size_t i, size_t cap, size_t* len) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) return ThrowType(info.Env(), "length must be a number"), false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0)) return ThrowType(info.Env(), "length out of range"), false;
  *len = d >= static_cast<double>(cap) ? cap : static_cast<size_t>(d);
  return true;
}

bool ArgOffset(const Napi::CallbackInfo& info, size_t i, int64_t* off, bool* has) {
  Napi::Value v = info[i];
  *has = false;
  if (v.IsUndefined() || v.IsNull()) return true;
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless || x < 0) return ThrowType(info.Env(), "offset out of range"), false;
    *off = x;
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0)) return ThrowType(info.Env(), "offset out of range"), false;
    *off = static_cast<int64_t>(d);
  } else {
    return ThrowType(info.Env(), "offset must be a number or bigint"), false;
  }
  *has = true;
  return true;
}

bool ArgFlag(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = info[i];
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
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
