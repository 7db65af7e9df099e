// GPTQ's group parameters by the importance-weighted search (GptqOptions::weighted_params), and
// GPTQ's output head (algo's gptq_head), each against an independent computation:
//  - with a diagonal Hessian GPTQ has no error to feed forward, so with weighted parameters it
//    must be the scheme's own importance-weighted rounding (imatrix) with H_ii as the weights,
//    and without them the scheme's plain rounding;
//  - the head's input after the GPTQ'd layers, recomputed by whole forward passes over the
//    model with the written layers: a tied token_embd must be exactly the importance-weighted
//    rounding under its mean x^2, an untied output.weight exactly GPTQ under its Hessian.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "../infer/test_model.h"
#include "bitsmith/algo/calibration.h"
#include "bitsmith/algo/gptq.h"
#include "bitsmith/algo/methods.h"
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::algo {
namespace {

std::vector<float> normal(int64_t n, float sd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = nd(rng);
  return v;
}

std::vector<float> dequantized(const quant::QuantizedTensor& q) {
  std::vector<float> out(static_cast<size_t>(q.rows * q.cols));
  EXPECT_TRUE(q.scheme->dequantize(q.view(), out.data()).ok());
  return out;
}

// The scheme's rounding of every group on its own (a group is one ggml block; the legacy types'
// search weighs by sqrt(sigma2 + x^2) with sigma2 over what it is given, so over the block here
// where llama.cpp's imatrix path takes the row's), dequantized.
std::vector<float> rounded_by_groups(const quant::Scheme& s, const std::vector<float>& w, int64_t rows, int64_t cols,
                                     int64_t g, const float* importance) {
  std::vector<float> out(w.size()), block(static_cast<size_t>(rows * g));
  for (int64_t gi = 0; gi < cols / g; ++gi) {
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(w.begin() + r * cols + gi * g, g, block.begin() + r * g);
    }
    quant::QuantizeOptions qo;
    qo.importance = importance ? importance + gi * g : nullptr;
    auto q = s.quantize(block.data(), rows, g, qo);
    EXPECT_TRUE(q.ok());
    const std::vector<float> d = dequantized(*q);
    for (int64_t r = 0; r < rows; ++r) std::copy_n(d.begin() + r * g, g, out.begin() + r * cols + gi * g);
  }
  return out;
}

// Values of `got` against `want` on the same parameters: the group quantizer rounds each to the
// nearest value of the stored grid; ggml's encoders round with the unrounded scale, and the
// weighted searches (make_qkx3_quants) keep the codes of their last iteration, so theirs are
// never nearer and differ rarely (1.7% of the values for q5_1 here).
void expect_same_rounding(const std::vector<float>& w, const std::vector<float>& got, const std::vector<float>& want) {
  int64_t differ = 0, worse = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    differ += got[i] != want[i];
    worse += std::fabs(w[i] - got[i]) > std::fabs(w[i] - want[i]);
  }
  EXPECT_EQ(worse, 0);
  EXPECT_LE(differ, static_cast<int64_t>(w.size()) * 3 / 100);
}

class GptqWeightedParams : public ::testing::TestWithParam<std::string> {};

