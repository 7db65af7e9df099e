// Each training recipe's cast equals bitsmith's own formats/quant casts bit for bit (the recipes
// simulate exactly what `cast` and `quantize` produce), and the recipe machinery (delayed
// scaling's history and margin, stochastic rounding, the Hadamard transform) does what the
// published recipes say.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "bitsmith/formats/convert.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/train/casts.h"
#include "bitsmith/train/precision.h"

namespace bitsmith::train {
namespace {

std::vector<float> loud(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = scale * nd(rng) * (rng() % 13 == 0 ? 30.0f : 1.0f);  // a few outliers
  v[3] = 0.0f;
  v[5] = 1e-30f * scale;  // underflows everywhere
  return v;
}

void expect_bits_equal(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    ASSERT_EQ(x, y) << what << " element " << i << ": " << a[i] << " vs " << b[i];
  }
}

std::vector<float> transposed(std::vector<float> v, int64_t rows, int64_t cols) {
  transpose(v.data(), rows, cols);
  return v;
}

const LinearId kQ{0, "blk.0.attn_q.weight"};

std::vector<float> recipe_cast(PrecisionRecipe& r, Operand op, std::vector<float> v, int64_t rows, int64_t cols,
                               const LinearId& id = kQ) {
  EXPECT_TRUE(r.cast(id, op, v.data(), rows, cols, false).ok());
  return v;
}

TEST(Recipes, Bf16IsFormatsBf16) {
  auto r = make_recipe("bf16", {}, 4);
  ASSERT_TRUE(r.ok());
  const auto x = loud(96 * 64, 1);
  std::vector<uint16_t> codes(x.size());
  std::vector<float> want(x.size());
  formats::f32_to_bf16(x, codes);
  formats::bf16_to_f32(codes, want);
  expect_bits_equal(recipe_cast(**r, Operand::kForwardInput, x, 96, 64), want, "bf16");
}

TEST(Recipes, Fp8CurrentIsE4M3ForwardAndE5M2BackwardOfTheTensorScale) {
  auto r = make_recipe("fp8-current", {}, 4);
  ASSERT_TRUE(r.ok());
  const auto x = loud(64 * 48, 2);
  for (Operand op : {Operand::kForwardInput, Operand::kWgradGrad}) {
    const bool grad = op == Operand::kWgradGrad;
    const float fmax = grad ? 57344.0f : 448.0f;
    const float s = amax_of(x.data(), static_cast<int64_t>(x.size())) / fmax;
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) {  // the scalar codec, element by element
      const auto& f = grad ? formats::kFloat8E5M2 : formats::kFloat8E4M3FN;
      want[i] = static_cast<float>(formats::decode(f, formats::encode(f, x[i] / s, {}, i))) * s;
    }
    expect_bits_equal(recipe_cast(**r, op, x, 64, 48), want, grad ? "e5m2" : "e4m3");
  }
}

TEST(Recipes, Mxfp8IsQuantsMxfp8AlongTheReductionDimension) {
  auto r = make_recipe("mxfp8", {}, 4);
  ASSERT_TRUE(r.ok());
  auto mx = quant::find_scheme("mxfp8_e4m3");
  ASSERT_TRUE(mx.ok());
  const int64_t rows = 64, cols = 96;
  const auto x = loud(rows * cols, 3);
  std::vector<float> want(x.size());
  ASSERT_TRUE((*mx)->fake_quantize(x.data(), rows, cols, want.data()).ok());
  expect_bits_equal(recipe_cast(**r, Operand::kForwardWeight, x, rows, cols), want, "mxfp8 rows");
  // The input gradient's weight operand: blocks down the columns = quant's cast of the transpose.
  auto t = transposed(x, rows, cols);
  std::vector<float> want_t(t.size());
  ASSERT_TRUE((*mx)->fake_quantize(t.data(), cols, rows, want_t.data()).ok());
  expect_bits_equal(recipe_cast(**r, Operand::kDgradWeight, x, rows, cols), transposed(want_t, cols, rows),
                    "mxfp8 columns");
  // A row length off the block (stories260K's ffn 172): padded with zeros = the padded cast.
  const auto odd = loud(8 * 40, 4);
  std::vector<float> padded(8 * 64, 0.0f), want_odd(8 * 64);
  for (int64_t i = 0; i < 8; ++i) std::copy_n(odd.data() + i * 40, 40, padded.data() + i * 64);
  ASSERT_TRUE((*mx)->fake_quantize(padded.data(), 8, 64, want_odd.data()).ok());
  const auto got = recipe_cast(**r, Operand::kForwardInput, odd, 8, 40);
  for (int64_t i = 0; i < 8; ++i) {
    for (int64_t j = 0; j < 40; ++j) ASSERT_EQ(got[static_cast<size_t>(i * 40 + j)], want_odd[static_cast<size_t>(i * 64 + j)]);
  }
}

