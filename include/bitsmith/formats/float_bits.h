// Scalar float32 bit helpers that the vectorized codecs share, the one copy of each:
// bit casts, the 1.5 * 2^23 rounding trick, the branch-free encoder of every small float format
// (any rounding and overflow policy: the array kernels' and the quantizers' one algorithm), and
// IEEE half <-> float32. Header-only and inline so
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

// The one float32 -> small-float encoder (fp16, bf16, fp8, fp6, fp4: signed, with subnormals,
// 1..22 mantissa bits), on integers and branch-free so that loops over it vectorize. Every fast
// path that encodes floats uses it: the array kernels (convert_kernels.cc: any rounding and
// overflow policy, taken from the scalar codec at run time), and fast_encode_float and
// fp32_to_fp16 below (round to nearest even, the policy fixed at compile time). It gives the
// bytes of the generic codec (codec.h): the tests compare them on every code and every midpoint
// and on millions of adversarial inputs.
//
// A finite float32 is mant * 2^(e32 - 150) with mant < 2^24 (hidden bit included). The target's
// quantum at that binade is 2^(e32 - 150 + 23 - M), or the subnormal quantum 2^(1 - bias - M)
// when the value is below the target's smallest normal; so the target's integer significand is
// mant / 2^s with s = (23 - M) + max(0, 1 - et), et the target biased exponent. Rounding that
// quotient and adding ((max(et, 1) - 1) << M) gives the code, a carry out of the mantissa moving
// into the exponent by itself (the same trick as ml_dtypes' ConvertImpl and CUTLASS).
struct FloatEncodeParams {
  uint32_t mant_bits;   // M
  uint32_t shift_base;  // 23 - M: float32 mantissa bits dropped for a normal result
  int32_t exp_adjust;   // bias - 127: float32 biased exponent -> target biased exponent
  uint32_t max_code;    // magnitude code of the largest finite value
  uint32_t sign_bit;
  uint32_t nan_code[2];       // [sign] result for NaN input
  uint32_t inf_code[2];       // [sign] result for +-Inf input
  uint32_t overflow_code[2];  // [sign] result for a finite value that rounds past max
  Rounding rounding;
  uint64_t seed;
};

namespace detail {
// frac = rem / 2^s against the uniform u = r53 / 2^53: the scalar codec rounds up iff
// frac > u, i.e. iff r53 < rem * 2^(53 - s). For s <= 53 that bound is an integer below 2^53;
// for s > 53, r53 being an integer, r53 < rem / 2^t  <=>  r53 < ceil(rem / 2^t) with t = s - 53,
// and ceil(rem / 2^t) is 0 or 1 once t >= 24 because rem < 2^24.
[[gnu::always_inline]] inline uint32_t stochastic_up(uint32_t rem, uint32_t s, uint64_t r53) {
  const uint32_t t = s > 53 ? s - 53 : 0;
  const uint32_t ceil_small = t < 25 ? (rem + (1u << (t < 25 ? t : 0)) - 1u) >> (t < 25 ? t : 0)
                                     : static_cast<uint32_t>(rem != 0);
  const uint64_t bound = s <= 53 ? uint64_t{rem} << (s <= 53 ? 53 - s : 0) : uint64_t{ceil_small};
  return static_cast<uint32_t>(r53 < bound);
}
}  // namespace detail

