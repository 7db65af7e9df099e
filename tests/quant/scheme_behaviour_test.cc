// Bad and awkward input for every scheme of this module: non-finite values (error naming row
// and column, or the allow_nonfinite policy), rows that do not fit the block, all-zero and
// denormal data, importance weights, and the registry's traits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "bitsmith/quant/metrics.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {
namespace {

std::vector<const Scheme*> own_listed() {
  std::vector<const Scheme*> out;
  for (const Scheme* s : listed_schemes()) {
    if (s->traits().granularity != Granularity::kGguf) out.push_back(s);
  }
  return out;
}

std::vector<float> normal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = nd(rng);
  return v;
}

TEST(SchemeInput, NonFiniteNamesRowAndColumn) {
  const int64_t rows = 4, cols = 256;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    auto x = normal(rows * cols, 1);
    x[2 * cols + 37] = bad;
    x[3 * cols + 5] = bad;  // a later one must not be the one reported
    for (const Scheme* s : own_listed()) {
      SCOPED_TRACE(s->name());
      auto q = s->quantize(x.data(), rows, cols);
      ASSERT_FALSE(q.ok());
      EXPECT_EQ(q.status().code(), StatusCode::kOutOfRange);
      EXPECT_NE(q.status().message().find("row 2, column 37"), std::string::npos)
          << q.status().message();
    }
  }
}

TEST(SchemeInput, AllowNonfiniteMapsToZeroAndFiniteMax) {
  const int64_t rows = 2, cols = 256;
  auto x = normal(rows * cols, 2);
  float finite_max = 0;
  for (float v : x) finite_max = std::max(finite_max, std::fabs(v));
  auto y = x;
  y[3] = NAN;
  y[300] = INFINITY;
  y[301] = -INFINITY;
  auto want = x;
  want[3] = 0;
  want[300] = finite_max;
  want[301] = -finite_max;
  QuantizeOptions opt;
  opt.allow_nonfinite = true;
  for (const Scheme* s : own_listed()) {
    SCOPED_TRACE(s->name());
    auto got = s->quantize(y.data(), rows, cols, opt);
    auto ref = s->quantize(want.data(), rows, cols);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_TRUE(ref.ok());
    EXPECT_EQ(got->data, ref->data);
    EXPECT_EQ(got->scales, ref->scales);
  }
}

TEST(SchemeInput, RowLengthNotAMultipleOfTheBlock) {
  auto x = normal(100, 3);
  for (const char* n : {"nvfp4", "mxfp4", "mxint8", "int4_g128", "int3_g32_sym"}) {
    const Scheme* s = *find_scheme(n);
    auto q = s->quantize(x.data(), 1, 100);
    ASSERT_FALSE(q.ok()) << n;
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(q.status().message().find("row length 100 is not a multiple of the block size"),
              std::string::npos) << q.status().message();
  }
  // Row, tensor, 2-D tile and cast schemes take any row length (block128 has partial tiles).
  for (const char* n : {"int8", "fp8_e4m3", "fp8_e4m3_channel", "fp8_e4m3_block128", "fp16",
                        "int4_grow"}) {
    EXPECT_TRUE((*find_scheme(n))->quantize(x.data(), 1, 100).ok()) << n;
  }
}

TEST(SchemeInput, ZeroAndDenormalDataRoundTripToZerosWithoutNaN) {
  const int64_t rows = 3, cols = 256;
  std::vector<float> zeros(rows * cols, 0.0f);
  std::vector<float> denorm(rows * cols);
  for (size_t i = 0; i < denorm.size(); ++i) {
    denorm[i] = (i % 2 ? -1.0f : 1.0f) * 1e-42f * static_cast<float>(i % 17);
  }
  for (const Scheme* s : own_listed()) {
    SCOPED_TRACE(s->name());
    for (const auto* x : {&zeros, &denorm}) {
      auto q = s->quantize(x->data(), rows, cols);
      ASSERT_TRUE(q.ok()) << q.status().to_string();
      std::vector<float> y(x->size(), 1.0f);
      ASSERT_TRUE(s->dequantize(q->view(), y.data()).ok());
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_FALSE(std::isnan(y[i])) << i;
        // Values of 1e-42 are below every element grid except the plain casts' and f32.
        if (x == &zeros) ASSERT_EQ(y[i], 0.0f) << i;
        else ASSERT_LE(std::fabs(y[i]), 1e-40f) << i;
      }
    }
  }
}