TEST(Recipes, Nvfp4ForwardIsQuantsNvfp4AndGradientsRoundStochasticallyWithoutBias) {
  auto nv = quant::find_scheme("nvfp4");
  ASSERT_TRUE(nv.ok());
  const int64_t rows = 32, cols = 64;
  const auto x = loud(rows * cols, 5);
  std::vector<float> want(x.size());
  ASSERT_TRUE((*nv)->fake_quantize(x.data(), rows, cols, want.data()).ok());
  auto r = make_recipe("nvfp4", {}, 4);
  ASSERT_TRUE(r.ok());
  expect_bits_equal(recipe_cast(**r, Operand::kForwardInput, x, rows, cols), want, "nvfp4 forward");
  // cast_nvfp4 with rne is quant's nvfp4 too; stochastic rounding lands on one of the two codes
  // around x / d, and its mean over draws is closer to x than rne's error.
  auto rne = x;
  ASSERT_TRUE(cast_nvfp4(rne.data(), rows, cols, formats::Rounding::kRne, 0).ok());
  expect_bits_equal(rne, want, "cast_nvfp4 rne");
  std::vector<double> mean(x.size(), 0.0);
  const int draws = 200;
  for (int s = 0; s < draws; ++s) {
    auto v = x;
    ASSERT_TRUE(cast_nvfp4(v.data(), rows, cols, formats::Rounding::kStochastic, static_cast<uint64_t>(s)).ok());
    for (size_t i = 0; i < v.size(); ++i) mean[i] += v[i] / draws;
  }
  double err_sr = 0, err_rne = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err_sr += std::fabs(mean[i] - x[i]);
    err_rne += std::fabs(want[i] - x[i]);
  }
  EXPECT_LT(err_sr, 0.3 * err_rne);
  // The kept layers (the last keep_last) and the head are bf16.
  auto kept = recipe_cast(**r, Operand::kForwardInput, x, rows, cols, LinearId{3, "blk.3.attn_q.weight"});
  std::vector<uint16_t> codes(x.size());
  std::vector<float> bf(x.size());
  formats::f32_to_bf16(x, codes);
  formats::bf16_to_f32(codes, bf);
  expect_bits_equal(kept, bf, "nvfp4 kept layer");
}

TEST(Recipes, HadamardTransformCancelsInTheWeightGradient) {
  const int64_t n = 48, a = 5, b = 7;  // 3 groups of 16 token rows
  auto dy = loud(n * a, 6), x = loud(n * b, 7);
  auto dw = [&](const std::vector<float>& p, const std::vector<float>& q) {
    std::vector<double> out(static_cast<size_t>(a * b), 0.0);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < a; ++i)
        for (int64_t j = 0; j < b; ++j) out[static_cast<size_t>(i * b + j)] += double(p[t * a + i]) * q[t * b + j];
    return out;
  };
  const auto want = dw(dy, x);
  auto hy = dy, hx = x;
  random_hadamard_rows(hy.data(), n, a, 99);
  random_hadamard_rows(hx.data(), n, b, 99);
  EXPECT_NE(hy, dy);
  const auto got = dw(hy, hx);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4 * (1 + std::fabs(want[i])));
  // The transform spreads an outlier over its group: the group's amax falls.
  std::vector<float> spike(16 * 1, 0.0f);
  spike[4] = 16.0f;
  random_hadamard_rows(spike.data(), 16, 1, 3);
  EXPECT_FLOAT_EQ(amax_of(spike.data(), 16), 4.0f);
}

TEST(Recipes, DelayedScalingUsesTheAmaxHistoryWithItsMargin) {
  RecipeOptions o;
  o.amax_history = 2;
  o.margin = 1;
  auto r = make_recipe("fp8-delayed", o, 4);
  ASSERT_TRUE(r.ok());
  auto& rec = **r;
  const std::string key = "blk.0.attn_q.weight/fwd_input";
  std::vector<float> v{1.0f, -2.0f, 0.5f, 100.0f};
  rec.begin_step(0);
  (void)recipe_cast(rec, Operand::kForwardInput, v, 1, 4);  // step 0: scale 1 (no history yet)
  EXPECT_EQ(rec.stats().at(key).last_scale, 1.0f);
  rec.begin_step(1);  // history {100}: scale = 100 * 2 / 448
  std::vector<float> big{300.0f, 1.0f, 0.0f, 0.0f};
  (void)recipe_cast(rec, Operand::kForwardInput, big, 1, 4);
  EXPECT_FLOAT_EQ(rec.stats().at(key).last_scale, 200.0f / 448.0f);
  EXPECT_EQ(rec.stats().at(key).overflows, 1u);  // 300 / (200/448) = 672 >= 464: saturated to 448
  rec.begin_step(2);  // history {100, 300}
  EXPECT_FLOAT_EQ(rec.stats().at(key).amax_history.back(), 300.0f);
  std::vector<float> huge{1000.0f, 0, 0, 0};
  (void)recipe_cast(rec, Operand::kForwardInput, huge, 1, 4);  // scale 600/448: 1000 -> 746 > 464
  EXPECT_EQ(rec.stats().at(key).overflows, 2u);
  rec.begin_step(3);
  rec.begin_step(4);  // a step without casts leaves the history as it was
  EXPECT_EQ(rec.stats().at(key).amax_history.size(), 2u);  // H = 2: {300, 1000}
  EXPECT_FLOAT_EQ(rec.stats().at(key).amax_history.front(), 300.0f);
  // A recomputed forward and an evaluation record nothing.
  const auto casts = rec.stats().at(key).casts;
  std::vector<float> w{1, 2, 3, 4};
  ASSERT_TRUE(rec.cast(kQ, Operand::kForwardInput, w.data(), 1, 4, true).ok());
  rec.set_recording(false);
  ASSERT_TRUE(rec.cast(kQ, Operand::kForwardInput, w.data(), 1, 4, false).ok());
  EXPECT_EQ(rec.stats().at(key).casts, casts);
}

TEST(Recipes, UnknownNamesAreRefused) {
  auto r = make_recipe("fp6", {}, 4);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("fp8-delayed"), std::string::npos);
  auto fp32 = make_recipe("fp32", {}, 4);
  ASSERT_TRUE(fp32.ok());
  EXPECT_EQ(fp32->get(), nullptr);
}

}  // namespace
}  // namespace bitsmith::train
