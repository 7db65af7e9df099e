// GGUF block types (fast == reference bytes is checked for every scheme in
// scheme_table_test.cc): shapes and bad input are rejected with messages naming row and column, zero/denormal blocks decode to zeros,
// Agreement with ggml itself is tested in tests/gguf (oracle fixtures).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "bitsmith/formats/codec.h"
#include "bitsmith/quant/gguf_blocks.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {
namespace {

const char* kGgufNames[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0",   "q2_k",      "q3_k",
                            "q4_k", "q5_k", "q6_k", "iq4_nl", "gguf_mxfp4"};

TEST(GgufBlocks, TraitsMatchLayouts) {
  for (const char* name : kGgufNames) {
    auto s = find_scheme(name);
    ASSERT_TRUE(s.ok());
    const SchemeTraits& t = (*s)->traits();
    EXPECT_EQ(t.granularity, Granularity::kGguf);
    EXPECT_DOUBLE_EQ(t.bits_per_weight, 8.0 * static_cast<double>(t.bytes_per_block) /
                                            static_cast<double>(t.block_cols)) << name;
    auto by_type = find_scheme_by_gguf_type(t.gguf_type);
    ASSERT_TRUE(by_type.ok());
    EXPECT_EQ(*by_type, *s);
  }
  EXPECT_EQ((*find_scheme("q4_k"))->traits().gguf_type, 12);
  EXPECT_EQ((*find_scheme("q6_k"))->traits().bytes_per_block, 210u);
}

TEST(GgufBlocks, RejectsBadShapesAndNonFinite) {
  std::vector<float> x(2 * 512, 0.5f);
  auto q4k = *find_scheme("q4_k");
  Status st = q4k->check_shape(2, 300);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("300"), std::string::npos);
  EXPECT_NE(st.message().find("256"), std::string::npos);
  EXPECT_FALSE((*find_scheme("q4_0"))->quantize(x.data(), 1, 48).ok());
  x[512 + 77] = std::numeric_limits<float>::quiet_NaN();
  for (const char* name : kGgufNames) {
    auto r = (*find_scheme(name))->quantize(x.data(), 2, 512);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.status().message().find("row 1, column 77"), std::string::npos)
        << r.status().message();
    QuantizeOptions allow;
    allow.allow_nonfinite = true;
    EXPECT_TRUE((*find_scheme(name))->quantize(x.data(), 2, 512, allow).ok()) << name;
  }
  std::vector<float> huge(256, 1e30f);
  auto r = (*find_scheme("q8_0"))->quantize(huge.data(), 1, 256);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("row 0 block 0"), std::string::npos) << r.status().message();
}

TEST(GgufBlocks, ZeroAndDenormalBlocksDecodeToZero) {
  std::vector<float> x(512, 0.f);
  for (int i = 256; i < 512; ++i) x[i] = (i % 2 ? 1.f : -1.f) * 1e-42f;
  for (const char* name : kGgufNames) {
    auto s = *find_scheme(name);
    auto q = s->quantize(x.data(), 2, 256);
    ASSERT_TRUE(q.ok()) << name;
    std::vector<float> y(512, 1.f);
    ASSERT_TRUE(s->dequantize(q->view(), y.data()).ok());
    for (int i = 0; i < 512; ++i) {
      ASSERT_FALSE(std::isnan(y[i])) << name;
      ASSERT_LE(std::fabs(y[i]), 1e-30f) << name << " element " << i;
    }
  }
}

TEST(GgufBlocks, ErrorShrinksWithBits) {
  const int64_t rows = 16, cols = 1024;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(rows * cols), y(rows * cols);
  for (float& v : x) v = normal(rng);
  auto rmse = [&](const char* name) {
    auto s = *find_scheme(name);
    EXPECT_TRUE(s->fake_quantize(x.data(), rows, cols, y.data()).ok());
    double e = 0;
    for (size_t i = 0; i < x.size(); ++i) e += (x[i] - y[i]) * (x[i] - y[i]);
    return std::sqrt(e / static_cast<double>(x.size()));
  };
  // Published orders of magnitude for N(0,1): q8_0 ~0.004, q6_k ~0.02, q4 ~0.1, q2_k ~0.3.
  EXPECT_LT(rmse("q8_0"), rmse("q6_k"));
  EXPECT_LT(rmse("q6_k"), rmse("q5_k"));
  EXPECT_LT(rmse("q5_k"), rmse("q4_k"));
  EXPECT_LT(rmse("q4_k"), rmse("q3_k"));
  EXPECT_LT(rmse("q3_k"), rmse("q2_k"));
  EXPECT_LT(rmse("q2_k"), 0.5);
  EXPECT_LT(rmse("iq4_nl"), rmse("q4_0"));
}

}  // namespace
}  // namespace bitsmith::quant
