// This environment's mappings, as the mmap glue keeps them (see mmap_binding.cc): from map() until the Buffer's
// ArrayBuffer is collected, which may be long after unmap() let the file go.
#pragma once
#include <napi.h>
#include <stdint.h>
#include <uv.h>

#include <memory>
#include <unordered_map>

#include "addon.h"

namespace zc {

struct Mapping {
  uint32_t id;
  void* base;          // the page-aligned mapping
  size_t mapLength;
  uint8_t* data;       // the asked range inside it
  size_t length;
  int64_t fileOffset;  // file offset of data[0]
  int slot;            // guard slot while the file is mapped; -1 once unmap() replaced it with zero pages
  bool freed = false;  // the address range was returned to the system
  bool notified = false;
};

// The guard's wake-up for one environment: uv_async_send is async-signal-safe. Heap-allocated apart from the
// table because closing it completes on a later loop turn.
struct Wake {
  uv_async_t async;
  napi_async_cleanup_hook_handle hook = nullptr;
  struct MappingTable* table;
};

struct MappingTable {
  AddonData* owner;
  std::unordered_map<uint32_t, Mapping*> mappings;  // every Mapping whose range is not freed yet
  uint32_t nextId = 1;
  Wake* wake = nullptr;
  bool closing = false;  // environment teardown: no more calls into JS
  Napi::FunctionReference onTruncated;
  std::unique_ptr<Napi::AsyncContext> asyncContext;
};

}  // namespace zc