TEST(SchemeInput, ImportanceNeverIncreasesTheWeightedError) {
  const int64_t rows = 16, cols = 256;
  auto x = normal(rows * cols, 5);
  for (size_t i = 0; i < x.size(); i += 29) x[i] *= 6.0f;  // outliers that clipping can trade
  std::vector<float> w(cols);
  for (int64_t c = 0; c < cols; ++c) w[c] = c % 4 == 0 ? 10.0f : 0.1f;
  QuantizeOptions opt;
  opt.importance = w.data();
  auto weighted_error = [&](const Scheme* s, const QuantizeOptions& o) {
    auto q = s->quantize(x.data(), rows, cols, o);
    std::vector<float> y(x.size());
    EXPECT_TRUE(q.ok() && s->dequantize(q->view(), y.data()).ok());
    double e = 0;
    for (size_t i = 0; i < x.size(); ++i) e += w[i % cols] * std::pow(double(x[i]) - y[i], 2);
    return e;
  };
  int improved = 0;
  for (const char* n : {"int8", "int4_g128", "int4_g128_sym", "int3_g64", "int2_grow_sym"}) {
    const Scheme* s = *find_scheme(n);
    const double plain = weighted_error(s, {}), weighted = weighted_error(s, opt);
    EXPECT_LE(weighted, plain) << n;
    improved += weighted < plain;
  }
  EXPECT_GT(improved, 0);  // the search does something on data with outliers
  std::vector<float> bad(cols, 1.0f);
  bad[7] = -1.0f;
  opt.importance = bad.data();
  EXPECT_FALSE((*find_scheme("int4_g128"))->quantize(x.data(), rows, cols, opt).ok());
}

TEST(SchemeTraits, BitsPerWeightMatchBytes) {
  // Group/block schemes: traits bpw == the bits they really store (the per-tensor float32
  // aside), on a shape every scheme fits.
  const int64_t rows = 256, cols = 1024;
  auto x = normal(rows * cols, 6);
  for (const Scheme* s : own_listed()) {
    const auto g = s->traits().granularity;
    if (g != Granularity::kGroup && g != Granularity::kElement) continue;
    auto q = s->quantize(x.data(), rows, cols);
    ASSERT_TRUE(q.ok());
    EXPECT_DOUBLE_EQ(double(q->total_bytes()) * 8 / double(rows * cols), s->traits().bits_per_weight)
        << s->name();
  }
  EXPECT_DOUBLE_EQ((*find_scheme("nvfp4"))->traits().bits_per_weight, 4.5);
  EXPECT_DOUBLE_EQ((*find_scheme("mxfp6_e2m3"))->traits().bits_per_weight, 6.25);
  EXPECT_DOUBLE_EQ((*find_scheme("int4_g128"))->traits().bits_per_weight, 4.25);
  EXPECT_DOUBLE_EQ((*find_scheme("int3_g64_sym"))->traits().bits_per_weight, 3.25);
  EXPECT_FALSE(find_scheme("int9_g32").ok());
  EXPECT_FALSE(find_scheme("int4_g100").ok());
}

TEST(SchemeInput, CorruptViewIsAnError) {
  auto x = normal(4 * 64, 7);
  const Scheme* s = *find_scheme("nvfp4");
  auto q = s->quantize(x.data(), 4, 64);
  ASSERT_TRUE(q.ok());
  q->scales.pop_back();
  std::vector<float> y(x.size());
  EXPECT_EQ(s->dequantize(q->view(), y.data()).code(), StatusCode::kCorruptData);
  EXPECT_FALSE(s->dequantize_rows(q->view(), 3, 5, y.data()).ok());
}

// The packing of sub-byte codes, through the schemes that use it: a row of exact multiples of
// the scale (int<b>_grow_sym, s = amax / (2^(b-1) - 1)) has known codes, whose stored bytes must
// be the little-endian bit stream of scheme.h (code i in bits [i*b, (i+1)*b)), and which
// dequantize back exactly. Every width 2..8 and odd lengths (a partial last byte).
TEST(Pack, CodesAreALowBitsFirstStreamForEveryWidth) {
  std::mt19937 rng(8);
  for (int bits = 2; bits <= 8; ++bits) {
    const int qmax = (1 << (bits - 1)) - 1;
    const Scheme* s = *find_scheme("int" + std::to_string(bits) + "_grow_sym");
    for (int64_t n : {1, 7, 16, 33, 257}) {
      std::vector<int> q(static_cast<size_t>(n));
      for (auto& v : q) v = static_cast<int>(rng() % static_cast<unsigned>(2 * qmax + 1)) - qmax;
      q[0] = qmax;  // amax = qmax: the scale is exactly 1
      std::vector<float> x(q.begin(), q.end());
      auto r = s->quantize(x.data(), 1, n);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      std::vector<uint8_t> want(static_cast<size_t>((n * bits + 7) / 8), 0);
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t code = static_cast<uint32_t>(q[static_cast<size_t>(i)]) & ((1u << bits) - 1u);
        for (int k = 0; k < bits; ++k) {
          const int64_t bit = i * bits + k;
          if ((code >> k) & 1u) want[static_cast<size_t>(bit / 8)] |= static_cast<uint8_t>(1u << (bit % 8));
        }
      }
      EXPECT_EQ(r->data, want) << bits << " bits, " << n << " codes";
      std::vector<float> y(x.size());
      ASSERT_TRUE(s->dequantize(r->view(), y.data()).ok());
      EXPECT_EQ(y, x) << bits << " bits, " << n << " codes";
    }
  }
  // Low bits first: 3-bit codes 1, 2, 3 -> bits 001 010 011 -> 0b011010001 -> 0xD1 0x00.
  const float x3[] = {1, 2, 3};
  auto r3 = (*find_scheme("int3_grow_sym"))->quantize(x3, 1, 3);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->data, (std::vector<uint8_t>{0xD1, 0x00}));
}

}  // namespace
}  // namespace bitsmith::quant
