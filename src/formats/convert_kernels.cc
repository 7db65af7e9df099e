// The array kernels. They are plain loops over 32-bit integers, written branch-free (selects
// instead of ifs) so that GCC vectorizes them, and compiled once per CPU level with
// target_clones: AVX-512 (x86-64-v4, 16 lanes), AVX2 (x86-64-v3, 8 lanes) or baseline SSE2,
// chosen by the loader at run time.
//
// Encoding float32 -> EeMm (the same arithmetic as codec.cc, on integers): a finite float32 is
// mant * 2^(e32 - 150) with mant < 2^24 (hidden bit included). The target's quantum at that
// binade is 2^(e32 - 150 + 23 - M), or the subnormal quantum 2^(1 - bias - M) when the value is
// below the target's smallest normal; so the target's integer significand is mant / 2^s with
// s = (23 - M) + max(0, 1 - et), et the target biased exponent. Rounding that quotient and
// adding ((max(et, 1) - 1) << M) gives the code, a carry out of the mantissa moving into the
// exponent by itself (the same trick as ml_dtypes' ConvertImpl and CUTLASS).
#include "convert_kernels.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "bitsmith/core/cpu_dispatch.h"

namespace bitsmith::formats::detail {


namespace {

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

template <Rounding R>
[[gnu::always_inline]] inline uint32_t encode_one(const FloatEncodeParams& p, uint32_t u,
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
    n = (mant >> sc) + stochastic_up(rem, s, stochastic_bits(p.seed, index) >> 11);
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

template <Rounding R, typename Out>
[[gnu::always_inline]] inline void encode_loop(const FloatEncodeParams& params,
                                               const float* __restrict x, Out* __restrict out,
                                               size_t n, uint64_t index0) {
  // A local copy: `out` could alias `params` as far as the compiler knows, which would force
  // reloading every field per element and block if-conversion of the selects.
  const FloatEncodeParams p = params;
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<Out>(encode_one<R>(p, std::bit_cast<uint32_t>(x[i]), index0 + i));
  }
}

template <typename Out>
[[gnu::always_inline]] inline void encode_dispatch(const FloatEncodeParams& p, const float* x,
                                                   Out* out, size_t n, uint64_t index0) {
  switch (p.rounding) {
    case Rounding::kRne: encode_loop<Rounding::kRne>(p, x, out, n, index0); return;
    case Rounding::kRtz: encode_loop<Rounding::kRtz>(p, x, out, n, index0); return;
    case Rounding::kStochastic: encode_loop<Rounding::kStochastic>(p, x, out, n, index0); return;
  }
}

}  // namespace

bool float_kernel_supported(const FloatFormat& f) {
  return f.is_signed && f.has_subnormals() && f.mantissa_bits <= 22 && f.exponent_bits <= 8 &&
         f.nan_inf != NanInf::kUnsignedE8M0;
}

FloatEncodeParams make_float_encode_params(const FloatFormat& f, const EncodeOptions& opt) {
  FloatEncodeParams p{};
  p.mant_bits = static_cast<uint32_t>(f.mantissa_bits);
  p.shift_base = static_cast<uint32_t>(23 - f.mantissa_bits);
  p.exp_adjust = f.bias - 127;
  p.max_code = encode(f, max_finite(f));
  p.sign_bit = 1u << (f.bits() - 1);
  // The special results come from the scalar codec, so both paths share one policy. Twice the
  // largest finite value overflows under every rounding mode, with no random draw involved.
  for (int neg = 0; neg < 2; ++neg) {
    const double sign = neg ? -1.0 : 1.0;
    p.nan_code[neg] = encode(f, std::copysign(NAN, sign), opt);
    p.inf_code[neg] = encode(f, sign * INFINITY, opt);
    p.overflow_code[neg] = encode(f, sign * 2.0 * max_finite(f), opt);
  }
  p.rounding = opt.rounding;
  p.seed = opt.seed;
  return p;
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void encode_float_u8(const FloatEncodeParams& p, const float* x, uint8_t* out, size_t n,
                     uint64_t index0) {
  encode_dispatch(p, x, out, n, index0);
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void encode_float_u16(const FloatEncodeParams& p, const float* x, uint16_t* out, size_t n,
                      uint64_t index0) {
  encode_dispatch(p, x, out, n, index0);
}

FloatDecodeParams make_float_decode_params(const FloatFormat& f) {
  FloatDecodeParams p{};
  p.mant_bits = static_cast<uint32_t>(f.mantissa_bits);
  p.exp_all = (1u << f.exponent_bits) - 1u;
  p.exp_adjust = 127 - f.bias;
  p.subnormal_ulp = std::ldexp(1.0f, 1 - f.bias - f.mantissa_bits);
  return p;
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void decode_ieee16(const FloatDecodeParams& p, const uint16_t* codes, float* out, size_t n) {
  const uint32_t mant_mask = (1u << p.mant_bits) - 1u;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = codes[i];
    const uint32_t e = (c & 0x7FFFu) >> p.mant_bits;
    const uint32_t m = c & mant_mask;
    const uint32_t normal =
        (static_cast<uint32_t>(static_cast<int32_t>(e) + p.exp_adjust) << 23) |
        (m << (23 - p.mant_bits));
    // Subnormal (and zero): m * 2^(1 - bias - M), exact in float32 for 16-bit formats.
    const uint32_t sub = std::bit_cast<uint32_t>(static_cast<float>(m) * p.subnormal_ulp);
    // Mask blends, not nested ?:, so GCC if-converts and vectorizes the loop.
    const uint32_t sub_mask = 0u - static_cast<uint32_t>(e == 0);
    const uint32_t top_mask = 0u - static_cast<uint32_t>(e == p.exp_all);
    const uint32_t top = 0x7F800000u | (m != 0 ? 0x00400000u : 0u);  // Inf, or the quiet NaN
    uint32_t bits = (normal & ~sub_mask) | (sub & sub_mask);
    bits = (bits & ~top_mask) | (top & top_mask);
    out[i] = std::bit_cast<float>(bits | ((c >> 15) << 31));
  }
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void decode_bf16(const uint16_t* codes, float* out, size_t n) {
  // bfloat16 is the top half of a float32, so decoding is a shift; only NaN needs care, since
  // the scalar codec returns the canonical quiet NaN (sign kept) rather than the payload.
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = codes[i];
    const uint32_t nan_mask = 0u - static_cast<uint32_t>((c & 0x7FFFu) > 0x7F80u);
    const uint32_t canonical = ((c & 0x8000u) << 16) | 0x7FC00000u;
    out[i] = std::bit_cast<float>(((c << 16) & ~nan_mask) | (canonical & nan_mask));
  }
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void decode_table_u8(const float* table, const uint8_t* codes, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = table[codes[i]];
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void decode_table_nibbles(const float* table16, const uint8_t* packed, float* out, size_t n) {
  const size_t pairs = n / 2;
  for (size_t j = 0; j < pairs; ++j) {
    out[2 * j] = table16[packed[j] & 0xF];
    out[2 * j + 1] = table16[packed[j] >> 4];
  }
  if (n % 2) out[n - 1] = table16[packed[pairs] & 0xF];
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void pack_nibbles(const uint8_t* codes, uint8_t* packed, size_t n) {
  for (size_t j = 0; j < n / 2; ++j) {
    packed[j] = static_cast<uint8_t>((codes[2 * j] & 0xF) | (codes[2 * j + 1] << 4));
  }
}

namespace {

template <Rounding R>
[[gnu::always_inline]] inline void encode_int_loop(const IntEncodeParams& params,
                                                   const float* __restrict x,
                                                   uint8_t* __restrict out, size_t n,
                                                   uint64_t index0) {
  const IntEncodeParams p = params;  // `out` is a char type and could alias `params`
  const auto lo = static_cast<int32_t>(p.lo), hi = static_cast<int32_t>(p.hi);
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i] / p.scale;
    // Integer arithmetic after one truncating conversion: GCC 12 will not vectorize floorf or
    // roundevenf (they may raise FP exceptions), while float->int32 truncation vectorizes.
    // Clamping to [lo - 1, hi + 1] first keeps the conversion defined and changes no result,
    // since everything past lo or hi ends clamped anyway; NaN becomes 0.
    const float v0 = v != v ? 0.0f : v;
    const float vc = std::max(p.lo - 1.0f, std::min(p.hi + 1.0f, v0));
    const auto t = static_cast<int32_t>(vc);  // toward zero
    // The fraction of |v|, exact: both terms are below 2^9.
    const float frac = __builtin_fabsf(vc) - __builtin_fabsf(static_cast<float>(t));
    int32_t up;
    if constexpr (R == Rounding::kRne) {
      // Integer flags only: GCC cannot vectorize a conversion of t to bool.
      const int32_t above = frac > 0.5f ? 1 : 0;
      const int32_t tie = frac == 0.5f ? 1 : 0;
      up = above | (tie & t & 1);
    } else if constexpr (R == Rounding::kRtz) {
      up = 0;
    } else {
      const double u = static_cast<double>(stochastic_bits(p.seed, index0 + i) >> 11) * 0x1p-53;
      up = static_cast<int32_t>(static_cast<double>(frac) > u);
    }
    // Rounding the magnitude, as the scalar codec does; then integers saturate.
    const int32_t r = std::max(lo, std::min(hi, t + (vc < 0.0f ? -up : up)));
    out[i] = static_cast<uint8_t>(static_cast<uint32_t>(r) & p.mask);
  }
}

}  // namespace

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void encode_int_u8(const IntEncodeParams& p, const float* x, uint8_t* out, size_t n,
                   uint64_t index0) {
  switch (p.rounding) {
    case Rounding::kRne: encode_int_loop<Rounding::kRne>(p, x, out, n, index0); return;
    case Rounding::kRtz: encode_int_loop<Rounding::kRtz>(p, x, out, n, index0); return;
    case Rounding::kStochastic: encode_int_loop<Rounding::kStochastic>(p, x, out, n, index0); return;
  }
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void decode_int_u8(int bits, bool is_signed, float scale, const uint8_t* __restrict codes,
                   float* __restrict out, size_t n) {
  // Move the code's top bit to bit 31, then shift back: arithmetic for signed (sign
  // extension), logical for unsigned.
  const auto up = static_cast<uint32_t>(32 - bits);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = static_cast<uint32_t>(codes[i]) << up;
    const int32_t v = is_signed ? static_cast<int32_t>(c) >> up : static_cast<int32_t>(c >> up);
    out[i] = static_cast<float>(v) * scale;
  }
}

}  // namespace bitsmith::formats::detail
