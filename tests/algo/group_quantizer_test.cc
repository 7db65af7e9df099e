// GroupQuantizer (quant/group_quantizer.h) against the scheme's own quantizer: choosing every
// group's parameters from the weights and quantizing every column from the same weights is RTN,
// so the packed bytes must equal Scheme::quantize's (scaled schemes: byte for byte; GGUF types:
// identical except at exact rounding ties, which random normal weights essentially never hit).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "bitsmith/quant/group_quantizer.h"

namespace bitsmith::quant {
namespace {

std::vector<float> random_weights(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& v : w) v = nd(rng);
  w[7] = 0.11f;  // an outlier, so scales differ between groups
  return w;
}

// Every group's parameters chosen from `w`, then every column quantized from `w`: RTN.
void quantize_all(GroupQuantizer& gq, const std::vector<float>& w) {
  const int64_t rows = gq.rows(), cols = gq.cols(), g = gq.group_cols();
  std::vector<float> block(static_cast<size_t>(rows * g)), col(static_cast<size_t>(rows));
  for (int64_t gi = 0; gi < cols / g; ++gi) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < g; ++j) block[static_cast<size_t>(r * g + j)] = w[static_cast<size_t>(r * cols + gi * g + j)];
    }
    EXPECT_TRUE(gq.choose_params(gi, block.data(), nullptr).ok());
  }
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t r = 0; r < rows; ++r) col[static_cast<size_t>(r)] = w[static_cast<size_t>(r * cols + c)];
    gq.quantize_column(c, col.data(), col.data());
  }
}

// RTN through the GroupQuantizer, column by column, groups chosen from `w`.
QuantizedTensor rtn_via_groups(const Scheme& s, const std::vector<float>& w, int64_t rows,
                               int64_t cols) {
  auto gq = make_group_quantizer(s, w.data(), rows, cols);
  EXPECT_TRUE(gq.ok()) << gq.status().message();
  quantize_all(**gq, w);
  auto q = (*gq)->finish();
  EXPECT_TRUE(q.ok());
  return std::move(*q);
}

class GroupQuantizerRtn : public ::testing::TestWithParam<std::string> {};

TEST_P(GroupQuantizerRtn, SameBytesAsScheme) {
  auto s = find_scheme(GetParam());
  ASSERT_TRUE(s.ok());
  const int64_t rows = 24, cols = 512;
  auto w = random_weights(rows * cols, 7);
  auto want = (*s)->quantize(w.data(), rows, cols);
  ASSERT_TRUE(want.ok());
  QuantizedTensor got = rtn_via_groups(**s, w, rows, cols);
  ASSERT_EQ(got.data.size(), want->data.size());
  EXPECT_EQ(got.scales, want->scales);
  EXPECT_EQ(got.zeros, want->zeros);
  EXPECT_EQ(got.tensor_scale, want->tensor_scale);
  std::vector<float> a(static_cast<size_t>(rows * cols)), b(a.size());
  ASSERT_TRUE((*s)->dequantize(got.view(), a.data()).ok());
  ASSERT_TRUE((*s)->dequantize(want->view(), b.data()).ok());
  int64_t diff = 0, worse = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += a[i] != b[i];
    worse += std::fabs(w[i] - a[i]) > std::fabs(w[i] - b[i]);
  }
  if ((*s)->traits().granularity == Granularity::kGguf) {
    // ggml's legacy encoders round x / d with the unrounded d and store fp16(d), so they do not
    // always pick the nearest value of the stored grid; this quantizer does. Same parameters,
    // never a worse element, and the two agree almost everywhere.
    EXPECT_EQ(worse, 0);
    EXPECT_LE(diff, rows * cols / 100) << "values differing from the scheme's RTN";
  } else {
    EXPECT_EQ(got.data, want->data);
  }
}

