// Deterministic randomness and hashes, one definition each for the whole project: splitmix64
// (Steele et al.) for seeds, stochastic rounding bits, synthetic weights, initialization and batch
// order; FNV-1a for names and bytes. Platform-independent, unlike the standard library's
// distributions, so a seed means the same numbers everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bitsmith {

inline constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// splitmix64's output for state z (the state advanced by the golden ratio, then finalized).
inline uint64_t mix64(uint64_t z) {
  z += kGolden;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// The next word of a splitmix64 stream, advancing its state.
inline uint64_t splitmix64(uint64_t& state) {
  const uint64_t r = mix64(state);
  state += kGolden;
  return r;
}

inline constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;
inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvBasis) {
  const auto* b = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}
inline uint64_t fnv1a(std::string_view s) { return fnv1a(s.data(), s.size()); }

}  // namespace bitsmith
