#include <gtest/gtest.h>

#include <cmath>

#include "bitsmith/formats/codec.h"

namespace bitsmith::formats {
namespace {

TEST(CodecSmoke, KnownValues) {
  EXPECT_EQ(max_finite(kFloat8E4M3FN), 448.0);
  EXPECT_EQ(max_finite(kFloat8E5M2), 57344.0);
  EXPECT_EQ(max_finite(kFloat16), 65504.0);
  EXPECT_EQ(max_finite(kFloat6E3M2FN), 28.0);
  EXPECT_EQ(max_finite(kFloat6E2M3FN), 7.5);
  EXPECT_EQ(max_finite(kFloat4E2M1FN), 6.0);
  EXPECT_EQ(max_finite(kFloat8E8M0FNU), std::ldexp(1.0, 127));
  EXPECT_EQ(encode(kFloat16, 1.0), 0x3C00u);
  EXPECT_EQ(encode(kBFloat16, 3.141592653589793), 0x4049u);
  EXPECT_EQ(encode(kFloat8E4M3FN, 464.0, {Rounding::kRne, Overflow::kIeee}), 0x7Eu);
  EXPECT_TRUE(is_nan_code(kFloat8E4M3FN, encode(kFloat8E4M3FN, 465.0, {Rounding::kRne, Overflow::kIeee})));
  EXPECT_EQ(encode(kFloat8E4M3FN, 465.0, {Rounding::kRne, Overflow::kSaturate}), 0x7Eu);
  EXPECT_EQ(encode(kFloat16, 65520.0, {Rounding::kRne, Overflow::kIeee}), 0x7C00u);
  // E2M1 midpoints from REFERENCE.md: 0.25->0, 0.75->1, 1.25->1, 1.75->2, 2.5->2, 3.5->4, 5->4
  const double mids[] = {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0};
  const double want[] = {0, 1, 1, 2, 2, 4, 4};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(decode(kFloat4E2M1FN, encode(kFloat4E2M1FN, mids[i])), want[i]);
}

}  // namespace
}  // namespace bitsmith::formats
