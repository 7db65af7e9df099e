// The fast (vectorized, threaded) path of every scheme of this module must produce the same
// bytes as its scalar _ref path (DESIGN.md convention 4), on data built to hit the rounding
// corners: exact ties of every element grid, denormals, zero blocks, saturating values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "../../src/quant/float_schemes.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {
namespace {

std::vector<const Scheme*> own_schemes() {
  std::vector<const Scheme*> out;
  for (const Scheme* s : listed_schemes()) {
    if (s->traits().granularity != Granularity::kGguf) out.push_back(s);
  }
  for (const char* n : {"int2_g16", "int3_g32_sym", "int5_g64", "int6_grow", "int7_g256_sym",
                        "int8_g32", "int3_grow_sym"}) {
    out.push_back(*find_scheme(n));
  }
  return out;
}

// Mixed data: Gaussian rows at very different magnitudes, rows of exact grid ties (k/4 of a
// power of two hits e2m1/e4m3 midpoints once scaled), denormal rows, zero blocks, big values.
std::vector<float> corner_data(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> small(-64, 64);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * cols;
    const int kind = static_cast<int>(r % 6);
    const float mag = std::ldexp(1.0f, static_cast<int>(r % 40) - 20);
    for (int64_t c = 0; c < cols; ++c) {
      switch (kind) {
        case 0: row[c] = nd(rng) * mag; break;
        case 1: row[c] = static_cast<float>(small(rng)) * 0.125f * mag; break;  // ties
        case 2: row[c] = nd(rng) * 1e-40f; break;                               // denormals
        case 3: row[c] = (c / 16) % 2 ? 0.0f : nd(rng); break;                  // zero blocks
        case 4: row[c] = nd(rng) * 3e4f; break;                                 // large
        default: row[c] = static_cast<float>(small(rng)) * mag * 0.1f; break;
      }
    }
  }
  return x;
}

TEST(SchemeFastRef, BytesIdenticalForEveryScheme) {
  const int64_t rows = 300, cols = 512;  // 3 tiles of 128 rows (one partial) for block128
  const auto x = corner_data(rows, cols, 7);
  for (const Scheme* s : own_schemes()) {
    SCOPED_TRACE(s->name());
    auto fast = s->quantize(x.data(), rows, cols);
    auto ref = detail::quantize_reference(*s, x.data(), rows, cols);
    ASSERT_TRUE(fast.ok()) << fast.status().to_string();
    ASSERT_TRUE(ref.ok()) << ref.status().to_string();
    EXPECT_EQ(fast->data, ref->data);
    EXPECT_EQ(fast->scales, ref->scales);
    EXPECT_EQ(fast->zeros, ref->zeros);
    EXPECT_EQ(fast->tensor_scale, ref->tensor_scale);
    EXPECT_EQ(fast->data.size(), s->data_bytes(rows, cols));
    EXPECT_EQ(fast->scales.size(), s->scale_bytes(rows, cols));
    EXPECT_EQ(fast->zeros.size(), s->zero_bytes(rows, cols));
    std::vector<float> y(x.size());
    ASSERT_TRUE(s->dequantize(fast->view(), y.data()).ok());
    for (float v : y) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(SchemeFastRef, ImportanceSearchSameBytes) {
  const int64_t rows = 64, cols = 256;
  const auto x = corner_data(rows, cols, 11);
  std::vector<float> w(cols);
  for (int64_t c = 0; c < cols; ++c) w[c] = 0.1f + static_cast<float>(c % 7);
  QuantizeOptions opt;
  opt.importance = w.data();
  for (const char* n : {"int8", "int4_g128", "int4_g128_sym", "int3_g32", "int2_grow_sym"}) {
    SCOPED_TRACE(n);
    const Scheme* s = *find_scheme(n);
    auto fast = s->quantize(x.data(), rows, cols, opt);
    auto ref = detail::quantize_reference(*s, x.data(), rows, cols, opt);
    ASSERT_TRUE(fast.ok() && ref.ok());
    EXPECT_EQ(fast->data, ref->data);
    EXPECT_EQ(fast->scales, ref->scales);
    EXPECT_EQ(fast->zeros, ref->zeros);
  }
}

}  // namespace
}  // namespace bitsmith::quant
