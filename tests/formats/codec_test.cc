// The scalar codec against the definitions: every code, every midpoint, every special value.
// Expected values come from REFERENCE.md section 1 and the IEEE/OCP definitions, written out
// here by hand; nothing is computed by the code under test and compared with itself.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/format.h"

namespace bitsmith::formats {
namespace {

constexpr EncodeOptions kRneSat{Rounding::kRne, Overflow::kSaturate};
constexpr EncodeOptions kRneIeee{Rounding::kRne, Overflow::kIeee};
constexpr EncodeOptions kRtzSat{Rounding::kRtz, Overflow::kSaturate};
constexpr EncodeOptions kRtzIeee{Rounding::kRtz, Overflow::kIeee};

std::vector<const Format*> small_formats() {  // every format of 16 bits or fewer
  std::vector<const Format*> out;
  for (const Format& f : all_formats()) {
    if (f.bits() <= 16) out.push_back(&f);
  }
  return out;
}

uint32_t sign_of(const FloatFormat& f) { return f.is_signed ? 1u << (f.bits() - 1) : 0u; }

TEST(Codec, EveryCodeRoundTrips) {
  const EncodeOptions modes[] = {kRneIeee, kRtzIeee, {Rounding::kStochastic, Overflow::kIeee, 7}};
  for (const Format* f : small_formats()) {
    SCOPED_TRACE(f->name);
    for (uint32_t c = 0; c < (1u << f->bits()); ++c) {
      const double v = decode(*f, c);
      for (const EncodeOptions& opt : modes) {
        const uint32_t back = encode(*f, v, opt, c);
        if (std::isnan(v)) {
          ASSERT_TRUE(f->kind == FormatKind::kFloat && is_nan_code(f->fp, back)) << c;
        } else {
          ASSERT_EQ(back, c) << "code " << c << " value " << v;
        }
      }
      // Saturate mode changes nothing for finite values.
      if (std::isfinite(v)) {
        ASSERT_EQ(encode(*f, v, kRneSat), c);
      }
    }
  }
}

TEST(Codec, EveryMidpointRoundsToEvenAndNeighboursGoTheirWay) {
  for (const Format* fmt : small_formats()) {
    if (fmt->kind != FormatKind::kFloat) continue;
    const FloatFormat& f = fmt->fp;
    SCOPED_TRACE(fmt->name);
    const uint32_t max_code = encode(f, max_finite(f));
    // Magnitude codes 0..max_code have increasing values in every format here.
    for (uint32_t c = 0; c < max_code; ++c) {
      const double lo = decode(f, c), hi = decode(f, c + 1);
      ASSERT_LT(lo, hi);
      const double mid = (lo + hi) / 2;  // exact in binary64 for formats of 16 bits or fewer
      // e8m0 has no mantissa digit, so both neighbours have the significand 1 and "even" has
      // nothing to choose; bitsmith rounds its ties up, as ml_dtypes does (3 -> 4, 6 -> 8).
      const uint32_t even = f.mantissa_bits == 0 ? c + 1 : ((c % 2 == 0) ? c : c + 1);
      ASSERT_EQ(encode(f, mid, kRneSat), even) << "midpoint " << mid;
      ASSERT_EQ(encode(f, std::nextafter(mid, 0.0), kRneSat), c) << mid;
      ASSERT_EQ(encode(f, std::nextafter(mid, INFINITY), kRneSat), c + 1) << mid;
      ASSERT_EQ(encode(f, mid, kRtzSat), c);
      ASSERT_EQ(encode(f, std::nextafter(hi, 0.0), kRtzSat), c);
      if (f.is_signed) {
        ASSERT_EQ(encode(f, -mid, kRneSat), even | sign_of(f));
        ASSERT_EQ(encode(f, -std::nextafter(mid, INFINITY), kRneSat), (c + 1) | sign_of(f));
        ASSERT_EQ(encode(f, -mid, kRtzSat), c | sign_of(f));
      }
    }
  }
}

TEST(Codec, Fp4GoldenTable) {
  // OCP MX v1.0 table: E2M1 codes 0..15 (CUTLASS keeps the same golden table).
  const double golden[16] = {0.0,  0.5,  1.0,  1.5,  2.0,  3.0,  4.0,  6.0,
                             -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0};
  for (uint32_t c = 0; c < 16; ++c) {
    const double v = decode(kFloat4E2M1FN, c);
    EXPECT_EQ(v, golden[c]) << c;
    EXPECT_EQ(std::signbit(v), std::signbit(golden[c])) << c;
    EXPECT_EQ(encode(kFloat4E2M1FN, golden[c]), c);
  }
  // REFERENCE.md midpoints: 0.25->0, 0.75->1, 1.25->1, 1.75->2, 2.5->2, 3.5->4, 5->4.
  const double mids[] = {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0};
  const uint32_t want[] = {0, 2, 2, 4, 4, 6, 6};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(encode(kFloat4E2M1FN, mids[i]), want[i]) << mids[i];
}

TEST(Codec, DescriptorPropertiesMatchReferenceTable) {
  struct Row { FloatFormat f; double max, min_normal, min_sub; uint64_t finite; };
  const Row rows[] = {
      {kFloat32, 3.4028234663852886e38, 0x1p-126, 0x1p-149, 4278190079ull},
      {kFloat16, 65504, 0x1p-14, 0x1p-24, 63487},
      {kBFloat16, 3.3895313892515355e38, 0x1p-126, 0x1p-133, 65279},
      {kFloat8E4M3FN, 448, 0x1p-6, 0x1p-9, 253},
      {kFloat8E5M2, 57344, 0x1p-14, 0x1p-16, 247},
      {kFloat6E3M2FN, 28, 0x1p-2, 0x1p-4, 63},
      {kFloat6E2M3FN, 7.5, 1, 0x1p-3, 63},
      {kFloat4E2M1FN, 6, 1, 0.5, 15},
      {kFloat8E8M0FNU, 0x1p127, 0x1p-127, 0x1p-127, 255},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.f.bits());
    EXPECT_EQ(max_finite(r.f), r.max);
    EXPECT_EQ(min_normal(r.f), r.min_normal);
    EXPECT_EQ(min_subnormal(r.f), r.min_sub);
    EXPECT_EQ(finite_value_count(r.f), r.finite);
    EXPECT_EQ(epsilon(r.f), std::ldexp(1.0, -r.f.mantissa_bits));
  }
  // The finite counts once more, by brute force over the codes.
  for (const Format* f : small_formats()) {
    if (f->kind != FormatKind::kFloat) continue;
    std::set<double> values;
    for (uint32_t c = 0; c < (1u << f->bits()); ++c) {
      const double v = decode(*f, c);
      if (std::isfinite(v)) values.insert(v == 0 ? 0.0 : v);
    }
    EXPECT_EQ(values.size(), finite_value_count(f->fp)) << f->name;
  }
}

TEST(Codec, OverflowInBothModes) {
  // e4m3fn: 448 is the largest; 464 is the midpoint to the (NaN) code above and ties to the
  // even mantissa 0b110 = 448; past it a plain cast gives NaN (REFERENCE.md, ml_dtypes).
  EXPECT_EQ(encode(kFloat8E4M3FN, 464.0, kRneIeee), 0x7Eu);
  EXPECT_EQ(encode(kFloat8E4M3FN, 465.0, kRneIeee), 0x7Fu);
  EXPECT_EQ(encode(kFloat8E4M3FN, -465.0, kRneIeee), 0xFFu);
  EXPECT_EQ(encode(kFloat8E4M3FN, 465.0, kRneSat), 0x7Eu);
  EXPECT_EQ(encode(kFloat8E4M3FN, 1e30, kRneSat), 0x7Eu);
  EXPECT_EQ(encode(kFloat8E4M3FN, INFINITY, kRneIeee), 0x7Fu);  // no Inf: NaN
  EXPECT_EQ(encode(kFloat8E4M3FN, -INFINITY, kRneSat), 0xFEu);
  // fp16: 65504 max; 65520 is the midpoint to 2^16 and 65504's mantissa is odd: Inf.
  EXPECT_EQ(encode(kFloat16, 65519.0, kRneIeee), 0x7BFFu);
  EXPECT_EQ(encode(kFloat16, 65520.0, kRneIeee), 0x7C00u);
  EXPECT_EQ(encode(kFloat16, 65520.0, kRneSat), 0x7BFFu);
  EXPECT_EQ(encode(kFloat16, -1e10, kRneIeee), 0xFC00u);
  EXPECT_EQ(encode(kFloat16, INFINITY, kRneIeee), 0x7C00u);
  EXPECT_EQ(encode(kFloat16, INFINITY, kRneSat), 0x7BFFu);
  // e5m2: 57344 max, 61440 midpoint to 2^16 (odd mantissa 0b11): Inf.
  EXPECT_EQ(encode(kFloat8E5M2, 61440.0, kRneIeee), 0x7Cu);
  EXPECT_EQ(encode(kFloat8E5M2, 61439.0, kRneIeee), 0x7Bu);
  EXPECT_EQ(encode(kFloat8E5M2, 61440.0, kRneSat), 0x7Bu);
  // bf16 from float32 max rounds past its max.
  EXPECT_EQ(encode(kBFloat16, 3.4028234663852886e38, kRneIeee), 0x7F80u);
  EXPECT_EQ(encode(kBFloat16, 3.4028234663852886e38, kRneSat), 0x7F7Fu);
  // Round toward zero never creates an Inf from a finite value (IEEE 754), but keeps Inf.
  EXPECT_EQ(encode(kFloat16, 1e10, kRtzIeee), 0x7BFFu);
  EXPECT_EQ(encode(kFloat16, INFINITY, kRtzIeee), 0x7C00u);
  EXPECT_EQ(encode(kFloat8E4M3FN, 500.0, kRtzIeee), 0x7Eu);
  // fp6/fp4 have neither Inf nor NaN: both modes saturate.
  for (const EncodeOptions& opt : {kRneSat, kRneIeee}) {
    EXPECT_EQ(encode(kFloat6E3M2FN, 1000.0, opt), 0x1Fu);
    EXPECT_EQ(encode(kFloat6E2M3FN, -8.0, opt), 0x3Fu);
    EXPECT_EQ(encode(kFloat4E2M1FN, INFINITY, opt), 0x7u);
    EXPECT_EQ(encode(kFloat4E2M1FN, -7.0, opt), 0xFu);
  }
  // e8m0: past 2^127 the ieee mode gives its NaN (0xFF), saturate its max (0xFE).
  EXPECT_EQ(encode(kFloat8E8M0FNU, 0x1p128, kRneIeee), 0xFFu);
  EXPECT_EQ(encode(kFloat8E8M0FNU, 0x1p128, kRneSat), 0xFEu);
}

TEST(Codec, UnderflowSubnormalsAndSignedZero) {
  // fp16 smallest subnormal 2^-24: half of it ties to even (0), a hair more rounds up.
  EXPECT_EQ(encode(kFloat16, 0x1p-25), 0x0000u);
  EXPECT_EQ(encode(kFloat16, std::nextafter(0x1p-25, 1.0)), 0x0001u);
  EXPECT_EQ(encode(kFloat16, -0x1p-26), 0x8000u);  // underflow keeps the sign: -0
  EXPECT_EQ(encode(kFloat16, 3 * 0x1p-25), 0x0002u);  // 1.5 ulp ties to even 2
  EXPECT_EQ(decode(kFloat16, 0x03FFu), 1023 * 0x1p-24);  // largest subnormal
  EXPECT_EQ(encode(kFloat16, 0x1p-14 - 0x1p-25), 0x0400u);  // rounds up into the normals
  EXPECT_EQ(encode(kFloat8E4M3FN, 0x1p-9), 0x01u);
  EXPECT_EQ(encode(kFloat8E4M3FN, 0x1p-10), 0x00u);
  EXPECT_EQ(encode(kFloat8E4M3FN, -0x1p-10), 0x80u);
  EXPECT_EQ(encode(kFloat8E5M2, 0x1p-17 * 3), 0x02u);
  EXPECT_EQ(encode(kFloat4E2M1FN, 0.2), 0x0u);
  EXPECT_EQ(encode(kFloat4E2M1FN, -0.2), 0x8u);
  // bf16 holds float32's subnormals down to 2^-133.
  EXPECT_EQ(encode(kBFloat16, 0x1p-133), 0x0001u);
  EXPECT_EQ(encode(kBFloat16, 0x1p-149), 0x0000u);
  EXPECT_EQ(encode(kBFloat16, 0x1p-134 * 3), 0x0002u);
  // Signed zero in, signed zero out; rtz of a tiny value too.
  for (const FloatFormat& f : {kFloat16, kBFloat16, kFloat8E4M3FN, kFloat8E5M2, kFloat6E3M2FN,
                               kFloat6E2M3FN, kFloat4E2M1FN}) {
    EXPECT_EQ(encode(f, 0.0), 0u);
    EXPECT_EQ(encode(f, -0.0), sign_of(f));
    EXPECT_EQ(encode(f, -1e-300, kRtzSat), sign_of(f));
    EXPECT_TRUE(std::signbit(decode(f, sign_of(f))));
  }
  // e8m0 has no zero: 0 is NaN (ml_dtypes too); tiny values go to its smallest, 2^-127.
  EXPECT_EQ(encode(kFloat8E8M0FNU, 0.0), 0xFFu);
  EXPECT_EQ(encode(kFloat8E8M0FNU, 0x1p-140), 0x00u);
  EXPECT_EQ(encode(kFloat8E8M0FNU, -1.0), 0xFFu);
}

TEST(Codec, NanAndInf) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(encode(kFloat16, nan), 0x7E00u);
  EXPECT_EQ(encode(kFloat16, -nan), 0xFE00u);
  EXPECT_EQ(encode(kBFloat16, nan, kRneIeee), 0x7FC0u);
  EXPECT_EQ(encode(kFloat8E4M3FN, nan), 0x7Fu);
  EXPECT_EQ(encode(kFloat8E5M2, -nan), 0xFEu);
  EXPECT_EQ(encode(kFloat8E8M0FNU, nan), 0xFFu);
  // No NaN in fp6/fp4: -0, whatever the sign (codec.h); quantizers reject NaN before this.
  EXPECT_EQ(encode(kFloat4E2M1FN, nan), 0x8u);
  EXPECT_EQ(encode(kFloat6E2M3FN, -nan), 0x20u);
  EXPECT_TRUE(std::isinf(decode(kFloat16, 0x7C00u)));
  EXPECT_TRUE(std::isnan(decode(kFloat8E4M3FN, 0xFFu)));
  EXPECT_EQ(decode(kFloat8E4M3FN, 0x7Eu), 448.0);  // S.1111.110 is finite
  EXPECT_TRUE(std::isnan(decode(kFloat8E5M2, 0x7Du)));
  EXPECT_TRUE(std::isinf(decode(kFloat8E5M2, 0xFCu)));
}

