// Tensor names and recipes on synthetic models (shapes only: resolve never reads weights). The
// expected types are written out from llama.cpp's rules as its source states them, for models
// whose rows divide 256 so the k-quant rules apply; tests/plan/llama_quantize_check.py holds the
// same recipes against the real llama-quantize.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/plan/recipe.h"
#include "shape_model.h"

namespace bitsmith::plan {
namespace {

using fixtures::ShapeModel;

RecipeRule rule(std::optional<TensorCategory> category, std::string pattern, int64_t layer_min, int64_t layer_max,
                std::string scheme, std::string method = "") {
  RecipeRule r;
  r.category = category;
  r.pattern = std::move(pattern);
  r.layer_min = layer_min;
  r.layer_max = layer_max;
  r.scheme = std::move(scheme);
  r.method = std::move(method);
  return r;
}

std::map<std::string, std::string> types(const Recipe& r, const Model& m,
                                         quant::OutputFormat f = quant::OutputFormat::kGguf) {
  auto plans = r.resolve(m, f);
  EXPECT_TRUE(plans.ok()) << plans.status().to_string();
  std::map<std::string, std::string> out;
  if (!plans.ok()) return out;
  for (const auto& p : *plans) out[p.name] = p.scheme->name();
  return out;
}

TEST(TensorNames, ParseAndFormat) {
  TensorName n = parse_tensor_name("blk.12.attn_v.weight");
  EXPECT_EQ(n.layer, 12);
  EXPECT_EQ(n.kind, "attn_v");
  EXPECT_EQ(n.suffix, "weight");
  EXPECT_EQ(n.category, TensorCategory::kAttnV);
  EXPECT_EQ(tensor_name(12, "attn_v"), "blk.12.attn_v.weight");
  EXPECT_EQ(tensor_name(3, "attn_in", ""), "blk.3.attn_in");
  EXPECT_EQ(tensor_name(-1, "output"), "output.weight");
  const std::map<std::string, TensorCategory> want = {
      {"blk.0.attn_q.weight", TensorCategory::kAttnQ},       {"blk.0.attn_k.weight", TensorCategory::kAttnK},
      {"blk.0.attn_output.weight", TensorCategory::kAttnOutput}, {"blk.0.ffn_gate.weight", TensorCategory::kFfnGate},
      {"blk.0.ffn_up.weight", TensorCategory::kFfnUp},       {"blk.0.ffn_down.weight", TensorCategory::kFfnDown},
      {"token_embd.weight", TensorCategory::kEmbedding},     {"output.weight", TensorCategory::kOutput},
      {"output_norm.weight", TensorCategory::kNorm},         {"blk.7.ffn_norm.weight", TensorCategory::kNorm},
      {"blk.7.attn_norm.weight", TensorCategory::kNorm},     {"rope_freqs.weight", TensorCategory::kOther},
      // token_embd/output only at the top level, the linears only inside blocks.
      {"blk.1.output.weight", TensorCategory::kOther},       {"attn_q.weight", TensorCategory::kOther},
      {"blk.x.attn_q.weight", TensorCategory::kOther},       {"blk.-1.attn_q.weight", TensorCategory::kOther},
  };
  for (const auto& [name, cat] : want) EXPECT_EQ(tensor_category(name), cat) << name;
  EXPECT_EQ(parse_tensor_name("blk.2.attn_q.bias").suffix, "bias");
  EXPECT_EQ(parse_tensor_name("blk.2.attn_q.bias").category, TensorCategory::kAttnQ);
  EXPECT_FALSE(parse_tensor_name("blk.2.attn_q.bias").is_weight());
  EXPECT_EQ(tensor_layer("blk.31.ffn_up.weight"), 31);
  EXPECT_EQ(tensor_layer("blk.31"), -1);  // no kind after the layer
  EXPECT_EQ(tensor_layer("token_embd.weight"), -1);
  for (const auto& c : {TensorCategory::kAttnQ, TensorCategory::kFfnDown, TensorCategory::kEmbedding,
                        TensorCategory::kNorm, TensorCategory::kOther}) {
    EXPECT_EQ(parse_category(category_name(c)), c);
  }
  EXPECT_FALSE(parse_category("attn").has_value());
}

TEST(Recipes, NamesResolve) {
  EXPECT_EQ(Recipe::named_recipes(), (std::vector<std::string>{"q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s",
                                                              "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"}));
  // A scheme name where a scheme is expected is uniform; a mix name there is the mix.
  EXPECT_EQ(recipe_for_scheme_name("q2_k")->llama_ftype, "");
  EXPECT_EQ(recipe_for_scheme_name("q4_k_m")->llama_ftype, "q4_k_m");
  EXPECT_EQ(recipe_for_scheme_name("q4_k_m")->base, "q4_k");
  EXPECT_EQ(find_recipe("q2_k")->llama_ftype, "q2_k");
  EXPECT_EQ(find_recipe("Q6_K")->base, "q6_k");
  EXPECT_FALSE(find_recipe("q4_0").ok());
  EXPECT_FALSE(recipe_for_scheme_name("q9_k").ok());
  EXPECT_FALSE(find_recipe("/nonexistent/recipe.json").ok());
}

// 8 layers (n/8 = 1: use_more_bits is layers 0, 3, 6, 7), GQA 4, rows of 256 and 512.
TEST(Recipes, LlamaMixesOn256Model) {
  const ShapeModel m(256, 512, 8, 8, 2, 512, false);
  const std::set<int64_t> more = {0, 3, 6, 7};
  for (const auto& name : Recipe::named_recipes()) {
    const Recipe r = *Recipe::named(name);
    const auto t = types(r, m);
    const std::string base = r.base;
    EXPECT_EQ(t.at("output.weight"), "q6_k") << name;
    EXPECT_EQ(t.at("token_embd.weight"), base) << name;
    EXPECT_EQ(t.at("output_norm.weight"), "f32") << name;
    for (int64_t l = 0; l < 8; ++l) {
      auto at = [&](const char* k) { return t.at(tensor_name(l, k)); };
      EXPECT_EQ(at("attn_norm"), "f32");
      EXPECT_EQ(at("attn_q"), base) << name << " layer " << l;
      EXPECT_EQ(at("attn_k"), base) << name << " layer " << l;
      EXPECT_EQ(at("ffn_gate"), base) << name << " layer " << l;
      EXPECT_EQ(at("ffn_up"), base) << name << " layer " << l;
      std::string v = base, down = base, o = base;
      if (name == "q2_k") { v = "q4_k"; down = "q3_k"; o = "q3_k"; }  // n_gqa 4 >= 4
      if (name == "q3_k_m") { v = l < 2 ? "q5_k" : "q4_k"; down = "q4_k"; o = "q4_k"; }  // l < 8/16 never
      if (name == "q3_k_l") { v = down = o = "q5_k"; }
      if (name == "q4_k_s") { v = l < 4 ? "q5_k" : base; down = l < 1 ? "q5_k" : base; }
      if (name == "q4_k_m" || name == "q5_k_m") { v = down = more.count(l) ? "q6_k" : base; }
      EXPECT_EQ(at("attn_v"), v) << name << " layer " << l;
      EXPECT_EQ(at("ffn_down"), down) << name << " layer " << l;
      EXPECT_EQ(at("attn_output"), o) << name << " layer " << l;
    }
  }
}

TEST(Recipes, GqaTiedAndLayerCount) {
  // GQA below 4: q2_k's attn_v is q3_k. Tied: the embedding is the head (q6_k).
  const ShapeModel m(256, 512, 16, 4, 4, 512, true);
  auto t = types(*Recipe::named("q2_k"), m);
  EXPECT_EQ(t.at("blk.5.attn_v.weight"), "q3_k");
  EXPECT_EQ(t.at("token_embd.weight"), "q6_k");
  EXPECT_EQ(t.count("output.weight"), 0u);
  // 16 layers: n/16 = 1, so q3_k_m's ffn_down is q5_k in layer 0 only; use_more_bits with n/8 = 2
  // is layers 0, 1, 4, 7, 10, 13, 14, 15.
  t = types(*Recipe::named("q3_k_m"), m);
  EXPECT_EQ(t.at("blk.0.ffn_down.weight"), "q5_k");
  EXPECT_EQ(t.at("blk.1.ffn_down.weight"), "q4_k");
  t = types(*Recipe::named("q4_k_m"), m);
  for (int64_t l = 0; l < 16; ++l) {
    const bool more = l < 2 || l >= 14 || (l - 2) % 3 == 2;
    EXPECT_EQ(t.at(tensor_name(l, "ffn_down")), more ? "q6_k" : "q4_k") << l;
  }
  // A uniform GGUF scheme keeps llama.cpp's head rule, and nothing else.
  t = types(*Recipe::uniform("q2_k"), m);
  EXPECT_EQ(t.at("token_embd.weight"), "q6_k");
  EXPECT_EQ(t.at("blk.5.attn_v.weight"), "q2_k");
  EXPECT_EQ(types(*Recipe::uniform("q8_0"), m).at("token_embd.weight"), "q8_0");
}

TEST(Recipes, FallbacksOnSmallRows) {
  // stories260K-like: rows of 64 and 172, no k-quant fits.
  const ShapeModel m(64, 172, 5, 8, 4, 512, true);
  auto plans = Recipe::named("q4_k_m")->resolve(m, quant::OutputFormat::kGguf);
  ASSERT_TRUE(plans.ok());
  std::map<std::string, quant::TensorPlan> by;
  for (const auto& p : *plans) by[p.name] = p;
  EXPECT_EQ(by["blk.1.attn_q.weight"].scheme->name(), "q5_0");  // q4_k -> q5_0
  EXPECT_EQ(by["blk.1.attn_q.weight"].requested, "q4_k");
  // 5 layers: use_more_bits is layers 2 and 4 (n/8 = 0, 7n/8 = 4).
  EXPECT_EQ(by["blk.2.attn_v.weight"].scheme->name(), "q8_0");  // q6_k -> q8_0
  EXPECT_EQ(by["blk.2.attn_v.weight"].requested, "q6_k");
  EXPECT_EQ(by["blk.0.attn_v.weight"].scheme->name(), "q5_0");  // q4_k -> q5_0
  EXPECT_EQ(by["blk.1.ffn_down.weight"].scheme->name(), "fp16");  // 172 fits no 32-block: F16
  EXPECT_EQ(by["token_embd.weight"].scheme->name(), "q8_0");  // head, 64 % 256 != 0: q8_0 directly
  EXPECT_EQ(by["token_embd.weight"].requested, "");
  auto t = types(*Recipe::named("q2_k"), m);
  EXPECT_EQ(t.at("blk.2.attn_q.weight"), "q4_0");  // q2_k -> q4_0
  EXPECT_EQ(t.at("blk.2.attn_output.weight"), "q4_0");  // q3_k -> q4_0
  EXPECT_EQ(t.at("blk.2.attn_v.weight"), "q4_0");  // n_gqa 2: q3_k -> q4_0
  EXPECT_EQ(types(*Recipe::named("q5_k_s"), m).at("blk.2.attn_q.weight"), "q5_1");
}

TEST(Recipes, RulesWinInOrderButNotOverNorms) {
  const ShapeModel m(256, 512, 8, 8, 2, 512, false);
  Recipe r = *Recipe::named("q4_k_m");
  r.rules.push_back(rule(TensorCategory::kAttnV, "", 2, 4, "q8_0"));
  r.rules.push_back(rule(TensorCategory::kAttnV, "", -1, -1, "q5_k"));
  r.prepend_rules({rule(std::nullopt, "blk\\.3\\.", -1, -1, "q2_k")});
  r.rules.push_back(rule(std::nullopt, "norm", -1, -1, "q4_0"));
  const auto t = types(r, m);
  EXPECT_EQ(t.at("blk.3.attn_v.weight"), "q2_k");   // the prepended rule first
  EXPECT_EQ(t.at("blk.2.attn_v.weight"), "q8_0");   // layer range
  EXPECT_EQ(t.at("blk.4.attn_v.weight"), "q8_0");
  EXPECT_EQ(t.at("blk.0.attn_v.weight"), "q5_k");   // over the mix's q6_k
  EXPECT_EQ(t.at("blk.0.ffn_down.weight"), "q6_k");  // the mix where no rule matches
  EXPECT_EQ(t.at("blk.0.attn_norm.weight"), "f32");
  auto plans = r.resolve(m, quant::OutputFormat::kGguf);
  EXPECT_EQ((*plans)[0].name, "token_embd.weight");  // model order
}

TEST(Recipes, NonGgufSchemes) {
  const ShapeModel m(256, 512, 2, 8, 2, 512, false);
  auto t = types(*Recipe::uniform("nvfp4"), m, quant::OutputFormat::kSafetensors);
  EXPECT_EQ(t.at("blk.0.attn_q.weight"), "nvfp4");
  EXPECT_EQ(t.at("token_embd.weight"), "bf16");
  EXPECT_EQ(t.at("output.weight"), "bf16");
  EXPECT_FALSE(Recipe::uniform("nvfp4")->resolve(m, quant::OutputFormat::kGguf).ok());
  EXPECT_EQ(Recipe::uniform("nvfp4")->preferred_format(), quant::OutputFormat::kSafetensors);
  EXPECT_EQ(Recipe::named("q4_k_m")->preferred_format(), quant::OutputFormat::kGguf);
  t = types(*Recipe::uniform("bf16"), m, quant::OutputFormat::kSafetensors);
  EXPECT_EQ(t.at("token_embd.weight"), "bf16");
  EXPECT_EQ(t.at("output_norm.weight"), "f32");
}

TEST(Recipes, FallbackTable) {
  auto fb = [](const char* s, int64_t cols) {
    return (*fallback_scheme(**quant::find_scheme(s), 4, cols, quant::OutputFormat::kGguf))->name();
  };
  EXPECT_EQ(fb("q2_k", 64), "q4_0");
  EXPECT_EQ(fb("q3_k", 64), "q4_0");
  EXPECT_EQ(fb("q4_k", 64), "q5_0");
  EXPECT_EQ(fb("q5_k", 64), "q5_1");
  EXPECT_EQ(fb("q6_k", 64), "q8_0");
  EXPECT_EQ(fb("q6_k", 48), "fp16");
  EXPECT_EQ(fb("q4_0", 48), "fp16");
}

TEST(Recipes, JsonRoundTripAndErrors) {
  Recipe r = *Recipe::named("q3_k_m");
  r.rules.push_back(rule(TensorCategory::kFfnDown, "", 0, 3, "q6_k", "gptq"));
  r.rules.push_back(rule(std::nullopt, "attn_(q|k)", 5, -1, "q8_0"));
  auto back = Recipe::from_json(r.to_json());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->to_json(), r.to_json());
  EXPECT_EQ(back->rules[1].layer_max, -1);
  EXPECT_EQ(back->rules[0].method, "gptq");
  const ShapeModel m(256, 512, 8, 8, 2, 512, false);
  EXPECT_EQ(types(*back, m), types(r, m));

