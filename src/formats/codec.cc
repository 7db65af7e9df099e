// The generic scalar codec. Every fast path in the project must agree with it byte for byte.
//
// Encoding works on the exact value: a finite |x| is written as n * 2^q where q is the
// exponent of the format's quantum (unit in the last place) at |x|'s binade, clamped below at
// the subnormal quantum. n is then rounded to an integer by the rounding mode; because scaling
// by a power of two is exact in binary64, the only rounding that happens is the one we choose.
#include "bitsmith/formats/codec.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "bitsmith/core/assert.h"

namespace bitsmith::formats {

namespace {

uint32_t sign_bit(const FloatFormat& f) { return f.is_signed ? (1u << (f.bits() - 1)) : 0u; }

// The largest mantissa field at the top finite exponent: all ones except for "fn" formats,
// where exponent and mantissa all ones is NaN (e4m3fn: 0b110, 448).
uint32_t max_top_mantissa(const FloatFormat& f) {
  const uint32_t all = (1u << f.mantissa_bits) - 1u;
  return f.nan_inf == NanInf::kFnOnlyNan ? all - 1u : all;
}

uint32_t max_finite_code(const FloatFormat& f, bool negative) {
  uint32_t code = (static_cast<uint32_t>(f.max_biased_exponent()) << f.mantissa_bits) |
                  max_top_mantissa(f);
  return code | (negative ? sign_bit(f) : 0u);
}

uint32_t nan_code(const FloatFormat& f, bool negative) {
  const uint32_t exp_all = (1u << f.exponent_bits) - 1u;
  uint32_t code = 0;
  switch (f.nan_inf) {
    case NanInf::kIeee:  // quiet NaN: top mantissa bit set (fp32 0x7FC00000, fp16 0x7E00)
      code = (exp_all << f.mantissa_bits) | (1u << (f.mantissa_bits - 1));
      break;
    case NanInf::kFnOnlyNan:
      code = (exp_all << f.mantissa_bits) | ((1u << f.mantissa_bits) - 1u);
      break;
    case NanInf::kUnsignedE8M0:
      return 0xFFu;
    case NanInf::kFiniteOnly:
      // No NaN code: ml_dtypes writes -0 (sign bit alone), and so do we (codec.h documents it);
      // quantizers reject NaN before this point.
      return sign_bit(f);
  }
  return code | (negative ? sign_bit(f) : 0u);
}

uint32_t inf_code(const FloatFormat& f, bool negative) {
  const uint32_t exp_all = (1u << f.exponent_bits) - 1u;
  return (exp_all << f.mantissa_bits) | (negative ? sign_bit(f) : 0u);
}

// What an out-of-range magnitude becomes, per overflow mode.
uint32_t overflow_code(const FloatFormat& f, bool negative, const EncodeOptions& opt,
                       bool input_is_inf) {
  const bool saturate = opt.overflow == Overflow::kSaturate ||
                        // IEEE 754: round-toward-zero never rounds a finite value to Inf
                        (opt.rounding == Rounding::kRtz && !input_is_inf);
  if (saturate) return max_finite_code(f, negative);
  switch (f.nan_inf) {
    case NanInf::kIeee: return inf_code(f, negative);
    case NanInf::kFnOnlyNan: return nan_code(f, negative);
    case NanInf::kUnsignedE8M0: return nan_code(f, negative);
    case NanInf::kFiniteOnly: return max_finite_code(f, negative);
  }
  return max_finite_code(f, negative);
}

// Rounds a non-negative double to an integer-valued double per the mode.
double round_magnitude(double scaled, Rounding mode, uint64_t seed, uint64_t index) {
  const double floor_v = std::floor(scaled);
  const double frac = scaled - floor_v;  // exact: scaled < 2^53 here
  switch (mode) {
    case Rounding::kRtz:
      return floor_v;
    case Rounding::kStochastic: {
      // u uniform on {k * 2^-53}; round up with probability frac.
      const double u = static_cast<double>(stochastic_bits(seed, index) >> 11) * 0x1p-53;
      return frac > u ? floor_v + 1.0 : floor_v;
    }
    case Rounding::kRne:
      break;
  }
  if (frac > 0.5) return floor_v + 1.0;
  if (frac < 0.5) return floor_v;
  return std::fmod(floor_v, 2.0) == 0.0 ? floor_v : floor_v + 1.0;
}

}  // namespace

std::string_view rounding_name(Rounding r) {
  switch (r) {
    case Rounding::kRne: return "rne";
    case Rounding::kRtz: return "rtz";
    case Rounding::kStochastic: return "stochastic";
  }
  return "rne";
}

std::string_view overflow_name(Overflow o) {
  return o == Overflow::kSaturate ? "saturate" : "ieee";
}

Result<Rounding> parse_rounding(std::string_view s) {
  if (s == "rne") return Rounding::kRne;
  if (s == "rtz") return Rounding::kRtz;
  if (s == "stochastic" || s == "sr") return Rounding::kStochastic;
  return invalid_argument("unknown rounding '{}' (expected rne, rtz or stochastic)", s);
}

Result<Overflow> parse_overflow(std::string_view s) {
  if (s == "saturate") return Overflow::kSaturate;
  if (s == "ieee") return Overflow::kIeee;
  return invalid_argument("unknown overflow mode '{}' (expected saturate or ieee)", s);
}

bool is_nan_code(const FloatFormat& f, uint32_t code) {
  const uint32_t exp_all = (1u << f.exponent_bits) - 1u;
  const uint32_t mant_mask = (1u << f.mantissa_bits) - 1u;
  const uint32_t exp = (code >> f.mantissa_bits) & exp_all;
  const uint32_t mant = code & mant_mask;
  switch (f.nan_inf) {
    case NanInf::kIeee: return exp == exp_all && mant != 0;
    case NanInf::kFnOnlyNan: return exp == exp_all && mant == mant_mask;
    case NanInf::kUnsignedE8M0: return code == 0xFFu;
    case NanInf::kFiniteOnly: return false;
  }
  return false;
}

uint32_t encode(const FloatFormat& f, double x, const EncodeOptions& opt, uint64_t index) {
  const bool negative = std::signbit(x);
  if (std::isnan(x)) return nan_code(f, negative);
  if (!f.is_signed && negative && x != 0.0) return nan_code(f, negative);  // e8m0: no sign
  const double a = std::fabs(x);
  if (std::isinf(a)) {
    if (f.has_inf() && opt.overflow == Overflow::kIeee) return inf_code(f, negative);
    return overflow_code(f, negative, opt, /*input_is_inf=*/true);
  }
  const uint32_t sign = negative ? sign_bit(f) : 0u;
  const int m = f.mantissa_bits;
  // Smallest exponent of a normal number; e8m0 (no subnormals) starts at biased exponent 0.
  const int emin = f.has_subnormals() ? 1 - f.bias : -f.bias;
  if (a == 0.0) {
    if (!f.has_subnormals()) return nan_code(f, false);  // e8m0 has no zero (ml_dtypes: NaN)
    return sign;
  }
  int e = std::ilogb(a);  // floor(log2 a), exact for doubles incl. subnormal doubles
  if (e < emin) e = emin;
  const int q = e - m;  // exponent of the quantum at this binade
  const double scaled = std::ldexp(a, -q);  // exact: a power-of-two scaling
  if (scaled >= 0x1p62) return overflow_code(f, negative, opt, false);  // far past any max
  double n = round_magnitude(scaled, opt.rounding, opt.seed, index);
  if (n == 0.0) {
    if (!f.has_subnormals()) return 0u;  // e8m0 rounds tiny values up to 2^-127
    return sign;
  }
  auto mant = static_cast<uint64_t>(n);
  int qe = q;
  const uint64_t hidden = uint64_t{1} << m;
  if (mant >= (hidden << 1)) {  // rounding carried into the next binade
    mant >>= 1;
    ++qe;
  }
  int biased;
  if (mant < hidden) {  // subnormal (only reachable when e was clamped to emin)
    biased = 0;
  } else {
    biased = qe + m + f.bias;
    mant -= hidden;
  }
  if (biased > f.max_biased_exponent() ||
      (biased == f.max_biased_exponent() && mant > max_top_mantissa(f))) {
    return overflow_code(f, negative, opt, false);
  }
  return sign | (static_cast<uint32_t>(biased) << m) | static_cast<uint32_t>(mant);
}

double decode(const FloatFormat& f, uint32_t code) {
  const int m = f.mantissa_bits;
  const uint32_t exp_all = (1u << f.exponent_bits) - 1u;
  const bool negative = f.is_signed && (code & sign_bit(f)) != 0;
  const uint32_t exp = (code >> m) & exp_all;
  const uint32_t mant = code & ((1u << m) - 1u);
  if (is_nan_code(f, code)) return negative ? -NAN : NAN;
  double v;
  if (f.nan_inf == NanInf::kUnsignedE8M0) {
    v = std::ldexp(1.0, static_cast<int>(exp) - f.bias);
  } else if (f.nan_inf == NanInf::kIeee && exp == exp_all) {
    v = INFINITY;
  } else if (exp == 0) {
    v = std::ldexp(static_cast<double>(mant), 1 - f.bias - m);
  } else {
    v = std::ldexp(static_cast<double>((1u << m) | mant), static_cast<int>(exp) - f.bias - m);
  }
  return negative ? -v : v;
}

uint32_t encode(const IntFormat& f, double x, const EncodeOptions& opt, uint64_t index) {
  if (std::isnan(x)) return 0u;
  const double lo = static_cast<double>(f.min()), hi = static_cast<double>(f.max());
  double r;
  if (x >= hi) {
    r = hi;
  } else if (x <= lo) {
    r = lo;
  } else {
    const double mag = round_magnitude(std::fabs(x), opt.rounding, opt.seed, index);
    r = std::signbit(x) ? -mag : mag;
    r = std::min(hi, std::max(lo, r));
  }
  const auto v = static_cast<int64_t>(r);
  const uint32_t mask = f.bits >= 32 ? 0xFFFFFFFFu : ((1u << f.bits) - 1u);
  return static_cast<uint32_t>(v) & mask;
}

double decode(const IntFormat& f, uint32_t code) {
  const uint32_t mask = f.bits >= 32 ? 0xFFFFFFFFu : ((1u << f.bits) - 1u);
  code &= mask;
  if (f.is_signed && f.bits < 64 && (code >> (f.bits - 1)) & 1u) {
    return static_cast<double>(static_cast<int64_t>(code) - (int64_t{1} << f.bits));
  }
  return static_cast<double>(code);
}

uint32_t encode(const Format& f, double x, const EncodeOptions& opt, uint64_t index) {
  return f.kind == FormatKind::kFloat ? encode(f.fp, x, opt, index)
                                      : encode(f.integer, x, opt, index);
}

double decode(const Format& f, uint32_t code) {
  return f.kind == FormatKind::kFloat ? decode(f.fp, code) : decode(f.integer, code);
}

Probe probe(const Format& f, double x, const EncodeOptions& opt) {
  Probe p{};
  p.code = encode(f, x, opt);
  p.value = decode(f, p.code);
  if (std::isinf(x) && p.value == x) {
    p.abs_error = 0;  // Inf stored as Inf: exact, though Inf - Inf is NaN
  } else {
    p.abs_error = std::fabs(p.value - x);
  }
  if (std::isnan(p.abs_error)) {
    p.rel_error = NAN;
  } else if (x == 0) {
    p.rel_error = p.abs_error == 0 ? 0.0 : INFINITY;
  } else {
    p.rel_error = std::isinf(x) ? (p.abs_error == 0 ? 0.0 : 1.0) : p.abs_error / std::fabs(x);
  }
  return p;
}

}  // namespace bitsmith::formats