TEST(Codec, RoundTowardZero) {
  EXPECT_EQ(decode(kBFloat16, encode(kBFloat16, 3.141592653589793, kRtzSat)), 3.140625);
  EXPECT_EQ(decode(kFloat8E4M3FN, encode(kFloat8E4M3FN, 3.49, kRtzSat)), 3.25);
  EXPECT_EQ(decode(kFloat8E4M3FN, encode(kFloat8E4M3FN, -3.49, kRtzSat)), -3.25);
  EXPECT_EQ(decode(kFloat4E2M1FN, encode(kFloat4E2M1FN, 5.99, kRtzSat)), 4.0);
  EXPECT_EQ(decode(kFloat16, encode(kFloat16, 0x1p-24 * 1.99, kRtzSat)), 0x1p-24);
}

TEST(Codec, StochasticIsReproducibleAndUnbiased) {
  const EncodeOptions a{Rounding::kStochastic, Overflow::kSaturate, 42};
  const EncodeOptions b{Rounding::kStochastic, Overflow::kSaturate, 43};
  struct Case { Format f; double x; };
  const Case cases[] = {
      {*find_format("bf16").value(), 1.0 + 0.3 * 0x1p-7},
      {*find_format("e4m3").value(), 0.7 * 0x1p-9},  // subnormal range
      {*find_format("e2m1").value(), -2.6},
      {*find_format("e5m2").value(), 1000.0},
      {*find_format("int4").value(), 2.25},
      {*find_format("uint8").value(), 100.9},
  };
  constexpr int kN = 200000;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.f.name);
    double sum = 0;
    int differs = 0;
    const uint32_t down = encode(c.f, c.x, kRtzSat);
    const double lo = decode(c.f, down);
    double hi = lo;
    for (int i = 0; i < kN; ++i) {
      const uint32_t code = encode(c.f, c.x, a, i);
      ASSERT_EQ(code, encode(c.f, c.x, a, i));  // same seed and index: same answer
      differs += code != encode(c.f, c.x, b, i);
      const double v = decode(c.f, code);
      ASSERT_TRUE(v == lo || std::fabs(v) > std::fabs(lo)) << v;  // one of the two neighbours
      if (v != lo) hi = v;
      sum += v;
    }
    EXPECT_GT(differs, kN / 10);
    // Mean within 5 standard errors of x: p = (x - lo)/(hi - lo) of draws go up.
    const double p = (c.x - lo) / (hi - lo);
    const double se = std::fabs(hi - lo) * std::sqrt(p * (1 - p) / kN);
    EXPECT_NEAR(sum / kN, c.x, 5 * se);
  }
}

