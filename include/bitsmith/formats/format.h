// Element formats as data (DESIGN.md convention 1): one constexpr descriptor per format drives
// the one generic encoder/decoder in codec.h. No class per type.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "bitsmith/core/status.h"

namespace bitsmith::formats {

// How a float format spends its all-ones exponent (the "NaN/Inf family" of CUTLASS/ml_dtypes).
enum class NanInf : uint8_t {
  kIeee,        // exponent all ones: Inf (mantissa 0) and NaN (mantissa != 0). fp32, fp16, bf16, e5m2
  kFnOnlyNan,   // "fn": no Inf; only exponent and mantissa all ones (S.1111.111) is NaN. e4m3fn
  kFiniteOnly,  // no Inf, no NaN: every code is finite. e3m2fn, e2m3fn, e2m1fn
  kUnsignedE8M0 // exponent-only scale: no sign, no zero, no Inf; 0xFF is NaN. e8m0fnu
};

struct FloatFormat {
  int exponent_bits;
  int mantissa_bits;
  int bias;
  NanInf nan_inf;
  bool is_signed;

  constexpr int bits() const { return (is_signed ? 1 : 0) + exponent_bits + mantissa_bits; }
  constexpr bool has_inf() const { return nan_inf == NanInf::kIeee; }
  constexpr bool has_nan() const { return nan_inf != NanInf::kFiniteOnly; }
  // Largest biased exponent that encodes finite values.
  constexpr int max_biased_exponent() const {
    const int all_ones = (1 << exponent_bits) - 1;
    // IEEE spends the top binade on Inf/NaN; e8m0 spends its top code (0xFF) on NaN.
    return (nan_inf == NanInf::kIeee || nan_inf == NanInf::kUnsignedE8M0) ? all_ones - 1
                                                                            : all_ones;
  }
  // Whether the format has subnormals (biased exponent 0 with a mantissa). e8m0 has none.
  constexpr bool has_subnormals() const { return mantissa_bits > 0; }
};

struct IntFormat {
  int bits;  // 2..8 (and 16/32 for completeness of the API; the CLI lists 2..8)
  bool is_signed;
  constexpr int64_t min() const { return is_signed ? -(int64_t{1} << (bits - 1)) : 0; }
  constexpr int64_t max() const {
    return is_signed ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
  }
};

// The descriptors. Maxima derived as ml_dtypes does, so a reader checks them by hand:
// float32:  (2 - 2^-23) * 2^(254 - 127) = 3.4028235e38
inline constexpr FloatFormat kFloat32{8, 23, 127, NanInf::kIeee, true};
// float16:  (1 + 0b1111111111 * 2^-10) * 2^(30 - 15) = 65504
inline constexpr FloatFormat kFloat16{5, 10, 15, NanInf::kIeee, true};
// bfloat16: (1 + 0b1111111 * 2^-7) * 2^(254 - 127) = 3.3895314e38
inline constexpr FloatFormat kBFloat16{8, 7, 127, NanInf::kIeee, true};
// e4m3fn:   (1 + 0b110 * 2^-3) * 2^(15 - 7) = 448 (0b111 with exponent 15 is NaN)
inline constexpr FloatFormat kFloat8E4M3FN{4, 3, 7, NanInf::kFnOnlyNan, true};
// e5m2:     (1 + 0b11 * 2^-2) * 2^(30 - 15) = 57344
inline constexpr FloatFormat kFloat8E5M2{5, 2, 15, NanInf::kIeee, true};
// e3m2fn:   (1 + 0b11 * 2^-2) * 2^(7 - 3) = 28
inline constexpr FloatFormat kFloat6E3M2FN{3, 2, 3, NanInf::kFiniteOnly, true};
// e2m3fn:   (1 + 0b111 * 2^-3) * 2^(3 - 1) = 7.5
inline constexpr FloatFormat kFloat6E2M3FN{2, 3, 1, NanInf::kFiniteOnly, true};
// e2m1fn:   (1 + 0b1 * 2^-1) * 2^(3 - 1) = 6
inline constexpr FloatFormat kFloat4E2M1FN{2, 1, 1, NanInf::kFiniteOnly, true};
// e8m0fnu:  2^(254 - 127) = 2^127 (0xFF is NaN; 0x00 is 2^-127, the smallest)
inline constexpr FloatFormat kFloat8E8M0FNU{8, 0, 127, NanInf::kUnsignedE8M0, false};

enum class FormatKind : uint8_t { kFloat, kInt };

// A named format: a float or an integer descriptor, its canonical name and aliases.
struct Format {
  std::string_view name;  // canonical: ml_dtypes / MLIR spelling ("float8_e4m3fn", "int4")
  std::span<const std::string_view> aliases;
  FormatKind kind;
  FloatFormat fp;   // valid when kind == kFloat
  IntFormat integer;  // valid when kind == kInt

  constexpr int bits() const { return kind == FormatKind::kFloat ? fp.bits() : integer.bits; }
};

// Every format bitsmith knows, in the order the CLI lists them.
std::span<const Format> all_formats();
// Look up by canonical name or alias, case-insensitive ("e4m3", "fp4", "float16", "uint3").
Result<const Format*> find_format(std::string_view name);

// Derived properties (exact, as doubles).
// Largest finite value, usable in constant expressions:
// (1 + top mantissa * 2^-m) * 2^(top exponent - bias), e.g. e4m3fn (1 + 6/8) * 2^8 = 448
// (fn formats spend the top mantissa of the top binade on NaN). Powers of two are exact in a
// double, so the loops lose nothing.
constexpr double max_finite(const FloatFormat& f) {
  const int m = f.mantissa_bits;
  int top_mant = (1 << m) - 1;
  if (f.nan_inf == NanInf::kFnOnlyNan) top_mant -= 1;
  double v = 1.0 + static_cast<double>(top_mant) / static_cast<double>(1 << m);
  const int e = f.max_biased_exponent() - f.bias;
  for (int i = 0; i < e; ++i) v *= 2.0;
  for (int i = 0; i > e; --i) v *= 0.5;
  return v;
}
double min_normal(const FloatFormat& f);
double min_subnormal(const FloatFormat& f);  // = min_normal for formats without subnormals
double epsilon(const FloatFormat& f);        // gap between 1.0 and the next value
// Number of distinct finite values, +0 and -0 counted once.
uint64_t finite_value_count(const FloatFormat& f);

// What `bitsmith formats` lists, for float and integer formats alike. Integers: exponent_bits
// 0, mantissa_bits = the magnitude bits, bias 0, min_normal = min_subnormal = epsilon = 1 (the
// integer grid's step), finite_values = 2^bits.
struct FormatProperties {
  int bits;
  int exponent_bits;
  int mantissa_bits;
  int bias;
  double max;
  double min_normal;
  double min_subnormal;
  double epsilon;
  uint64_t finite_values;
  bool has_inf;
  bool has_nan;
};
FormatProperties properties(const Format& f);

// A code's fields. Floats: sign, biased exponent, mantissa. Integers: sign = the top bit of a
// signed type (0 for unsigned), exponent 0, mantissa = the remaining bits.
struct CodeFields {
  uint32_t sign;
  uint32_t exponent;
  uint32_t mantissa;
};
CodeFields split_code(const Format& f, uint32_t code);

// A number as a person types it: decimal ("-1.5e3"), hex float ("0x1.8p1"), "inf", "-inf",
// "nan" (case-insensitive). The whole text must be the number; the error names the text.
Result<double> parse_number(std::string_view text);

}  // namespace bitsmith::formats