// One element: u = the float32's bits; index = its stochastic-rounding index (kStochastic only).
template <Rounding R>
[[gnu::always_inline]] inline uint32_t encode_float_code(const FloatEncodeParams& p, uint32_t u,
                                                         uint64_t index) {
  const uint32_t neg = u >> 31;
  const uint32_t a = u & 0x7FFFFFFFu;
  const uint32_t e32 = a >> 23;
  // float32 subnormals have no hidden bit and the exponent of e32 = 1.
  const uint32_t mant = (a & 0x7FFFFFu) | (e32 != 0 ? 0x800000u : 0u);
  const int32_t et = static_cast<int32_t>(e32 != 0 ? e32 : 1u) + p.exp_adjust;
  const uint32_t extra = et < 1 ? static_cast<uint32_t>(1 - et) : 0u;
  const uint32_t et_clamped = et < 1 ? 1u : static_cast<uint32_t>(et);
  const uint32_t s = p.shift_base + extra;
  // mant < 2^24, so any shift of 25 or more already gives 0; 31 keeps the shifts defined.
  const uint32_t sc = s < 31 ? s : 31;
  uint32_t n;
  if constexpr (R == Rounding::kRne) {
    n = (mant + (1u << (sc - 1)) - 1u + ((mant >> sc) & 1u)) >> sc;
  } else if constexpr (R == Rounding::kRtz) {
    n = mant >> sc;
  } else {
    const uint32_t rem = mant & ((1u << sc) - 1u);
    n = (mant >> sc) + detail::stochastic_up(rem, s, stochastic_bits(p.seed, index) >> 11);
  }
  const uint32_t code = ((et_clamped - 1u) << p.mant_bits) + n;
  // Blend with all-ones/all-zero masks rather than a chain of ?: that GCC would fold into one
  // many-armed PHI, which its if-conversion (and so the vectorizer) gives up on.
  const uint32_t neg_mask = 0u - neg;
  const uint32_t ovf_mask = 0u - static_cast<uint32_t>(code > p.max_code);
  const uint32_t inf_mask = 0u - static_cast<uint32_t>(a == 0x7F800000u);
  const uint32_t nan_mask = 0u - static_cast<uint32_t>(a > 0x7F800000u);
  const uint32_t ovf = p.overflow_code[0] ^ ((p.overflow_code[0] ^ p.overflow_code[1]) & neg_mask);
  const uint32_t inf = p.inf_code[0] ^ ((p.inf_code[0] ^ p.inf_code[1]) & neg_mask);
  const uint32_t nan = p.nan_code[0] ^ ((p.nan_code[0] ^ p.nan_code[1]) & neg_mask);
  uint32_t r = ((code | (p.sign_bit & neg_mask)) & ~ovf_mask) | (ovf & ovf_mask);
  r = (r & ~inf_mask) | (inf & inf_mask);
  r = (r & ~nan_mask) | (nan & nan_mask);
  return r;
}

// Round-to-nearest-even parameters for f, computed at compile time (no scalar codec call):
//   Overflow::kSaturate: overflow and +-Inf give +-max finite, and so does NaN (the saturating
//     paths' callers reject non-finite values first);
//   Overflow::kIeee (IEEE formats): overflow and +-Inf give +-Inf, NaN the quiet NaN, sign kept.
constexpr FloatEncodeParams rne_encode_params(const FloatFormat& f, Overflow o) {
  FloatEncodeParams p{};
  const auto m = static_cast<uint32_t>(f.mantissa_bits);
  uint32_t top_mant = (1u << m) - 1u;
  if (f.nan_inf == NanInf::kFnOnlyNan) top_mant -= 1u;  // e4m3fn: S.1111.111 is NaN
  p.mant_bits = m;
  p.shift_base = 23u - m;
  p.exp_adjust = f.bias - 127;
  p.max_code = (static_cast<uint32_t>(f.max_biased_exponent()) << m) | top_mant;
  p.sign_bit = 1u << (f.bits() - 1);
  const uint32_t exp_all = (1u << f.exponent_bits) - 1u;
  const bool ieee = o == Overflow::kIeee && f.nan_inf == NanInf::kIeee;
  const uint32_t big = ieee ? exp_all << m : p.max_code;                      // +-Inf or max
  const uint32_t nan = ieee ? (exp_all << m) | (1u << (m - 1)) : p.max_code;  // quiet NaN
  for (uint32_t neg = 0; neg < 2; ++neg) {
    const uint32_t s = neg != 0 ? p.sign_bit : 0u;
    p.nan_code[neg] = nan | s;
    p.inf_code[neg] = big | s;
    p.overflow_code[neg] = big | s;
  }
  p.rounding = Rounding::kRne;
  return p;
}

// Encodes a finite float into the float format F, round to nearest even, saturating: the bytes
// of encode(F, v) (tested over every midpoint). NaN gives the largest finite code.
template <FloatFormat F>
[[gnu::always_inline]] inline uint32_t fast_encode_float(float v) {
  static constexpr FloatEncodeParams kParams = rne_encode_params(F, Overflow::kSaturate);
  return encode_float_code<Rounding::kRne>(kParams, float_to_bits(v), 0);
}

// float32 -> IEEE binary16, round to nearest even (encode(kFloat16, f, {kRne, O})):
//   Overflow::kIeee: overflow to Inf, NaN stays NaN, what ggml's GGML_FP32_TO_FP16 (F16C or
//     its bit-trick fallback) and numpy's astype(float16) do (GGUF block scales);
//   Overflow::kSaturate: clamp to +-65504, finite input only (scales of bitsmith's own schemes).
template <Overflow O = Overflow::kIeee>
[[gnu::always_inline]] inline uint16_t fp32_to_fp16(float f) {
  static constexpr FloatEncodeParams kParams = rne_encode_params(kFloat16, O);
  return static_cast<uint16_t>(encode_float_code<Rounding::kRne>(kParams, float_to_bits(f), 0));
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
