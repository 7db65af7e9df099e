// Error metrics against hand-computed values.
#include "bitsmith/quant/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace bitsmith::quant {
namespace {

TEST(Metrics, HandComputed) {
  const float x[] = {1, -2, 3, 4};
  const float y[] = {1, -1, 3, 2};  // errors 0, 1, 0, -2
  const auto m = compute_error_metrics(x, y, 4);
  EXPECT_DOUBLE_EQ(m.mse, 5.0 / 4);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(5.0 / 4));
  EXPECT_DOUBLE_EQ(m.mean_abs_error, 3.0 / 4);
  EXPECT_DOUBLE_EQ(m.max_abs_error, 2.0);
  EXPECT_DOUBLE_EQ(m.snr_db, 10 * std::log10(30.0 / 5.0));  // signal 1+4+9+16 = 30
  EXPECT_DOUBLE_EQ(m.cosine, (1 + 2 + 9 + 8) / (std::sqrt(30.0) * std::sqrt(15.0)));
}

TEST(Metrics, EdgeCases) {
  const float z[] = {0, 0}, one[] = {1, 1}, nan2[] = {NAN, 1};
  auto same = compute_error_metrics(one, one, 2);
  EXPECT_TRUE(std::isinf(same.snr_db) && same.snr_db > 0);
  EXPECT_DOUBLE_EQ(same.cosine, 1.0);
  EXPECT_DOUBLE_EQ(compute_error_metrics(z, z, 2).cosine, 1.0);
  auto from_zero = compute_error_metrics(z, one, 2);
  EXPECT_TRUE(std::isinf(from_zero.snr_db) && from_zero.snr_db < 0);
  EXPECT_DOUBLE_EQ(from_zero.cosine, 0.0);
  EXPECT_TRUE(std::isnan(compute_error_metrics(one, nan2, 2).max_abs_error));
}

TEST(Metrics, Histogram) {
  const float x[] = {0, 0, 0, 0, 0};
  const float y[] = {-1, -0.5f, 0, 0.5f, 1};
  const auto h = error_histogram(x, y, 5, 4);
  EXPECT_DOUBLE_EQ(h.lo, -1);
  EXPECT_DOUBLE_EQ(h.hi, 1);
  EXPECT_EQ(h.counts, (std::vector<uint64_t>{1, 1, 1, 2}));  // 1.0 lands in the last bin
}

TEST(Metrics, AbsoluteHistogramFoldsTheSign) {
  const float x[] = {0, 0, 0, 0, 0, 1};
  const float y[] = {-1, -0.5f, 0, 0.5f, 1, 1.25f};
  const auto h = abs_error_histogram(x, y, 6, 4);
  EXPECT_DOUBLE_EQ(h.lo, 0);
  EXPECT_DOUBLE_EQ(h.hi, 1);
  // bins of 0.25: |0| -> 0, 0.25 -> 1, |+-0.5| -> 2, |+-1| -> 3 (the maximum lands in the last bin)
  EXPECT_EQ(h.counts, (std::vector<uint64_t>{1, 1, 2, 2}));
}

TEST(Synthetic, DeterministicAndShaped) {
  auto a = *synthetic_weights("normal", 100000, 42), b = *synthetic_weights("normal", 100000, 42);
  EXPECT_EQ(a, b);
  for (const char* d : {"normal", "laplace", "student_t", "uniform"}) {
    auto v = *synthetic_weights(d, 200000, 1);
    double s = 0, s2 = 0, s4 = 0;
    for (float f : v) {
      s += f;
      s2 += double(f) * f;
      s4 += std::pow(double(f), 4);
    }
    const double n = double(v.size()), var = s2 / n, kurt = s4 / n / (var * var);
    EXPECT_NEAR(s / n, 0.0, 0.02) << d;
    if (std::string(d) == "uniform") {
      EXPECT_NEAR(var, 1.0 / 3, 0.01);
      EXPECT_NEAR(kurt, 1.8, 0.05);
    } else if (std::string(d) == "normal") {
      EXPECT_NEAR(var, 1.0, 0.02);
      EXPECT_NEAR(kurt, 3.0, 0.1);
    } else if (std::string(d) == "laplace") {
      EXPECT_NEAR(var, 1.0, 0.03);
      EXPECT_NEAR(kurt, 6.0, 0.4);
    } else {
      EXPECT_GT(kurt, 6.0);  // t with 4 dof: heavier tails than Laplace
    }
  }
  EXPECT_FALSE(synthetic_weights("cauchy", 10, 1).ok());
}

}  // namespace
}  // namespace bitsmith::quant
