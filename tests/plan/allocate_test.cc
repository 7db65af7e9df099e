// The budgeted allocation (allocate.h) against exhaustive search on small instances, its bound,
// its errors, the recipe it writes (resolved back to the same schemes), and the measurements
// file (round trip, broken and hostile files), and Spearman's rank correlation.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "bitsmith/plan/advise_request.h"
#include "bitsmith/plan/allocate.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/plan/sensitivity.h"
#include "shape_model.h"

namespace bitsmith::plan {
namespace {

using fixtures::ShapeModel;

// Random measurements: n tensors, each with `options` choices of increasing bytes and (mostly)
// decreasing cost.
Measurements random_measurements(std::mt19937& rng, int n, int options) {
  Measurements m;
  m.fixed_bytes = 100;
  m.fixed_params = 50;
  std::uniform_int_distribution<int> step(1, 40);
  std::uniform_real_distribution<double> cost(0.0, 1.0);
  for (int t = 0; t < n; ++t) {
    TensorCosts tc;
    tc.name = tensor_name(t, "attn_q");
    tc.rows = 4;
    tc.cols = 8;
    tc.measured = true;
    uint64_t bytes = 10 + static_cast<uint64_t>(step(rng));
    double c = 1.0 + cost(rng);
    for (int o = 0; o < options; ++o) {
      CandidateCost cc;
      cc.scheme = o == 0 ? "q4_0" : o == 1 ? "q5_0" : "q8_0";
      cc.bytes = bytes;
      cc.kld = c;
      cc.proxy = c * 2;
      tc.options.push_back(cc);
      bytes += static_cast<uint64_t>(step(rng));
      c *= cost(rng);  // not convex: the greedy would miss optima the DP finds
    }
    m.tensors.push_back(tc);
  }
  return m;
}

// The optimum by trying every combination.
double brute_force(const Measurements& m, uint64_t budget) {
  const size_t n = m.tensors.size();
  std::vector<size_t> pick(n, 0);
  double best = INFINITY;
  for (;;) {
    uint64_t bytes = m.fixed_bytes;
    double cost = 0;
    for (size_t t = 0; t < n; ++t) {
      bytes += m.tensors[t].options[pick[t]].bytes;
      cost += m.tensors[t].options[pick[t]].kld;
    }
    if (bytes <= budget) best = std::min(best, cost);
    size_t t = 0;
    while (t < n && ++pick[t] == m.tensors[t].options.size()) pick[t++] = 0;
    if (t == n) break;
  }
  return best;
}

TEST(Allocate, FindsTheExhaustiveOptimumAndABoundBelowIt) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    const Measurements m = random_measurements(rng, 6, 3);
    const uint64_t lo = m.min_bytes(), hi = m.max_bytes();
    for (uint64_t budget : {lo, lo + (hi - lo) / 3, lo + (hi - lo) / 2, hi - 7, hi}) {
      auto a = allocate(m, budget, CostKind::kKld);
      ASSERT_TRUE(a.ok()) << a.status().message();
      const double opt = brute_force(m, budget);
      EXPECT_LE(a->bytes, budget);
      EXPECT_NEAR(a->cost, opt, 1e-12) << "trial " << trial << " budget " << budget;
      EXPECT_LE(a->lower_bound, opt + 1e-9);
      EXPECT_GE(a->lower_bound, 0.0);
      uint64_t bytes = m.fixed_bytes;
      for (size_t t = 0; t < m.tensors.size(); ++t) bytes += m.tensors[t].options[a->choice[t]].bytes;
      EXPECT_EQ(bytes, a->bytes);
    }
  }
}

TEST(Allocate, CoarseUnitsStillFitTheBudget) {
  // Budgets of gigabytes: bytes are rounded up to units of budget / 2^17, the choice fits.
  std::mt19937 rng(3);
  Measurements m = random_measurements(rng, 40, 3);
  for (auto& t : m.tensors) {
    for (auto& o : t.options) o.bytes *= 1000003;
  }
  const uint64_t budget = (m.min_bytes() + m.max_bytes()) / 2;
  auto a = allocate(m, budget, CostKind::kKld);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_LE(a->bytes, budget);
  EXPECT_LE(a->lower_bound, a->cost);
  // Within 1% of the bound: the rounding loses little.
  EXPECT_LE(a->cost, a->lower_bound * 1.01 + 1e-12);
}

