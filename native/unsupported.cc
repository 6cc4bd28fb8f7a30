// Non-Linux builds: an empty module, so that src/binding.ts reports the platform and every call falls back.
#include <napi.h>

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("unsupportedPlatform", true);
  return exports;
}

NODE_API_MODULE(zerocopy, Init)