TEST_P(GptqWeightedParams, DiagonalHessianGivesTheSchemesImportanceRounding) {
  auto s = quant::find_scheme(GetParam());
  ASSERT_TRUE(s.ok());
  const int64_t rows = 16, cols = 512, g = (*s)->traits().block_cols;
  std::vector<float> w = normal(rows * cols, 0.02f, 3);
  w[5] = 0.12f;  // an outlier, so the weighted search has something to trade
  // Importance spread over three decades, as real activations' mean x^2 is.
  std::vector<float> imp(static_cast<size_t>(cols));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> ud(-3.0f, 0.0f);
  for (auto& x : imp) x = std::pow(10.0f, ud(rng));
  std::vector<double> h(static_cast<size_t>(cols * cols), 0.0);
  for (int64_t c = 0; c < cols; ++c) h[static_cast<size_t>(c * cols + c)] = imp[static_cast<size_t>(c)];
  const std::vector<float> want_weighted = rounded_by_groups(**s, w, rows, cols, g, imp.data());
  const std::vector<float> want_plain = rounded_by_groups(**s, w, rows, cols, g, nullptr);
  ASSERT_NE(want_weighted, want_plain) << "the importance changed nothing: no test";

  for (bool act_order : {false, true}) {
    SCOPED_TRACE(act_order ? "act-order" : "in order");
    GptqOptions go;
    go.act_order = act_order;
    go.weighted_params = true;
    auto weighted = gptq_quantize(**s, w.data(), rows, cols, h.data(), go, nullptr);
    ASSERT_TRUE(weighted.ok()) << weighted.status().message();
    expect_same_rounding(w, dequantized(*weighted), want_weighted);
    go.weighted_params = false;
    auto plain = gptq_quantize(**s, w.data(), rows, cols, h.data(), go, nullptr);
    ASSERT_TRUE(plain.ok());
    expect_same_rounding(w, dequantized(*plain), want_plain);
  }
}

INSTANTIATE_TEST_SUITE_P(GgufTypes, GptqWeightedParams, ::testing::Values("q4_0", "q5_1", "q4_k", "q5_k", "q6_k"));

// GPTQ with q5_1 for every matrix of `model` that q5_1 can hold, on Tiny Shakespeare.
struct Written {
  std::unique_ptr<PreparedModel> prepared;
  std::vector<std::vector<int32_t>> segs;
  const quant::Scheme* scheme = nullptr;
};

Written gptq_q5_1(const Model& model) {
  Written out;
  auto s = quant::find_scheme("q5_1");
  EXPECT_TRUE(s.ok());
  out.scheme = *s;
  MethodOptions mo;
  mo.method = Method::kGptq;
  mo.calib = {testing::shared_path("data/tinyshakespeare.txt"), 4, 64, 0};
  mo.gptq.act_order = true;
  mo.gptq.weighted_params = true;
  auto segs = calibration_segments(model, mo.calib);
  EXPECT_TRUE(segs.ok()) << segs.status().message();
  out.segs = *segs;
  const quant::Scheme* q51 = *s;
  SchemeFor scheme_for = [&model, q51](const std::string& name) -> const quant::Scheme* {
    for (const auto& t : model.tensors()) {
      // stories260K's ffn_down rows (172) hold no q5_1 block: left as they are.
      if (t.name == name && t.shape.rank() == 2 && t.shape.cols() % 32 == 0) return q51;
    }
    return nullptr;
  };
  auto p = prepare_method(model, scheme_for, mo);
  EXPECT_TRUE(p.ok()) << p.status().message();
  out.prepared = std::move(*p);
  return out;
}

quant::QuantizedTensor written(Written& wr, const Model& model, const std::string& name) {
  auto w = model.load_f32(name);
  EXPECT_TRUE(w.ok());
  auto q = wr.prepared->quantize(name, *wr.scheme, w->as<float>().data(), w->shape().rows(), w->shape().cols(), {});
  EXPECT_TRUE(q.ok()) << name << ": " << q.status().message();
  return std::move(*q);
}

// The head's input statistics over whole forward passes of the model with the written layers.
InputStats head_input_after_written_layers(Written& wr, const Model& model, bool hessian) {
  OverlayModel ov(model);
  for (int64_t l = 0; l < model.hyperparameters().n_layers; ++l) {
    for (const std::string& name : layer_linears(l)) {
      if (parse_tensor_name(name).category == TensorCategory::kFfnDown) continue;  // not quantized (above)
      quant::QuantizedTensor q = written(wr, model, name);
      Tensor t(DType::kF32, {q.rows, q.cols});
      EXPECT_TRUE(q.scheme->dequantize(q.view(), t.mutable_as<float>().data()).ok());
      ov.replace(name, std::move(t));
    }
  }
  CollectOptions co;
  co.head = true;
  co.hessian = hessian;
  auto stats = collect_inputs(ov, wr.segs, co);
  EXPECT_TRUE(stats.ok()) << stats.status().message();
  return stats->at(kHeadInputKey);
}