TEST(Allocate, ErrorsNameTheMinimum) {
  std::mt19937 rng(1);
  Measurements m = random_measurements(rng, 3, 2);
  auto a = allocate(m, m.min_bytes() - 1, CostKind::kKld);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find(std::to_string(m.min_bytes()) + " bytes"), std::string::npos) << a.status().message();
  m.tensors[1].measured = false;
  EXPECT_FALSE(allocate(m, m.max_bytes(), CostKind::kKld).ok());
  m.tensors[1].measured = true;
  m.tensors[1].options[0].proxy = kNotMeasured;
  auto p = allocate(m, m.max_bytes(), CostKind::kProxy);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("blk.1.attn_q.weight"), std::string::npos);
}

TEST(Allocate, NegativeNoiseCostsCountAsZero) {
  CandidateCost o;
  o.kld = -1e-7;
  auto c = option_cost(o, CostKind::kKld, "t");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 0.0);
}

// The per-kind summary: every tensor counted once, schemes fewest bits first with their layers
// as ranges, and the costs at the smallest option and as chosen summed per kind.
TEST(Allocate, ChoicesByKindSummariseEveryTensor) {
  Measurements m;
  auto add = [&m](int layer, const char* kind) {
    TensorCosts tc;
    tc.name = tensor_name(layer, kind);
    tc.rows = 4;
    tc.cols = 32;
    tc.measured = true;
    const char* schemes[] = {"q4_0", "q8_0"};
    const uint64_t bytes[] = {72, 136};
    for (int o = 0; o < 2; ++o) {
      CandidateCost c;
      c.scheme = schemes[o];
      c.bytes = bytes[o];
      c.kld = o == 0 ? 1.0 + layer : 0.25;
      tc.options.push_back(c);
    }
    m.tensors.push_back(tc);
  };
  for (int l = 0; l < 5; ++l) add(l, "attn_v");
  add(0, "ffn_down");
  Allocation a;
  a.choice = {1, 1, 0, 1, 0, 0};  // attn_v: q8_0 in layers 0, 1, 3; q4_0 in 2, 4; ffn_down q4_0
  const auto kinds = choices_by_kind(m, a, CostKind::kKld);
  ASSERT_EQ(kinds.size(), 2u);
  EXPECT_EQ(kinds[0].kind, "attn_v");
  EXPECT_EQ(kinds[0].tensors, 5);
  EXPECT_EQ(format_kind_schemes(kinds[0]), "q4_0 2,4; q8_0 0-1,3");
  EXPECT_EQ(kinds[0].bytes, 3u * 136 + 2u * 72);
  EXPECT_DOUBLE_EQ(kinds[0].bits_per_weight, 8.0 * (3 * 136 + 2 * 72) / (5 * 128));
  EXPECT_DOUBLE_EQ(kinds[0].smallest_cost, 1 + 2 + 3 + 4 + 5);
  EXPECT_DOUBLE_EQ(kinds[0].cost, 0.25 * 3 + 3 + 5);
  EXPECT_EQ(format_kind_schemes(kinds[1]), "q4_0 0");
  const nlohmann::json doc = allocation_json(m, a, CostKind::kKld);
  EXPECT_EQ(doc["tensors"].size(), 6u);
  EXPECT_EQ(doc["by_kind"][0]["schemes"][1]["layers"], nlohmann::json({0, 1, 3}));
  EXPECT_TRUE(doc["tensors"][0]["proxy"].is_null());  // not measured: null, not NaN
}

