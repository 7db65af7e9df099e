// Shared machinery of the scheme codecs: sub-byte packing, the fast element encoders that the
// vectorized paths use, and row-parallel helpers. The scalar `_ref` paths use formats::encode
// instead; tests check that both give the same bytes (DESIGN.md convention 4).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>

#include "bitsmith/core/thread_pool.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/formats/format.h"

// Run-time CPU dispatch for the hot loops: GCC/clang compile each marked function twice (AVX2
// and baseline) and pick one at load time, so one binary runs everywhere and vectorizes wide
// where it can. The loops are plain C++ that the compiler vectorizes; no intrinsics needed.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BITSMITH_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define BITSMITH_MULTIVERSION
#endif

namespace bitsmith::quant::detail {

inline uint32_t f2u(float f) { return std::bit_cast<uint32_t>(f); }
inline float u2f(uint32_t u) { return std::bit_cast<float>(u); }

// |x| bits at or above this are Inf (== 0x7F800000) or NaN (greater).
inline constexpr uint32_t kNonFiniteAbsBits = 0x7F800000u;

// Bytes for n codes of `bits` bits, packed low bits first: ceil(n * bits / 8).
inline uint64_t packed_bytes(int64_t n, int bits) {
  return (static_cast<uint64_t>(n) * static_cast<uint64_t>(bits) + 7) / 8;
}
// Packs n codes (one per byte, only the low `bits` bits used) as a little-endian bit stream:
// code i occupies bits [i*bits, (i+1)*bits) of the output (4-bit: element 2j in the low nibble
// of byte j, element 2j+1 in the high nibble). Writes packed_bytes(n, bits) bytes.
void pack_codes(const uint8_t* codes, int64_t n, int bits, uint8_t* out);
void unpack_codes(const uint8_t* in, int64_t n, int bits, uint8_t* codes);

// Exact largest finite value of a float format, usable in constant expressions:
// (1 + top mantissa * 2^-m) * 2^(top exponent - bias), e.g. e4m3fn (1 + 6/8) * 2^8 = 448.
constexpr double const_max_finite(formats::FloatFormat f) {
  const int m = f.mantissa_bits;
  int top_mant = (1 << m) - 1;
  if (f.nan_inf == formats::NanInf::kFnOnlyNan) top_mant -= 1;
  double v = 1.0 + static_cast<double>(top_mant) / static_cast<double>(1 << m);
  const int e = f.max_biased_exponent() - f.bias;
  for (int i = 0; i < e; ++i) v *= 2.0;
  for (int i = 0; i > e; --i) v *= 0.5;
  return v;
}

// 2^k as a float for k in [-149, 127], exact (also in the subnormal range).
inline float exp2_float(int k) {
  if (k >= -126) return u2f(static_cast<uint32_t>(k + 127) << 23);
  return u2f(1u << (k + 149));
}

// Encodes a finite float into the float format F with round-to-nearest-even and saturation,
// the same bytes as formats::encode(F, v) (tested over every midpoint). Branch-free so loops
// over it vectorize:
//   - |v| is clamped to max finite first (saturate; max itself is exact in F);
//   - normal results: round the float32 mantissa to m bits in the integer domain (add half an
//     ulp minus one, plus the lsb for ties-to-even), then rebias the exponent;
//   - subnormal results (|v| < 2^(1-bias)): add 2^(24-bias-m), whose float32 ulp is exactly F's
//     subnormal quantum, so the FPU's own RNE does the rounding; the bits above it are the code.
template <formats::FloatFormat F>
inline uint32_t fast_encode_float(float v) {
  constexpr int m = F.mantissa_bits;
  constexpr int shift = 23 - m;
  constexpr float kMax = static_cast<float>(const_max_finite(F));
  constexpr uint32_t kMinNormalBits = static_cast<uint32_t>(127 + 1 - F.bias) << 23;
  constexpr uint32_t kMagicBits = static_cast<uint32_t>((127 - F.bias) + shift + 1) << 23;
  constexpr uint32_t kRebias = static_cast<uint32_t>(127 - F.bias) << m;
  constexpr uint32_t kMaxBits = std::bit_cast<uint32_t>(kMax);
  const uint32_t b = f2u(v);
  const uint32_t sign = (b >> 31) << (F.bits() - 1);
  // Non-negative floats order like their bits, so the saturating clamp is an integer min
  // (which vectorizes; a float min would not, NaN rules keep it a branch).
  const uint32_t ab = std::min(b & 0x7FFFFFFFu, kMaxBits);
  const uint32_t rounded = ab + ((1u << (shift - 1)) - 1u) + ((ab >> shift) & 1u);
  const uint32_t normal = (rounded >> shift) - kRebias;
  const uint32_t sub = f2u(u2f(ab) + u2f(kMagicBits)) - kMagicBits;
  // Select by mask rather than ?: so the compiler keeps both paths and no branch.
  const uint32_t is_sub = 0u - static_cast<uint32_t>(ab < kMinNormalBits);
  return ((sub & is_sub) | (normal & ~is_sub)) | sign;
}

// Integer element: round-to-nearest-even of v clamped to [lo, hi]. Adding and subtracting
// 1.5 * 2^23 rounds any |v| < 2^22 to an integer with the FPU's RNE (the clamp keeps v there).
inline int32_t fast_round_clamp(float v, float lo, float hi) {
  const float c0 = v > lo ? v : lo;
  const float c = c0 < hi ? c0 : hi;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  return static_cast<int32_t>((c + kRound) - kRound);
}

// Row-parallel driver: fn(row_begin, row_end) over chunks of roughly 64K values each.
void parallel_rows(ThreadPool* pool, int64_t rows, int64_t cols,
                   const std::function<void(int64_t, int64_t)>& fn);

// Validates a dequantize call: the view's shape fits the scheme, the row range lies inside it,
// and data/scales/zeros hold at least the bytes the shape needs (CorruptData otherwise).
Status check_dequant_args(const Scheme& s, const QuantizedView& q, int64_t row_begin,
                          int64_t row_end);

// IEEE half <-> float helpers for scale storage (little-endian 2 bytes).
uint16_t float_to_half_bits(float v);  // RNE, saturating to +-65504
float half_bits_to_float(uint16_t h);

}  // namespace bitsmith::quant::detail