TEST(Codec, IntegersTwoToEightBits) {
  for (int bits = 2; bits <= 8; ++bits) {
    for (bool is_signed : {true, false}) {
      const IntFormat f{bits, is_signed};
      SCOPED_TRACE(testing::Message() << bits << (is_signed ? " signed" : " unsigned"));
      const int64_t lo = is_signed ? -(int64_t{1} << (bits - 1)) : 0;
      const int64_t hi = is_signed ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
      EXPECT_EQ(f.min(), lo);
      EXPECT_EQ(f.max(), hi);
      for (int64_t v = lo; v <= hi; ++v) {
        const uint32_t code = static_cast<uint32_t>(v) & ((1u << bits) - 1u);  // two's complement
        EXPECT_EQ(encode(f, static_cast<double>(v)), code);
        EXPECT_EQ(decode(f, code), static_cast<double>(v));
        if (v < hi) {  // ties to even between v and v + 1
          const int64_t even = (v % 2 == 0) ? v : v + 1;
          const double tie = static_cast<double>(v) + 0.5;
          EXPECT_EQ(decode(f, encode(f, tie)), static_cast<double>(even));
          EXPECT_EQ(decode(f, encode(f, tie, kRtzSat)), static_cast<double>(v >= 0 ? v : v + 1));
        }
      }
      EXPECT_EQ(decode(f, encode(f, static_cast<double>(hi) + 0.7)), static_cast<double>(hi));
      EXPECT_EQ(decode(f, encode(f, 1e9)), static_cast<double>(hi));
      EXPECT_EQ(decode(f, encode(f, -1e9)), static_cast<double>(lo));
      EXPECT_EQ(decode(f, encode(f, INFINITY)), static_cast<double>(hi));
      EXPECT_EQ(decode(f, encode(f, -INFINITY)), static_cast<double>(lo));
      EXPECT_EQ(encode(f, NAN), 0u);
    }
  }
  EXPECT_EQ(decode(IntFormat{4, true}, encode(IntFormat{4, true}, -2.5)), -2.0);
  EXPECT_EQ(decode(IntFormat{4, true}, encode(IntFormat{4, true}, -3.5)), -4.0);
}

