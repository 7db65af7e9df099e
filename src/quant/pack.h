// Shared machinery of the scheme codecs: sub-byte packing, the integer element encoder that the
// vectorized paths use, and row-parallel helpers (the float encoders, fp16 and bit casts are
// formats/float_bits.h's). The scalar `_ref` paths use formats::encode
// instead; tests check that both give the same bytes (DESIGN.md convention 4).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>

#include "bitsmith/core/cpu_dispatch.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/formats/float_bits.h"
#include "bitsmith/formats/format.h"


namespace bitsmith::quant::detail {

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

// 2^k as a float for k in [-149, 127], exact (also in the subnormal range).
inline float exp2_float(int k) {
  if (k >= -126) return formats::bits_to_float(static_cast<uint32_t>(k + 127) << 23);
  return formats::bits_to_float(1u << (k + 149));
}

// Integer element: round-to-nearest-even of v clamped to [lo, hi] (|lo|, |hi| < 2^22, so
// formats::round_half_even_small applies).
inline int32_t fast_round_clamp(float v, float lo, float hi) {
  const float c0 = v > lo ? v : lo;
  const float c = c0 < hi ? c0 : hi;
  return static_cast<int32_t>(formats::round_half_even_small(c));
}

// Row-parallel driver: fn(row_begin, row_end) over chunks of roughly 64K values each.
void parallel_rows(ThreadPool* pool, int64_t rows, int64_t cols,
                   const std::function<void(int64_t, int64_t)>& fn);

// Validates a dequantize call: the view's shape fits the scheme, the row range lies inside it,
// and data/scales/zeros hold at least the bytes the shape needs (CorruptData otherwise).
Status check_dequant_args(const Scheme& s, const QuantizedView& q, int64_t row_begin,
                          int64_t row_end);

}  // namespace bitsmith::quant::detail
