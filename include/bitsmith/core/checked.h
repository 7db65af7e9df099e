// Checked size arithmetic: every size computed from file data goes through these
// (DESIGN.md convention 7), so a hostile header cannot wrap a multiplication into a small buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace bitsmith {

inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Product of all dims; nullopt on overflow. An empty list is a scalar: 1.
inline std::optional<uint64_t> checked_product(std::span<const int64_t> dims) {
  uint64_t r = 1;
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    auto next = checked_mul(r, static_cast<uint64_t>(d));
    if (!next) return std::nullopt;
    r = *next;
  }
  return r;
}

}  // namespace bitsmith
