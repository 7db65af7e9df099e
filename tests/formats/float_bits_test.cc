// formats/float_bits.h against the generic codec: the branch-free encoder on every midpoint of
// every small float format, binary16 both ways on every code and midpoint (both overflow modes).
#include "bitsmith/formats/float_bits.h"

#include <gtest/gtest.h>

#include <cmath>
#include <type_traits>

#include "bitsmith/formats/codec.h"

namespace bitsmith::formats {
namespace {

TEST(FloatBits, FastEncoderMatchesTheCodecOnEveryMidpoint) {
  // Every pair of adjacent positive codes, their midpoint and its float neighbours.
  auto check = [](auto fmt_tag, const FloatFormat& f) {
    constexpr FloatFormat F = decltype(fmt_tag)::value;
    const uint32_t n = 1u << (f.bits() - 1);
    for (uint32_t c = 0; c + 1 < n; ++c) {
      const double a = decode(f, c), b = decode(f, c + 1);
      if (std::isnan(a) || std::isnan(b) || std::isinf(b)) continue;
      const float mid = static_cast<float>((a + b) / 2);
      for (float v : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f), -mid,
                      static_cast<float>(a), static_cast<float>(b) * 1.5f}) {
        ASSERT_EQ(fast_encode_float<F>(v), encode(f, v)) << v;
      }
    }
  };
  check(std::integral_constant<FloatFormat, kFloat8E4M3FN>{}, kFloat8E4M3FN);
  check(std::integral_constant<FloatFormat, kFloat8E5M2>{}, kFloat8E5M2);
  check(std::integral_constant<FloatFormat, kFloat6E3M2FN>{}, kFloat6E3M2FN);
  check(std::integral_constant<FloatFormat, kFloat6E2M3FN>{}, kFloat6E2M3FN);
  check(std::integral_constant<FloatFormat, kFloat4E2M1FN>{}, kFloat4E2M1FN);
  check(std::integral_constant<FloatFormat, kFloat16>{}, kFloat16);
}

TEST(FloatBits, Fp16ConversionMatchesTheCodecOnEveryCodeAndMidpoint) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const double v = decode(kFloat16, h);
    if (std::isnan(v)) continue;
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    ASSERT_EQ(static_cast<double>(f), v) << h;
    ASSERT_EQ(fp32_to_fp16(f), h) << h;
    if ((h & 0x7fffu) < 0x7bffu) {  // midpoint to the next code up in magnitude: RNE
      const double next = decode(kFloat16, h + 1);
      const float mid = static_cast<float>((v + next) / 2);
      ASSERT_EQ(fp32_to_fp16(mid), encode(kFloat16, mid,
                                                         {Rounding::kRne,
                                                          Overflow::kIeee})) << h;
    }
  }
  EXPECT_EQ(fp32_to_fp16(65520.f), 0x7c00u);  // 65504 + half ulp rounds to Inf
  EXPECT_EQ(fp32_to_fp16(65519.f), 0x7bffu);
}

TEST(FloatBits, Fp16SaturatingClampsAtMaxFinite) {
  EXPECT_EQ(fp32_to_fp16<Overflow::kSaturate>(1e6f), 0x7bffu);
  EXPECT_EQ(fp32_to_fp16<Overflow::kSaturate>(-65520.f), 0xfbffu);
  for (float v : {0.f, 1.f, -2.5f, 65504.f, 6e-8f, 1e-9f, 3.14159f}) {
    EXPECT_EQ(fp32_to_fp16<Overflow::kSaturate>(v), encode(kFloat16, v)) << v;
  }
}

TEST(FloatBits, RoundHalfEvenSmall) {
  EXPECT_EQ(round_half_even_small(2.5f), 2.0f);
  EXPECT_EQ(round_half_even_small(3.5f), 4.0f);
  EXPECT_EQ(round_half_even_small(-0.5f), 0.0f);
  EXPECT_EQ(round_half_even_small(4194303.5f), 4194304.0f);  // 2^22 - 0.5
}

}  // namespace
}  // namespace bitsmith::formats