  const auto dir = std::filesystem::temp_directory_path() / "bitsmith_recipe_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "mix.json").string();
  ASSERT_TRUE(r.save(path).ok());
  auto loaded = find_recipe(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(types(*loaded, m), types(r, m));
  std::filesystem::remove_all(dir);

  for (const char* bad : {"[]", "{}", R"({"base": "q9"})", R"({"base": "q4_k", "extra": 1})",
                          R"({"base": "q4_k", "rules": [{"scheme": "q8_0", "category": "attn"}]})",
                          R"({"base": "q4_k", "rules": [{"scheme": "q8_0", "pattern": "(["}]})",
                          R"({"base": "q4_k", "rules": [{"pattern": "x"}]})",
                          R"({"base": "q4_k", "rules": [{"scheme": "q8_0", "layers": [3, 1]}]})",
                          R"({"base": "q4_k", "llama_ftype": "q4_k_x"})",
                          R"({"base": "nvfp4", "llama_ftype": "q4_k_m"})", "not json"}) {
    EXPECT_FALSE(Recipe::from_json(bad).ok()) << bad;
  }
}

TEST(Recipes, PlanBitsPerWeight) {
  const ShapeModel m(256, 512, 8, 8, 2, 512, false);
  auto q4 = Recipe::uniform("q4_k")->resolve(m, quant::OutputFormat::kGguf);
  auto q4m = Recipe::named("q4_k_m")->resolve(m, quant::OutputFormat::kGguf);
  auto q6 = Recipe::uniform("q6_k")->resolve(m, quant::OutputFormat::kGguf);
  // The mix spends more bits than uniform q4_k and fewer than q6_k.
  EXPECT_GT(plan_bits_per_weight(*q4m), plan_bits_per_weight(*q4));
  EXPECT_LT(plan_bits_per_weight(*q4m), plan_bits_per_weight(*q6));
}

}  // namespace
}  // namespace bitsmith::plan