TEST(Codec, FindFormatAcceptsNamesAndAliases) {
  const char* names[] = {"float32", "fp32", "fp16", "bf16", "e4m3", "e5m2", "e3m2", "e2m3",
                         "e2m1", "fp4", "e8m0", "FLOAT8_E4M3FN", "int4", "uint2"};
  for (const char* n : names) EXPECT_TRUE(find_format(n).ok()) << n;
  EXPECT_EQ(find_format("fp4").value()->name, "float4_e2m1fn");
  const auto bad = find_format("float7");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("float7"), std::string::npos);
}

TEST(Codec, PropertiesFieldsProbeAndNumberParsing) {
  const FormatProperties e4m3 = properties(*find_format("e4m3").value());
  EXPECT_EQ(e4m3.bits, 8);
  EXPECT_EQ(e4m3.max, 448.0);
  EXPECT_EQ(e4m3.finite_values, 253u);
  EXPECT_FALSE(e4m3.has_inf);
  const FormatProperties int4 = properties(*find_format("int4").value());
  EXPECT_EQ(int4.max, 7.0);
  EXPECT_EQ(int4.mantissa_bits, 3);
  EXPECT_EQ(int4.finite_values, 16u);
  // 0b1'1110'110 = -448 in e4m3: sign 1, exponent 15, mantissa 6.
  const CodeFields c = split_code(*find_format("e4m3").value(), 0xFEu);
  EXPECT_EQ(c.sign, 1u);
  EXPECT_EQ(c.exponent, 15u);
  EXPECT_EQ(c.mantissa, 6u);
  const CodeFields e8 = split_code(*find_format("e8m0").value(), 0x81u);
  EXPECT_EQ(e8.sign, 0u);
  EXPECT_EQ(e8.exponent, 0x81u);
  const Probe p = probe(*find_format("e4m3").value(), 3.141592653589793);
  EXPECT_EQ(p.code, 0x45u);
  EXPECT_EQ(p.value, 3.25);
  EXPECT_DOUBLE_EQ(p.rel_error, (3.25 - 3.141592653589793) / 3.141592653589793);
  EXPECT_EQ(probe(*find_format("fp16").value(), INFINITY, kRneIeee).rel_error, 0.0);
  EXPECT_TRUE(std::isnan(probe(*find_format("fp16").value(), NAN).abs_error));
  EXPECT_EQ(probe(*find_format("fp4").value(), 0.0).rel_error, 0.0);
  EXPECT_EQ(parse_number("-0x1.8p1").value(), -3.0);
  EXPECT_EQ(parse_number("1e-3").value(), 1e-3);
  EXPECT_EQ(parse_number("-inf").value(), -INFINITY);
  EXPECT_EQ(parse_number("INF").value(), INFINITY);
  EXPECT_TRUE(std::isnan(parse_number("nan").value()));
  for (const char* bad : {"", "abc", "1.5x", " 1", "1 ", "--1", "0x"}) {
    const auto r = parse_number(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

}  // namespace
}  // namespace bitsmith::formats