// With measurements the advisor plans under what the device leaves for weights, and the planned
// mix is the recommendation: the same allocation allocate() makes at that budget.
TEST(Allocate, AdviceRecommendsTheMixPlannedForTheDevice) {
  const ShapeModel model(256, 512, 4, 8, 2, 512, false);
  MeasureConfig cfg;
  cfg.format = "gguf";
  cfg.candidates = {"q4_0", "q8_0"};
  cfg.costs = "hybrid";
  auto m = plan_measurements(model, cfg);
  ASSERT_TRUE(m.ok()) << m.status().message();
  for (auto& t : m->tensors) {
    for (size_t o = 0; o < t.options.size(); ++o) t.options[o].kld = o == 0 ? 1.0 : 0.1;
    t.measured = true;
  }
  m->config.model_params = 0;
  for (const auto& t : model.tensors()) m->config.model_params += static_cast<uint64_t>(t.shape.numel());
  AdviseOptions o;
  o.model = &model;
  o.source = "shape";
  o.measurements = &*m;
  o.context = 64;
  // Capacity: the runtime, KV cache and workspace, plus the halfway point between the smallest
  // and the largest plan for the weights.
  const uint64_t weights = (m->min_bytes() + m->max_bytes()) / 2;
  auto probe = advise_with([&] { AdviseOptions p = o; p.measurements = nullptr; p.memory = "1000GB"; return p; }());
  ASSERT_TRUE(probe.ok()) << probe.status().message();
  double others = 0;
  for (const auto& it : probe->alternatives.front().items) {
    if (it.counted && it.label != "weights") others += it.bytes;
  }
  o.memory = fmt::format("{}", (others + static_cast<double>(weights)) / 1e9);
  auto advice = advise_with(o);
  ASSERT_TRUE(advice.ok()) << advice.status().message();
  ASSERT_TRUE(advice->planned.has_value());
  EXPECT_EQ(advice->recommended, 0);
  EXPECT_EQ(advice->alternatives.front().candidate.label, "planned mix");
  const Allocation& a = advice->planned->allocation;
  EXPECT_LE(a.bytes, a.budget_bytes);
  EXPECT_LT(a.bytes, m->max_bytes());  // a real mix: the largest plan does not fit
  EXPECT_GT(a.bytes, m->min_bytes());
  auto direct = allocate(*m, a.budget_bytes, CostKind::kKld);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(direct->choice, a.choice);
  EXPECT_NE(advice->reasoning.find("Planned mix"), std::string::npos);
  EXPECT_EQ(to_json(*advice)["planned_mix"]["allocation"], allocation_json(*m, a, CostKind::kKld));
}

TEST(Allocate, TheRecipeResolvesToTheChosenSchemes) {
  const ShapeModel model(256, 512, 4, 8, 2, 512, false);
  MeasureConfig cfg;
  cfg.format = "gguf";
  cfg.candidates = {"q2_k", "q4_k", "q6_k", "q8_0"};
  auto m = plan_measurements(model, cfg);
  ASSERT_TRUE(m.ok()) << m.status().message();
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& t : m->tensors) {
    double c = 1;
    for (auto& o : t.options) {
      o.kld = c * u(rng);
      c = o.kld;
    }
    t.measured = true;
  }
  auto a = allocate(*m, (m->min_bytes() + m->max_bytes()) / 2, CostKind::kKld);
  ASSERT_TRUE(a.ok()) << a.status().message();
  const Recipe r = recipe_from_allocation(*m, *a, "test");
  auto plans = r.resolve(model, quant::OutputFormat::kGguf);
  ASSERT_TRUE(plans.ok()) << plans.status().message();
  std::map<std::string, std::string> got;
  for (const auto& p : *plans) got[p.name] = std::string(p.scheme->name());
  for (size_t t = 0; t < m->tensors.size(); ++t) {
    EXPECT_EQ(got[m->tensors[t].name], m->tensors[t].options[a->choice[t]].scheme) << m->tensors[t].name;
  }
  EXPECT_NEAR(plan_bits_per_weight(*plans), a->bits_per_weight, 1e-9);
  // And through JSON.
  auto back = Recipe::from_json(r.to_json(), "r");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->rules.size(), r.rules.size());
}

TEST(Measurements, OptionsFollowLlamaCppFallbacksAndTheFormat) {
  // dim 576 (SmolLM2): 256-blocks do not divide the rows of most matrices.
  const ShapeModel model(576, 1536, 1, 9, 3, 512, true);
  MeasureConfig cfg;
  cfg.format = "gguf";
  cfg.candidates = {"q4_k", "q5_0", "q6_k", "nvfp4"};
  auto m = plan_measurements(model, cfg);
  ASSERT_TRUE(m.ok()) << m.status().message();
  for (const auto& t : m->tensors) {
    std::vector<std::string> schemes;
    for (const auto& o : t.options) schemes.push_back(o.scheme);
    if (t.name == "blk.0.ffn_down.weight") {  // 1536 columns: the k-quants fit
      EXPECT_EQ(schemes, (std::vector<std::string>{"q4_k", "q5_0", "q6_k"}));
    } else {  // q4_k -> q5_0 (a duplicate), q6_k -> q8_0; nvfp4 has no GGUF type here
      EXPECT_EQ(schemes, (std::vector<std::string>{"q5_0", "q8_0"})) << t.name;
    }
    for (size_t i = 1; i < t.options.size(); ++i) EXPECT_LT(t.options[i - 1].bytes, t.options[i].bytes);
  }
  cfg.candidates = {"nvfp4"};
  EXPECT_FALSE(plan_measurements(model, cfg).ok());
  cfg.candidates = {"no_such_scheme"};
  EXPECT_FALSE(plan_measurements(model, cfg).ok());
}