TEST(GptqHead, TiedEmbeddingIsRoundedByTheHeadInputsImportance) {
  const Model& model = testing::stories260k();
  ASSERT_FALSE(model.has_tensor(std::string(kOutputWeight)));  // stories260K ties its head
  Written wr = gptq_q5_1(model);
  for (const auto& n : wr.prepared->notes()) EXPECT_EQ(n.find("token_embd"), std::string::npos) << n;
  const std::vector<float> imp = head_input_after_written_layers(wr, model, false).mean_sq();
  auto e = model.load_f32(std::string(kTokenEmbdWeight));
  ASSERT_TRUE(e.ok());
  quant::QuantizeOptions qo;
  qo.importance = imp.data();
  auto want = wr.scheme->quantize(e->as<float>().data(), e->shape().rows(), e->shape().cols(), qo);
  ASSERT_TRUE(want.ok());
  const quant::QuantizedTensor got = written(wr, model, std::string(kTokenEmbdWeight));
  EXPECT_EQ(got.data, want->data);
  EXPECT_EQ(got.scales, want->scales);
  EXPECT_EQ(got.zeros, want->zeros);
  auto rtn = wr.scheme->quantize(e->as<float>().data(), e->shape().rows(), e->shape().cols());
  ASSERT_TRUE(rtn.ok());
  EXPECT_NE(got.data, rtn->data);
}

// stories260K with its head untied: output.weight a copy of token_embd (the same function).
std::unique_ptr<testing::MemoryModel> untied_stories() {
  const Model& base = testing::stories260k();
  auto m = std::make_unique<testing::MemoryModel>();
  m->hp_ = base.hyperparameters();
  m->vocab_ = base.vocabulary();
  for (const auto& t : base.tensors()) {
    auto v = base.load_f32(t.name);
    EXPECT_TRUE(v.ok());
    const auto f = v->as<float>();
    m->add(t.name, t.shape, std::vector<float>(f.begin(), f.end()));
    if (t.name == kTokenEmbdWeight) m->add(std::string(kOutputWeight), t.shape, std::vector<float>(f.begin(), f.end()));
  }
  return m;
}

TEST(GptqHead, UntiedOutputIsGptqUnderItsInputsHessian) {
  auto model = untied_stories();
  Written wr = gptq_q5_1(*model);
  const InputStats head = head_input_after_written_layers(wr, *model, true);
  auto w = model->load_f32(std::string(kOutputWeight));
  ASSERT_TRUE(w.ok());
  GptqOptions go;
  go.act_order = true;
  go.weighted_params = true;
  auto want = gptq_quantize(*wr.scheme, w->as<float>().data(), w->shape().rows(), w->shape().cols(),
                            head.hessian.data(), go, nullptr);
  ASSERT_TRUE(want.ok()) << want.status().message();
  const quant::QuantizedTensor got = written(wr, *model, std::string(kOutputWeight));
  EXPECT_EQ(got.data, want->data);
  EXPECT_EQ(got.scales, want->scales);
  EXPECT_EQ(got.zeros, want->zeros);
  // The embedding is no head here: plain rounding.
  auto e = model->load_f32(std::string(kTokenEmbdWeight));
  ASSERT_TRUE(e.ok());
  auto rtn = wr.scheme->quantize(e->as<float>().data(), e->shape().rows(), e->shape().cols());
  ASSERT_TRUE(rtn.ok());
  EXPECT_EQ(written(wr, *model, std::string(kTokenEmbdWeight)).data, rtn->data);
}

}  // namespace
}  // namespace bitsmith::algo
