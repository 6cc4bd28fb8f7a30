// The constants both sides of the native boundary use, defined once in native/constants.json: binding.gyp passes
// each in as a ZC_CONST_<name> macro, the glue exports them as `binding.constants`, and JS without the addon
// reads the same JSON.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace zc {
namespace constants {

constexpr int64_t kFastPathMax = ZC_CONST_fastPathMax;  // the most sendFast moves per call on the JS thread
constexpr int64_t kChunk = ZC_CONST_chunk;              // bytes per zero-copy call (Go caps sendfile at 4 MiB too)
constexpr size_t kCopyChunk = ZC_CONST_copyChunk;       // a read/write loop's buffer
constexpr int kDefaultPipeSize = ZC_CONST_defaultPipeSize;    // a job's pipe when none was asked for
constexpr int kLeaseSignalOffset = ZC_CONST_leaseSignalOffset;  // lease breaks arrive as SIGRTMIN + this

}  // namespace constants
}  // namespace zc
