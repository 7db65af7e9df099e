// Scalar float32 bit helpers that the vectorized codecs share, the one copy of each:
// bit casts, the 1.5 * 2^23 rounding trick, a branch-free encoder for any small float format
// (saturating, round to nearest even), and IEEE half <-> float32. Header-only and inline so
// the loops that use them vectorize; each gives the bytes of the generic codec (codec.h),
// which tests/formats/float_bits_test.cc checks on every code and every midpoint.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/format.h"

namespace bitsmith::formats {

inline uint32_t float_to_bits(float f) { return std::bit_cast<uint32_t>(f); }
inline float bits_to_float(uint32_t u) { return std::bit_cast<float>(u); }

// Round to nearest, ties to even, for |v| <= 2^22: adding 1.5 * 2^23 = 12582912 pushes the
// integer part into the low mantissa bits, where the FPU's own RNE rounds it (ggml's
// nearest_int). A template so that SIMD vector types (GCC vector extensions) use the same
// two operations in the same order and give the same values.
template <typename F>
[[gnu::always_inline]] inline F round_half_even_small(F v) {
  return (v + 12582912.f) - 12582912.f;
}

// Encodes a finite float into the float format F with round-to-nearest-even and saturation,
// the same bytes as encode(F, v) (tested over every midpoint). Branch-free so loops over it
// vectorize:
//   - |v| is clamped to max finite first (saturate; max itself is exact in F);
//   - normal results: round the float32 mantissa to m bits in the integer domain (add half an
//     ulp minus one, plus the lsb for ties-to-even), then rebias the exponent;
//   - subnormal results (|v| < 2^(1-bias)): add 2^(24-bias-m), whose float32 ulp is exactly F's
//     subnormal quantum, so the FPU's own RNE does the rounding; the bits above it are the code.
// NaN input gives the largest finite code: callers reject non-finite values first.
template <FloatFormat F>
inline uint32_t fast_encode_float(float v) {
  constexpr int m = F.mantissa_bits;
  constexpr int shift = 23 - m;
  constexpr float kMax = static_cast<float>(max_finite(F));
  constexpr uint32_t kMinNormalBits = static_cast<uint32_t>(127 + 1 - F.bias) << 23;
  constexpr uint32_t kMagicBits = static_cast<uint32_t>((127 - F.bias) + shift + 1) << 23;
  constexpr uint32_t kRebias = static_cast<uint32_t>(127 - F.bias) << m;
  constexpr uint32_t kMaxBits = std::bit_cast<uint32_t>(kMax);
  const uint32_t b = float_to_bits(v);
  const uint32_t sign = (b >> 31) << (F.bits() - 1);
  // Non-negative floats order like their bits, so the saturating clamp is an integer min
  // (which vectorizes; a float min would not, NaN rules keep it a branch).
  const uint32_t ab = std::min(b & 0x7FFFFFFFu, kMaxBits);
  const uint32_t rounded = ab + ((1u << (shift - 1)) - 1u) + ((ab >> shift) & 1u);
  const uint32_t normal = (rounded >> shift) - kRebias;
  const uint32_t sub = float_to_bits(bits_to_float(ab) + bits_to_float(kMagicBits)) - kMagicBits;
  // Select by mask rather than ?: so the compiler keeps both paths and no branch.
  const uint32_t is_sub = 0u - static_cast<uint32_t>(ab < kMinNormalBits);
  return ((sub & is_sub) | (normal & ~is_sub)) | sign;
}

// float32 -> IEEE binary16, round to nearest even (encode(kFloat16, f, {kRne, O})):
//   Overflow::kIeee: overflow to Inf, NaN stays NaN, what ggml's GGML_FP32_TO_FP16 (F16C or
//     its bit-trick fallback) and numpy's astype(float16) do (GGUF block scales);
//   Overflow::kSaturate: clamp to +-65504, finite input only (scales of bitsmith's own
//     schemes), branch-free through fast_encode_float.
template <Overflow O = Overflow::kIeee>
inline uint16_t fp32_to_fp16(float f) {
  if constexpr (O == Overflow::kSaturate) {
    return static_cast<uint16_t>(fast_encode_float<kFloat16>(f));
  } else {
    const uint32_t x = float_to_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) {
      return static_cast<uint16_t>(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
    }
    // 0x477ff000 = 65520 = 65504 + half an ulp (16): from here on RNE gives Inf.
    if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
    if (a < 0x38800000u) {
      // Below 2^-14 the result is subnormal: adding 0.5 (2^-1) aligns the float's mantissa so
      // that its low 10 bits are x / 2^-24, rounded to nearest even by the FPU itself.
      const float t = bits_to_float(a) + 0.5f;
      return static_cast<uint16_t>(sign | (float_to_bits(t) - 0x3f000000u));
    }
    const uint32_t odd = (a >> 13) & 1u;
    // Rebias the exponent by (15 - 127) << 23 = 0xc8000000 (mod 2^32) and add 0xfff + odd, the
    // round-to-nearest-even increment for the 13 mantissa bits about to be dropped.
    a += 0xc8000fffu + odd;
    return static_cast<uint16_t>(sign | (a >> 13));
  }
}

// IEEE binary16 -> float32, exact (every half is a float32).
inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7fffu;
  if (em >= 0x7c00u) return bits_to_float(sign | 0x7f800000u | ((em & 0x3ffu) << 13));
  // (127 - 15) << 23 = 0x38000000 rebias for normal numbers.
  if (em >= 0x0400u) return bits_to_float(sign | ((em << 13) + 0x38000000u));
  const float v = static_cast<float>(em) * 5.9604644775390625e-8f;  // em * 2^-24, exact
  return sign ? -v : v;
}

}  // namespace bitsmith::formats