INSTANTIATE_TEST_SUITE_P(Schemes, GroupQuantizerRtn,
                         ::testing::Values("int4_g128", "int4_g128_sym", "int3_g32", "int4_g64",
                                           "int8", "int4_grow", "fp8_e4m3", "fp8_e4m3_channel", "fp8_e4m3_block128", "nvfp4", "mxfp4",
                                           "mxfp6_e3m2", "mxfp8_e4m3", "q4_0", "q4_1", "q5_0",
                                           "q5_1", "q8_0", "iq4_nl", "q2_k", "q3_k", "q4_k",
                                           "q5_k", "q6_k"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// Schemes whose values are d * g(code) + m: what linear_basis reports is what the packed bytes
// dequantize to, and set_linear_params stores (fp16-rounded) parameters the bytes then carry.
class GroupQuantizerLinear : public ::testing::TestWithParam<std::string> {};

TEST_P(GroupQuantizerLinear, BasisAndParametersAreWhatTheBytesDequantizeTo) {
  auto s = find_scheme(GetParam());
  ASSERT_TRUE(s.ok());
  const int64_t rows = 6, cols = 128;
  auto w = random_weights(rows * cols, 11);
  auto gq = make_group_quantizer(**s, w.data(), rows, cols);
  ASSERT_TRUE(gq.ok());
  const int64_t g = (*gq)->group_cols(), groups = cols / g;
  const bool offset = GetParam() == "q4_1" || GetParam() == "q5_1";
  EXPECT_EQ((*gq)->linear_params(), offset ? 2 : 1);
  quantize_all(**gq, w);
  std::vector<float> basis(static_cast<size_t>(rows * cols)), d(static_cast<size_t>(rows * groups)),
      m(static_cast<size_t>(rows * groups)), deq(static_cast<size_t>(rows * cols));
  auto expect_values = [&](const char* when) {
    ASSERT_TRUE((*gq)->linear_basis(basis.data(), d.data(), m.data()).ok());
    auto q = (*gq)->finish();
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE((*s)->dequantize(q->view(), deq.data()).ok());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const size_t i = static_cast<size_t>(r * cols + c), b = static_cast<size_t>(r * groups + c / g);
        EXPECT_FLOAT_EQ(deq[i], d[b] * basis[i] + m[b]) << when << " row " << r << " col " << c;
        if (!offset) EXPECT_EQ(m[b], 0.0f);
      }
    }
  };
  expect_values("as chosen");
  // New parameters: stored as fp16, and reported back as stored.
  std::vector<float> nd(d.size()), nm(m.size());
  for (size_t i = 0; i < d.size(); ++i) {
    nd[i] = d[i] * 1.0371f + 1e-5f;
    nm[i] = offset ? m[i] - 0.0031f : 0.0f;
  }
  std::vector<float> stored_d = nd, stored_m = nm;
  ASSERT_TRUE((*gq)->set_linear_params(stored_d.data(), stored_m.data()).ok());
  for (size_t i = 0; i < d.size(); ++i) {
    EXPECT_NEAR(stored_d[i], nd[i], std::abs(nd[i]) * 1e-3f) << i;  // fp16: 11 significant bits
    if (offset) EXPECT_NEAR(stored_m[i], nm[i], std::abs(nm[i]) * 1e-3f) << i;
  }
  expect_values("refit");
  EXPECT_EQ(d, stored_d);
  EXPECT_EQ(m, stored_m);
}

INSTANTIATE_TEST_SUITE_P(GgufLinearTypes, GroupQuantizerLinear,
                         ::testing::Values("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "iq4_nl"));

TEST(GroupQuantizer, OtherSchemesHaveNoLinearParameters) {
  for (const char* name : {"q4_k", "q6_k", "mxfp4", "int4_g32", "nvfp4"}) {
    auto s = find_scheme(name);
    ASSERT_TRUE(s.ok()) << name;
    const int64_t rows = 2, cols = 256;
    auto w = random_weights(rows * cols, 3);
    auto gq = make_group_quantizer(**s, w.data(), rows, cols);
    ASSERT_TRUE(gq.ok()) << name;
    EXPECT_EQ((*gq)->linear_params(), 0) << name;
    std::vector<float> a(static_cast<size_t>(rows * cols)), b(a.size()), c(a.size());
    EXPECT_FALSE((*gq)->linear_basis(a.data(), b.data(), c.data()).ok()) << name;
    EXPECT_FALSE((*gq)->set_linear_params(b.data(), c.data()).ok()) << name;
  }
}

TEST(GroupQuantizer, CastSchemesAreRejected) {
  auto s = find_scheme("fp16");
  ASSERT_TRUE(s.ok());
  std::vector<float> w(64, 1.0f);
  EXPECT_FALSE(has_group_quantizer(**s));
  EXPECT_FALSE(make_group_quantizer(**s, w.data(), 2, 32).ok());
}

TEST(GroupQuantizer, NonFiniteWeightIsAnError) {
  auto s = find_scheme("int4_g32");
  ASSERT_TRUE(s.ok());
  std::vector<float> w(64, 1.0f);
  w[40] = NAN;
  auto r = make_group_quantizer(**s, w.data(), 2, 32);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[1, 8]"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace bitsmith::quant
