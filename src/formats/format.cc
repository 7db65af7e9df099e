#include "bitsmith/formats/format.h"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

#include "bitsmith/formats/codec.h"

namespace bitsmith::formats {

namespace {

constexpr std::string_view kF32Aliases[] = {"fp32", "f32"};
constexpr std::string_view kF16Aliases[] = {"fp16", "f16", "half"};
constexpr std::string_view kBF16Aliases[] = {"bf16"};
constexpr std::string_view kE4M3Aliases[] = {"e4m3", "fp8_e4m3", "fp8"};
constexpr std::string_view kE5M2Aliases[] = {"e5m2", "fp8_e5m2"};
constexpr std::string_view kE3M2Aliases[] = {"e3m2", "fp6_e3m2"};
constexpr std::string_view kE2M3Aliases[] = {"e2m3", "fp6_e2m3"};
constexpr std::string_view kE2M1Aliases[] = {"e2m1", "fp4", "fp4_e2m1"};
constexpr std::string_view kE8M0Aliases[] = {"e8m0"};
constexpr std::span<const std::string_view> kNoAliases{};

constexpr Format float_format(std::string_view name, std::span<const std::string_view> aliases,
                              FloatFormat fp) {
  return Format{name, aliases, FormatKind::kFloat, fp, IntFormat{0, false}};
}
constexpr Format int_format(std::string_view name, int bits, bool is_signed) {
  return Format{name, kNoAliases, FormatKind::kInt, FloatFormat{0, 0, 0, NanInf::kFiniteOnly, false},
                IntFormat{bits, is_signed}};
}

constexpr std::array kFormats = {
    float_format("float32", kF32Aliases, kFloat32),
    float_format("float16", kF16Aliases, kFloat16),
    float_format("bfloat16", kBF16Aliases, kBFloat16),
    float_format("float8_e4m3fn", kE4M3Aliases, kFloat8E4M3FN),
    float_format("float8_e5m2", kE5M2Aliases, kFloat8E5M2),
    float_format("float6_e3m2fn", kE3M2Aliases, kFloat6E3M2FN),
    float_format("float6_e2m3fn", kE2M3Aliases, kFloat6E2M3FN),
    float_format("float4_e2m1fn", kE2M1Aliases, kFloat4E2M1FN),
    float_format("float8_e8m0fnu", kE8M0Aliases, kFloat8E8M0FNU),
    int_format("int8", 8, true),   int_format("int7", 7, true),   int_format("int6", 6, true),
    int_format("int5", 5, true),   int_format("int4", 4, true),   int_format("int3", 3, true),
    int_format("int2", 2, true),   int_format("uint8", 8, false), int_format("uint7", 7, false),
    int_format("uint6", 6, false), int_format("uint5", 5, false), int_format("uint4", 4, false),
    int_format("uint3", 3, false), int_format("uint2", 2, false),
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::span<const Format> all_formats() { return kFormats; }

Result<const Format*> find_format(std::string_view name) {
  for (const Format& f : kFormats) {
    if (iequals(f.name, name)) return &f;
    for (std::string_view alias : f.aliases) {
      if (iequals(alias, name)) return &f;
    }
  }
  std::string known;
  for (const Format& f : kFormats) {
    if (!known.empty()) known += ", ";
    known += f.name;
  }
  return invalid_argument("unknown format '{}' (known: {})", name, known);
}

double min_normal(const FloatFormat& f) {
  // e8m0 has no subnormals: its biased exponent 0 is already a normal 2^-127.
  return f.has_subnormals() ? std::ldexp(1.0, 1 - f.bias) : std::ldexp(1.0, -f.bias);
}

double min_subnormal(const FloatFormat& f) {
  return f.has_subnormals() ? std::ldexp(1.0, 1 - f.bias - f.mantissa_bits) : min_normal(f);
}

double epsilon(const FloatFormat& f) { return std::ldexp(1.0, -f.mantissa_bits); }

uint64_t finite_value_count(const FloatFormat& f) {
  // Count codes of one sign that decode to finite values, then mirror; -0 == +0 counts once.
  const uint64_t codes_per_sign = uint64_t{1} << (f.exponent_bits + f.mantissa_bits);
  uint64_t finite = 0;
  if (f.nan_inf == NanInf::kIeee) {
    finite = codes_per_sign - (uint64_t{1} << f.mantissa_bits);  // minus the Inf/NaN binade
  } else if (f.nan_inf == NanInf::kFnOnlyNan || f.nan_inf == NanInf::kUnsignedE8M0) {
    finite = codes_per_sign - 1;  // minus the single NaN code
  } else {
    finite = codes_per_sign;
  }
  if (!f.is_signed) return finite;  // e8m0: no zero, no sign
  return 2 * finite - 1;            // both signs, zero once
}

FormatProperties properties(const Format& f) {
  FormatProperties p{};
  p.bits = f.bits();
  if (f.kind == FormatKind::kFloat) {
    p.exponent_bits = f.fp.exponent_bits;
    p.mantissa_bits = f.fp.mantissa_bits;
    p.bias = f.fp.bias;
    p.max = max_finite(f.fp);
    p.min_normal = min_normal(f.fp);
    p.min_subnormal = min_subnormal(f.fp);
    p.epsilon = epsilon(f.fp);
    p.finite_values = finite_value_count(f.fp);
    p.has_inf = f.fp.has_inf();
    p.has_nan = f.fp.has_nan();
  } else {
    p.mantissa_bits = f.integer.bits - (f.integer.is_signed ? 1 : 0);
    p.max = static_cast<double>(f.integer.max());
    p.min_normal = p.min_subnormal = p.epsilon = 1.0;
    p.finite_values = uint64_t{1} << f.integer.bits;
  }
  return p;
}

CodeFields split_code(const Format& f, uint32_t code) {
  const int bits = f.bits();
  code &= bits >= 32 ? 0xFFFFFFFFu : (1u << bits) - 1u;
  const bool has_sign = f.kind == FormatKind::kFloat ? f.fp.is_signed : f.integer.is_signed;
  const int mant_bits = f.kind == FormatKind::kFloat ? f.fp.mantissa_bits
                                                     : bits - (has_sign ? 1 : 0);
  CodeFields c{};
  c.sign = has_sign ? code >> (bits - 1) : 0u;
  c.mantissa = code & ((1u << mant_bits) - 1u);
  c.exponent = f.kind == FormatKind::kFloat
                   ? (code >> mant_bits) & ((1u << f.fp.exponent_bits) - 1u)
                   : 0u;
  return c;
}

Result<double> parse_number(std::string_view text) {
  // strtod reads decimal, hex floats, inf/infinity and nan in any case; it needs a terminated
  // string and must consume all of it.
  const std::string s(text);
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front()))) {
    return invalid_argument("'{}' is not a number", text);
  }
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return invalid_argument("'{}' is not a number", text);
  // Out-of-range decimals become +-inf or a denormal/zero with ERANGE: that is the value the
  // text denotes, rounded, so it is accepted.
  return v;
}

}  // namespace bitsmith::formats
