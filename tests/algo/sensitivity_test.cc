// measure_sensitivity against an independent computation: the KL divergence of two whole forward
// passes (the reference engine, and an engine that fake-quantizes only the tensor measured),
// computed here in double precision; the proxy against ||dW x||^2 over the inputs captured by the
// engine's hook; hybrid estimates; and a killed run resumed to the same numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "../infer/test_model.h"
#include "bitsmith/algo/calibration.h"
#include "bitsmith/algo/sensitivity.h"
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/infer/engine.h"

namespace bitsmith::algo {
namespace {

std::vector<std::vector<int32_t>> segments(int n, int len, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> s(static_cast<size_t>(n));
  for (auto& seg : s) {
    for (int i = 0; i < len; ++i) seg.push_back(static_cast<int32_t>(rng() % 40));
  }
  return s;
}

plan::Measurements fresh(const Model& model, std::string costs) {
  plan::MeasureConfig cfg;
  cfg.format = "safetensors";
  cfg.candidates = {"int4_g16", "int8_g32"};
  cfg.costs = std::move(costs);
  auto m = plan::plan_measurements(model, cfg);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *m;
}

// Full logits of a segment with `only` fake-quantized in `scheme` (nothing when null); the hook
// sees every linear input.
std::vector<float> logits_of(const Model& model, const std::vector<int32_t>& seg, const std::string& only,
                             const quant::Scheme* scheme, infer::ActivationHook hook = {}) {
  infer::EngineOptions eo;
  eo.context = static_cast<int64_t>(seg.size());
  if (scheme != nullptr) {
    eo.weight_scheme_for = [only, scheme](const std::string& n) -> const quant::Scheme* {
      return n == only ? scheme : nullptr;
    };
  }
  eo.hook = std::move(hook);
  auto e = infer::Engine::create(model, eo);
  EXPECT_TRUE(e.ok()) << e.status().message();
  std::vector<float> logits;
  EXPECT_TRUE((*e)->forward(seg, 0, 0, &logits).ok());
  return logits;
}

// Sum over rows of KL(softmax(ref) || softmax(q)), in double precision.
double kl_rows(const std::vector<float>& ref, const std::vector<float>& q, int64_t v) {
  double total = 0;
  const int64_t rows = static_cast<int64_t>(ref.size()) / v;
  for (int64_t r = 0; r < rows; ++r) {
    auto lse = [&](const std::vector<float>& x) {
      double mx = -INFINITY, s = 0;
      for (int64_t i = 0; i < v; ++i) mx = std::max(mx, static_cast<double>(x[r * v + i]));
      for (int64_t i = 0; i < v; ++i) s += std::exp(x[r * v + i] - mx);
      return mx + std::log(s);
    };
    const double a = lse(ref), b = lse(q);
    for (int64_t i = 0; i < v; ++i) {
      const double lp = ref[r * v + i] - a, lq = q[r * v + i] - b;
      total += std::exp(lp) * (lp - lq);
    }
  }
  return total;
}

const plan::CandidateCost& option(const plan::Measurements& m, const std::string& name, const std::string& scheme) {
  for (const auto& t : m.tensors) {
    if (t.name != name) continue;
    for (const auto& o : t.options) {
      if (o.scheme == scheme) return o;
    }
  }
  ADD_FAILURE() << name << " " << scheme;
  return m.tensors.front().options.front();
}

TEST(Sensitivity, ExactCostIsTheKlOfTwoWholeForwardPasses) {
  auto model = testing::random_llama({3, 64, 4, false});
  const auto segs = segments(2, 10);
  plan::Measurements m = fresh(*model, "exact");
  SensitivityOptions so;
  ASSERT_TRUE(measure_sensitivity(*model, segs, so, &m).ok());
  ASSERT_TRUE(m.complete());
  const quant::Scheme* int4 = *quant::find_scheme("int4_g16");
  const int64_t v = model->hyperparameters().vocab_size;
  for (const std::string name : {"token_embd.weight", "output.weight", "blk.0.attn_q.weight", "blk.1.attn_v.weight",
                                 "blk.2.ffn_down.weight", "blk.2.ffn_up.weight"}) {
    double kl = 0;
    for (const auto& seg : segs) kl += kl_rows(logits_of(*model, seg, "", nullptr), logits_of(*model, seg, name, int4), v);
    kl /= 20.0;
    const auto& o = option(m, name, "int4_g16");
    // Float32 log-probabilities on both sides: agreement to 1e-4 relative.
    EXPECT_NEAR(o.kld, kl, 1e-4 * kl + 1e-7) << name;
    EXPECT_GT(o.kld, option(m, name, "int8_g32").kld) << name;
    EXPECT_FALSE(o.kld_estimated);
  }
}

TEST(Sensitivity, ProxyIsTheOutputErrorUnderTheCalibrationInputs) {
  auto model = testing::random_llama({2, 64, 5, false});
  const auto segs = segments(2, 9);
  plan::Measurements m = fresh(*model, "proxy");
  SensitivityOptions so;
  so.costs = "proxy";
  ASSERT_TRUE(measure_sensitivity(*model, segs, so, &m).ok());
  const std::string name = "blk.1.ffn_down.weight";
  const quant::Scheme* int4 = *quant::find_scheme("int4_g16");
  auto w = model->load_f32(name);
  ASSERT_TRUE(w.ok());
  const int64_t rows = w->shape().rows(), cols = w->shape().cols();
  std::vector<float> q(static_cast<size_t>(rows * cols));
  ASSERT_TRUE(int4->fake_quantize(w->as<float>().data(), rows, cols, q.data()).ok());
  double sum = 0;
  int64_t tokens = 0;
  for (const auto& seg : segs) {
    logits_of(*model, seg, "", nullptr, [&](const infer::LinearInput& in) {
      if (in.layer != 1 || in.name != "ffn_down") return;
      for (int64_t t = 0; t < in.tokens; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          double e = 0;
          for (int64_t c = 0; c < cols; ++c) e += (w->as<float>()[r * cols + c] - q[r * cols + c]) * in.data[t * cols + c];
          sum += e * e;
        }
      }
      tokens += in.tokens;
    });
  }
  ASSERT_EQ(tokens, 18);
  const auto& o = option(m, name, "int4_g16");
  EXPECT_NEAR(o.proxy, sum / static_cast<double>(tokens), 1e-4 * sum / static_cast<double>(tokens));
  EXPECT_TRUE(std::isnan(o.kld));
}

// Hybrid: a decoder linear's smallest option is run and the rest scaled by the proxy; the
// embedding and the head run every option (their proxies mix unlike errors).
TEST(Sensitivity, HybridRunsTheSmallestOptionAndScalesTheRest) {
  auto model = testing::random_llama({2, 64, 6, false});
  const auto segs = segments(2, 8);
  plan::Measurements exact = fresh(*model, "exact"), hybrid = fresh(*model, "hybrid");
  ASSERT_TRUE(measure_sensitivity(*model, segs, {}, &exact).ok());
  SensitivityOptions so;
  so.costs = "hybrid";
  ASSERT_TRUE(measure_sensitivity(*model, segs, so, &hybrid).ok());
  int heads = 0;
  for (size_t t = 0; t < exact.tensors.size(); ++t) {
    const auto& e = exact.tensors[t].options;
    const auto& h = hybrid.tensors[t].options;
    // Run, not estimated: the same number up to float summation order (a proxy-scaled estimate
    // is off by far more than 1e-9). Bitwise equality failed twice under a loaded ctest -j2.
    EXPECT_NEAR(h[0].kld, e[0].kld, 1e-9 * std::abs(e[0].kld) + 1e-15);
    EXPECT_FALSE(h[0].kld_estimated);
    if (parse_tensor_name(exact.tensors[t].name).layer < 0) {
      ++heads;
      for (size_t o = 0; o < e.size(); ++o) {
        EXPECT_FALSE(h[o].kld_estimated) << exact.tensors[t].name << " " << o;
        EXPECT_NEAR(h[o].kld, e[o].kld, 1e-9 * std::abs(e[o].kld) + 1e-15);
      }
      continue;
    }
    EXPECT_TRUE(h[1].kld_estimated);
    EXPECT_NEAR(h[1].kld, e[0].kld * e[1].proxy / e[0].proxy, 1e-12 + 1e-9 * h[1].kld);
  }
  EXPECT_EQ(heads, 2);  // token_embd.weight and output.weight
}

// With imatrix, the head is rounded with its input's mean x^2 as importance (the writer's
// imatrix entry for it), so its options differ from rtn's where the scheme uses importance.
TEST(Sensitivity, ImatrixWeighsTheHeadByItsInput) {
  auto model = testing::random_llama({1, 64, 6, false});
  const auto segs = segments(2, 16);
  plan::MeasureConfig cfg;
  cfg.format = "gguf";
  cfg.candidates = {"q4_0", "q5_1"};  // llama.cpp's rounding, which takes importance
  cfg.costs = "exact";
  auto made = plan::plan_measurements(*model, cfg);
  ASSERT_TRUE(made.ok()) << made.status().message();
  plan::Measurements rtn = *made, imx = *made;
  ASSERT_TRUE(measure_sensitivity(*model, segs, {}, &rtn).ok());
  SensitivityOptions so;
  so.method = Method::kImatrix;
  ASSERT_TRUE(measure_sensitivity(*model, segs, so, &imx).ok());
  int differ = 0;
  for (size_t t = 0; t < rtn.tensors.size(); ++t) {
    if (rtn.tensors[t].name != "output.weight") continue;
    for (size_t o = 0; o < rtn.tensors[t].options.size(); ++o) {
      differ += rtn.tensors[t].options[o].kld != imx.tensors[t].options[o].kld ? 1 : 0;
    }
  }
  EXPECT_GT(differ, 0);
}

// GPTQ's writer runs GPTQ on an untied output.weight under its input's Hessian and rounds a
// tied token_embd by the head input's importance, as imatrix does; the costs measure that.
TEST(Sensitivity, GptqMeasuresTheHeadAsItsWriterQuantizesIt) {
  auto untied = testing::random_llama({1, 64, 6, false});
  testing::MemoryModel tied;  // the same model with its head tied to the embedding
  tied.hp_ = untied->hp_;
  for (const auto& t : untied->tensors()) {
    if (t.name != kOutputWeight) tied.add(t.name, t.shape, untied->values(t.name));
  }
  const auto segs = segments(2, 16);
  for (const testing::MemoryModel* model : {untied.get(), &tied}) {
    const bool is_tied = model == &tied;
    SCOPED_TRACE(is_tied ? "tied" : "untied");
    plan::MeasureConfig cfg;
    cfg.format = "gguf";
    cfg.candidates = {"q4_0", "q5_1"};
    cfg.costs = "exact";
    auto made = plan::plan_measurements(*model, cfg);
    ASSERT_TRUE(made.ok()) << made.status().message();
    plan::Measurements imx = *made, gptq = *made;
    SensitivityOptions so;
    so.method = Method::kImatrix;
    ASSERT_TRUE(measure_sensitivity(*model, segs, so, &imx).ok());
    so.method = Method::kGptq;
    ASSERT_TRUE(measure_sensitivity(*model, segs, so, &gptq).ok());
    const std::string head(is_tied ? kTokenEmbdWeight : kOutputWeight);
    int seen = 0;
    for (size_t t = 0; t < imx.tensors.size(); ++t) {
      if (imx.tensors[t].name != head) continue;
      ++seen;
      for (size_t o = 0; o < imx.tensors[t].options.size(); ++o) {
        const double a = imx.tensors[t].options[o].kld, b = gptq.tensors[t].options[o].kld;
        if (is_tied) {
          EXPECT_EQ(a, b) << imx.tensors[t].options[o].scheme;
        } else {
          EXPECT_NE(a, b) << imx.tensors[t].options[o].scheme;
        }
      }
    }
    EXPECT_EQ(seen, 1);
  }
}

TEST(Sensitivity, AKilledRunResumesToTheSameNumbers) {
  auto model = testing::random_llama({3, 64, 8, false});
  const auto segs = segments(2, 8);
  plan::Measurements whole = fresh(*model, "exact"), part = fresh(*model, "exact");
  ASSERT_TRUE(measure_sensitivity(*model, segs, {}, &whole).ok());
  int calls = 0;
  SensitivityOptions dies;
  dies.checkpoint = [&](const plan::Measurements&) {
    return ++calls == 2 ? internal_error("killed") : Status::Ok();  // after the heads and layer 0
  };
  EXPECT_FALSE(measure_sensitivity(*model, segs, dies, &part).ok());
  EXPECT_FALSE(part.complete());
  auto saved = plan::Measurements::from_json(part.to_json(), "part");
  ASSERT_TRUE(saved.ok());
  ASSERT_TRUE(measure_sensitivity(*model, segs, {}, &*saved).ok());
  EXPECT_EQ(saved->to_json(), whole.to_json());
}

plan::Measurements fresh_gguf(const Model& model) {
  plan::MeasureConfig cfg;
  cfg.format = "gguf";
  cfg.candidates = {"q4_0", "q5_1"};
  cfg.costs = "exact";
  auto m = plan::plan_measurements(model, cfg);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *m;
}

double decoder_cost(const plan::Measurements& m) {
  double sum = 0;
  for (const auto& t : m.tensors) {
    if (parse_tensor_name(t.name).layer < 0) continue;
    for (const auto& o : t.options) sum += o.kld;
  }
  return sum;
}

// Held-out fitting is plumbing around the same measurement: with fit segments that are copies of
// the scored ones, every number is what in-sample measuring gives (the runner's index ranges,
// the head's second pass and the proxy's Hessian all line up).
TEST(Sensitivity, HeldOutFitOnTheScoredTokensIsTheInSampleMeasurement) {
  auto model = testing::random_llama({2, 64, 11, false});
  const auto segs = segments(2, 16);
  for (Method method : {Method::kImatrix, Method::kGptq}) {
    SCOPED_TRACE(method_name(method));
    plan::Measurements in = fresh_gguf(*model), held = fresh_gguf(*model);
    SensitivityOptions so;
    so.method = method;
    ASSERT_TRUE(measure_sensitivity(*model, segs, so, &in).ok());
    so.fit_segments = segs;
    ASSERT_TRUE(measure_sensitivity(*model, segs, so, &held).ok());
    EXPECT_EQ(held.to_json(), in.to_json());
  }
}

// GPTQ fitted to 32 tokens of 32- and 64-wide inputs (Hessians of rank <= 32) nearly cancels its
// error on those very tokens: measured in-sample it looks far cheaper than on tokens it never saw.
// Held out, the statistics come from other segments and the costs are larger; the proxy's
// Hessian stays the scored tokens' (the same in both).
TEST(Sensitivity, HeldOutCostsDoNotCreditGptqForFittingItsTokens) {
  auto model = testing::random_llama({2, 64, 12, false});
  const auto scored = segments(2, 16, 21), fit = segments(2, 16, 22);
  plan::Measurements in = fresh_gguf(*model), held = fresh_gguf(*model);
  SensitivityOptions so;
  so.method = Method::kGptq;
  ASSERT_TRUE(measure_sensitivity(*model, scored, so, &in).ok());
  so.fit_segments = fit;
  ASSERT_TRUE(measure_sensitivity(*model, scored, so, &held).ok());
  EXPECT_GT(decoder_cost(held), 1.5 * decoder_cost(in));
  EXPECT_EQ(held.calib_tokens, in.calib_tokens);  // costs are averaged over the scored tokens only
}

// The split: the scored segments are calibration_segments' own, the fit ones overlap none of
// them, and a text with no room for them is refused with its token count.
TEST(Sensitivity, HeldOutSegmentsAreApartFromTheScoredOnes) {
  const Model& model = testing::stories260k();
  const CalibrationOptions opt{testing::shared_path("data/tinyshakespeare.txt"), 6, 64, 3};
  auto split = held_out_segments(model, opt, 40);
  ASSERT_TRUE(split.ok()) << split.status().message();
  auto plain = calibration_segments(model, opt);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(split->scored, *plain);
  ASSERT_EQ(split->fit.size(), 40u);
  ASSERT_EQ(split->fit_offsets.size(), 40u);
  ASSERT_EQ(split->scored_offsets.size(), 6u);
  for (size_t f = 0; f < split->fit.size(); ++f) {
    EXPECT_EQ(split->fit[f].size(), 64u);
    for (int64_t j : split->scored_offsets) {
      const int64_t i = split->fit_offsets[f];
      EXPECT_TRUE(i + 64 <= j || j + 64 <= i) << "fit segment at " << i << " overlaps a scored one at " << j;
    }
  }
  EXPECT_FALSE(held_out_segments(model, opt, 0).ok());
  // 64-token segments of a text with 200-odd tokens: six scored ones leave no room.
  const std::string path = ::testing::TempDir() + "/short_calib.txt";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("First Citizen: Before we proceed any further, hear me speak. All: Speak, speak. First Citizen: "
               "You are all resolved rather to die than to famish? All: Resolved. resolved. First Citizen: First, "
               "you know Caius Marcius is chief enemy to the people. All: We know't, we know't.", f);
    std::fclose(f);
  }
  auto tight = held_out_segments(model, {path, 6, 64, 3}, 4);
  ASSERT_FALSE(tight.ok());
  EXPECT_NE(tight.status().message().find("too few"), std::string::npos) << tight.status().message();
}

TEST(Sensitivity, RefusesWhatCannotBeMeasured) {
  auto model = testing::random_llama({1, 64, 9, false});
  plan::Measurements m = fresh(*model, "exact");
  SensitivityOptions awq;
  awq.method = Method::kAwq;
  EXPECT_FALSE(measure_sensitivity(*model, segments(1, 4), awq, &m).ok());
  SensitivityOptions small;
  small.max_reference_bytes = 100;
  auto st = measure_sensitivity(*model, segments(1, 4), small, &m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--calib-samples"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace bitsmith::algo