TEST(Measurements, RoundTripAndBrokenFiles) {
  std::mt19937 rng(2);
  Measurements m = random_measurements(rng, 3, 3);
  m.config.candidates = {"q4_0", "q5_0", "q8_0"};
  m.tensors[2].measured = false;
  m.tensors[2].options[1].kld = kNotMeasured;
  m.config.method = "gptq";
  m.config.method_options = {"act-order", "weighted-params"};
  auto back = Measurements::from_json(m.to_json(), "m");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->to_json(), m.to_json());
  EXPECT_EQ(back->config, m.config);
  // Files from before the options were recorded read as none, so they match no GPTQ run that has them.
  std::string old = m.to_json();
  const std::string opts = "\"method_options\": [\n   \"act-order\",\n   \"weighted-params\"\n  ],";
  ASSERT_NE(old.find(opts), std::string::npos) << old.substr(0, 400);
  old.erase(old.find(opts), opts.size());
  auto older = Measurements::from_json(old, "old");
  ASSERT_TRUE(older.ok()) << older.status().message();
  EXPECT_TRUE(older->config.method_options.empty());
  EXPECT_FALSE(older->config == m.config);
  // Likewise held-out fitting: recorded, and absent in older files (read as 0: in-sample).
  m.config.fit_samples = 32;
  auto held = Measurements::from_json(m.to_json(), "held");
  ASSERT_TRUE(held.ok()) << held.status().message();
  EXPECT_EQ(held->config.fit_samples, 32);
  std::string no_fit = m.to_json();
  const std::string fit_key = "\"fit_samples\": 32,";
  ASSERT_NE(no_fit.find(fit_key), std::string::npos);
  no_fit.erase(no_fit.find(fit_key), fit_key.size());
  auto before = Measurements::from_json(no_fit, "before");
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_EQ(before->config.fit_samples, 0);
  std::string negative = m.to_json();
  negative.replace(negative.find(fit_key), fit_key.size(), "\"fit_samples\": -3,");
  EXPECT_FALSE(Measurements::from_json(negative, "negative").ok());
  m.config.fit_samples = 0;
  EXPECT_FALSE(back->complete());
  EXPECT_TRUE(std::isnan(back->tensors[2].options[1].kld));
  EXPECT_FALSE(Measurements::from_json("{}", "m").ok());
  EXPECT_FALSE(Measurements::from_json("[1,2", "m").ok());
  std::string deep(100000, '[');
  auto d = Measurements::from_json(deep, "deep.json");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("deeper"), std::string::npos);
  std::string bad = m.to_json();
  const std::string key = "\"scheme\": \"q5_0\"";
  ASSERT_NE(bad.find(key), std::string::npos);
  bad.replace(bad.find(key), key.size(), "\"scheme\": \"zz_9\"");
  EXPECT_FALSE(Measurements::from_json(bad, "m").ok());
  const auto dir = std::filesystem::temp_directory_path() / "bitsmith_measure_test";
  std::filesystem::create_directories(dir);
  EXPECT_FALSE(Measurements::load(dir.string()).ok());  // a directory
  ASSERT_TRUE(m.save((dir / "m.json").string()).ok());
  auto loaded = Measurements::load((dir / "m.json").string());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->to_json(), m.to_json());
  std::filesystem::remove_all(dir);
}

TEST(RankCorrelation, KnownValues) {
  const std::vector<double> a = {1, 2, 3, 4, 5};
  EXPECT_NEAR(rank_correlation(a, std::vector<double>{10, 20, 30, 40, 50}), 1.0, 1e-12);
  EXPECT_NEAR(rank_correlation(a, std::vector<double>{5, 4, 3, 2, 1}), -1.0, 1e-12);
  // scipy.stats.spearmanr([1,2,3,4,5], [2,1,4,3,5]) = 0.8; with a tie ([1,2,2,3]) vs [1,2,3,4]:
  // ranks 1, 2.5, 2.5, 4 -> 0.9486832980505138.
  EXPECT_NEAR(rank_correlation(a, std::vector<double>{2, 1, 4, 3, 5}), 0.8, 1e-12);
  EXPECT_NEAR(rank_correlation(std::vector<double>{1, 2, 2, 3}, std::vector<double>{1, 2, 3, 4}), 0.9486832980505138, 1e-12);
  EXPECT_TRUE(std::isnan(rank_correlation(std::vector<double>{1, 1, 1}, std::vector<double>{1, 2, 3})));
}

}  // namespace
}  // namespace bitsmith::plan
