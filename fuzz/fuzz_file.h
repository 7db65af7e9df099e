// Helpers shared by the fuzz targets: the readers take paths (they memory-map), so each input
// goes into one anonymous in-memory file opened through /proc/self/fd.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "bitsmith/core/model.h"

namespace bitsmith::fuzz {

inline std::string as_file(const uint8_t* data, size_t size) {
  static const int fd = ::memfd_create("bitsmith_fuzz", 0);
  if (fd < 0 || ::ftruncate(fd, 0) != 0) std::abort();
  size_t off = 0;
  while (off < size) {
    ssize_t n = ::pwrite(fd, data + off, size - off, static_cast<off_t>(off));
    if (n <= 0) std::abort();
    off += static_cast<size_t>(n);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

// Loads every tensor (dequantizing), bounded so one input cannot take seconds.
inline void touch_tensors(const Model& m) {
  int64_t budget = int64_t{1} << 22;
  for (const auto& t : m.tensors()) {
    if (t.shape.numel() > budget) continue;
    budget -= t.shape.numel();
    auto r = m.load_f32(t.name);
    if (r.ok() && r->shape().numel() > 0) {
      volatile float sink = r->as<float>()[0];
      (void)sink;
    }
  }
}

}  // namespace bitsmith::fuzz
