// The engine's exponential against a double-precision exp (the independent reference), and the
// dispatched row functions against scalar loops over the same exp.
#include "bitsmith/infer/vec_math.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace bitsmith::infer::detail {
namespace {

// Distance in units in the last place between a float result and the exact value, measured in
// the binade of the correctly rounded result (subnormals: in units of 2^-149).
double ulp_error(float got, double exact) {
  const auto rounded = static_cast<float>(exact);
  if (rounded == 0.0f || std::fpclassify(rounded) == FP_SUBNORMAL) {
    return std::fabs(static_cast<double>(got) - exact) / std::ldexp(1.0, -149);
  }
  int e = 0;
  std::frexp(rounded, &e);  // rounded = m * 2^e, m in [0.5, 1)
  return std::fabs(static_cast<double>(got) - exact) / std::ldexp(1.0, e - 24);
}

TEST(VecMath, ExpWithinOneUlpOverTheWholeRange) {
  // Every 31st float32 magnitude from 1e-9 to 104, both signs (about 20 million inputs: the
  // subnormal results below -87.34 and the largest finite results near 88.72 included).
  double worst = 0.0;
  float worst_x = 0.0f;
  int64_t checked = 0;
  auto check = [&](float x) {
    const double exact = std::exp(static_cast<double>(x));
    if (exact > std::numeric_limits<float>::max()) return;  // overflow: tested below
    const double err = ulp_error(exp_approx(x), exact);
    ++checked;
    if (err > worst) {
      worst = err;
      worst_x = x;
    }
  };
  for (uint32_t b = std::bit_cast<uint32_t>(1e-9f); b <= std::bit_cast<uint32_t>(104.0f); b += 31) {
    const float x = std::bit_cast<float>(b);
    check(x);
    check(-x);
  }
  EXPECT_GT(checked, 15'000'000);
  EXPECT_LT(worst, 1.0) << "at x = " << worst_x;  // faithfully rounded
}

TEST(VecMath, ExpSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
  EXPECT_EQ(exp_approx(-0.0f), 1.0f);
  EXPECT_EQ(exp_approx(-inf), 0.0f);
  EXPECT_EQ(exp_approx(-200.0f), 0.0f);
  EXPECT_EQ(exp_approx(inf), inf);
  EXPECT_EQ(exp_approx(89.0f), inf);    // e^89 = 4.5e38 > FLT_MAX
  EXPECT_EQ(exp_approx(1000.0f), inf);
  EXPECT_TRUE(std::isnan(exp_approx(std::numeric_limits<float>::quiet_NaN())));
  // The largest input with a finite result, ln(FLT_MAX) = 88.7228391, and the smallest with a
  // nonzero one, ln(2^-149) - a bit: both ends of the range land in the right class.
  EXPECT_TRUE(std::isfinite(exp_approx(88.72283f)));
  EXPECT_GT(exp_approx(-103.2789f), 0.0f);
}

std::vector<float> random_row(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(VecMath, ExpShiftedSumIsTheExpOfEachElementAndTheirSum) {
  for (const int64_t n : {0, 1, 15, 16, 17, 100, 1000, 4099}) {
    auto x = random_row(n, -30.0f, 5.0f, static_cast<uint32_t>(n) + 1);
    if (n > 3) x[3] = -std::numeric_limits<float>::infinity();  // a masked score
    const auto in = x;
    const float sum = exp_shifted_sum(x.data(), n, 5.0f);
    double ref = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(x[i], exp_approx(in[i] - 5.0f)) << "n " << n << " i " << i;
      ref += std::exp(static_cast<double>(in[i]) - 5.0);
    }
    EXPECT_NEAR(sum, ref, 1e-6 * std::max(1.0, ref)) << "n " << n;
  }
}

TEST(VecMath, SiluMulMatchesTheDefinition) {
  for (const int64_t n : {1, 7, 64, 1001}) {
    auto gate = random_row(n, -120.0f, 120.0f, 7);
    const auto up = random_row(n, -3.0f, 3.0f, 8);
    const auto g0 = gate;
    silu_mul_row(gate.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double g = g0[i];
      const double ref = g / (1.0 + std::exp(-g)) * up[i];
      EXPECT_NEAR(gate[i], ref, 1e-6 * std::max(1.0, std::fabs(ref))) << "g " << g;
      EXPECT_TRUE(std::isfinite(gate[i]));
    }
  }
}

}  // namespace
}  // namespace bitsmith::infer::detail
