// Every registered scheme through both writers and back through the readers: what load_f32
// returns must be exactly the scheme's own dequantization of the source (bytes stored intact,
// layouts and tensor scales preserved), for GGUF and safetensors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/io/safetensors.h"
#include "bitsmith/io/synth.h"

namespace bitsmith::io {
namespace {

namespace fs = std::filesystem;

class RoundTrip : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("bitsmith_rt_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
};

// dim 256 / hidden 512 fit every block size (16, 32, 128, 256) and 128x128 tiles.
SynthConfig small() {
  SynthConfig c;
  c.dim = 256;
  c.hidden_dim = 512;
  c.n_layers = 1;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = 300;
  return c;
}

void check_scheme(const fs::path& out, OutputFormat fmt, const quant::Scheme& s) {
  auto src = make_synthetic_model(small());
  ASSERT_TRUE(src.ok());
  QuantizeConfig cfg;
  cfg.format = fmt;
  plan::Recipe recipe = *plan::Recipe::uniform("f32");
  plan::RecipeRule rule;
  rule.pattern = "ffn_up";
  rule.scheme = s.name();
  recipe.rules = {rule};
  auto plans = recipe.resolve(**src, fmt);
  ASSERT_TRUE(plans.ok()) << plans.status().to_string();
  auto rep = quantize_model(**src, out.string(), *plans, cfg);
  ASSERT_TRUE(rep.ok()) << s.name() << ": " << rep.status().to_string();
  auto m = open_model(fmt == OutputFormat::kGguf ? out.string() : out.string());
  ASSERT_TRUE(m.ok()) << s.name() << ": " << m.status().to_string();
  auto got = (*m)->load_f32("blk.0.ffn_up.weight");
  ASSERT_TRUE(got.ok()) << s.name() << ": " << got.status().to_string();
  auto w = (*src)->load_f32("blk.0.ffn_up.weight");
  ASSERT_TRUE(w.ok());
  const int64_t rows = w->shape().rows(), cols = w->shape().cols();
  std::vector<float> want(static_cast<size_t>(rows * cols));
  ASSERT_TRUE(s.fake_quantize(w->as<float>().data(), rows, cols, want.data()).ok());
  auto g = got->as<float>();
  ASSERT_EQ(g.size(), want.size());
  // compressed-tensors stores nvfp4's second-level scale as its reciprocal (global_scale = 1/S in
  // float32), so reading it back gives S to within an ulp or two: the only inexact case.
  const bool reciprocal = fmt == OutputFormat::kSafetensors && s.name() == "nvfp4";
  for (size_t i = 0; i < want.size(); ++i) {
    if (reciprocal) {
      ASSERT_NEAR(g[i], want[i], std::abs(want[i]) * 0x1p-21f) << s.name() << " element " << i;
    } else {
      ASSERT_EQ(g[i], want[i]) << s.name() << " element " << i;
    }
  }
  // The tensor is listed under the scheme's name (or its GGUF type's plain dtype).
  for (const auto& t : (*m)->tensors()) {
    if (t.name == "blk.0.ffn_up.weight" && s.traits().granularity != quant::Granularity::kElement) {
      EXPECT_EQ(t.storage, s.name());
    }
  }
}

TEST_F(RoundTrip, EveryGgufSchemeThroughGguf) {
  int n = 0;
  for (const quant::Scheme* s : quant::listed_schemes()) {
    if (quant::gguf_type_of(*s) < 0) continue;
    check_scheme(dir / (s->name() + ".gguf"), OutputFormat::kGguf, *s);
    ++n;
  }
  EXPECT_GE(n, 3);  // f32, fp16, bf16 at least; every ggml block type the registry has
}

TEST_F(RoundTrip, EverySchemeThroughSafetensors) {
  int n = 0;
  for (const quant::Scheme* s : quant::listed_schemes()) {
    check_scheme(dir / s->name(), OutputFormat::kSafetensors, *s);
    ++n;
  }
  EXPECT_GE(n, 3);
}

// Integer widths and groups the registry does not list go through compressed-tensors'
// pack-quantized (dense int32 packing, zero points packed down the rows) and back exactly.
TEST_F(RoundTrip, PackQuantizedIntegerWidths) {
  for (const char* name : {"int3_g32", "int2_g16_sym", "int8_g64", "int5_grow", "int4_grow_sym", "int6_g256", "int7_g128_sym"}) {
    auto s = quant::find_scheme(name);
    ASSERT_TRUE(s.ok()) << name;
    check_scheme(dir / name, OutputFormat::kSafetensors, **s);
  }
}

// Which layout each scheme is stored in, and the config.json that goes with it: compressed-
// tensors formats per config group, "mixed-precision" when they differ; any weight in bitsmith's
// own layout makes the whole folder model_type bitsmith_packed (other loaders refuse it).
std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

nlohmann::json quantize_and_config(const fs::path& out, const std::vector<std::pair<std::string, std::string>>& rules,
                                   bool fractional_zeros = false) {
  auto src = make_synthetic_model(small());
  EXPECT_TRUE(src.ok());
  QuantizeConfig cfg;
  cfg.format = OutputFormat::kSafetensors;
  cfg.fractional_zero_points = fractional_zeros;
  plan::Recipe recipe = *plan::Recipe::uniform("f32");
  for (const auto& [pattern, scheme] : rules) {
    plan::RecipeRule r;
    r.pattern = pattern;
    r.scheme = scheme;
    recipe.rules.push_back(r);
  }
  auto plans = recipe.resolve(**src, cfg.format);
  EXPECT_TRUE(plans.ok()) << plans.status().to_string();
  auto rep = quantize_model(**src, out.string(), *plans, cfg);
  EXPECT_TRUE(rep.ok()) << rep.status().to_string();
  return nlohmann::json::parse(read_text(out / "config.json"));
}

TEST_F(RoundTrip, CompressedTensorsConfigGroups) {
  auto c = quantize_and_config(dir / "mixed", {{"ffn_up", "int4_g128"}, {"ffn_down", "mxfp4"}, {"attn_q", "fp8_e4m3"}});
  const auto& qc = c["quantization_config"];
  EXPECT_EQ(qc["quant_method"], "compressed-tensors");
  EXPECT_EQ(qc["format"], "mixed-precision");
  std::map<std::string, nlohmann::json> by_format;
  for (const auto& [k, g] : qc["config_groups"].items()) by_format[g["format"].get<std::string>()] = g;
  ASSERT_EQ(by_format.size(), 3u);
  EXPECT_EQ(by_format["pack-quantized"]["targets"], nlohmann::json({"model.layers.0.mlp.up_proj"}));
  EXPECT_EQ(by_format["pack-quantized"]["weights"]["num_bits"], 4);
  EXPECT_EQ(by_format["pack-quantized"]["weights"]["group_size"], 128);
  EXPECT_EQ(by_format["pack-quantized"]["weights"]["symmetric"], false);
  EXPECT_EQ(by_format["mxfp4-pack-quantized"]["weights"]["scale_dtype"], "torch.uint8");
  EXPECT_EQ(by_format["float-quantized"]["weights"]["strategy"], "tensor");
  EXPECT_EQ(c["model_type"], "llama");
  auto m = open_model((dir / "mixed").string());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto bytes = read_text(dir / "mixed" / "model.safetensors");
  EXPECT_NE(bytes.find("\"model.layers.0.mlp.up_proj.weight_zero_point\":{\"dtype\":\"I32\""), std::string::npos);

  // One private weight (mxint8 has no compressed-tensors format): refused by other loaders.
  c = quantize_and_config(dir / "private", {{"ffn_up", "int4_g128"}, {"ffn_down", "mxint8"}});
  EXPECT_EQ(c["model_type"], kPrivateModelType);
  EXPECT_EQ(c["bitsmith_model_type"], "llama");
  EXPECT_EQ(c["quantization_config"]["quant_method"], "bitsmith");
  m = open_model((dir / "private").string());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->hyperparameters().architecture, "llama");

  // A quantized embedding: compressed-tensors quantizes Linear modules only.
  c = quantize_and_config(dir / "embd", {{"token_embd", "int8"}, {"ffn_up", "int8"}});
  EXPECT_EQ(c["model_type"], kPrivateModelType);
  m = open_model((dir / "embd").string());
  ASSERT_TRUE(m.ok()) << m.status().to_string();

  // Fractional zero points (HQQ) keep asymmetric integer schemes private; symmetric ones need none.
  c = quantize_and_config(dir / "hqq", {{"ffn_up", "int4_g128"}}, /*fractional_zeros=*/true);
  EXPECT_EQ(c["model_type"], kPrivateModelType);
  c = quantize_and_config(dir / "hqq_sym", {{"ffn_up", "int4_g128_sym"}}, /*fractional_zeros=*/true);
  EXPECT_EQ(c["quantization_config"]["format"], "pack-quantized");
}

// Static activation scales: written beside each quantized block linear from the given input
// ranges and read back as the same ranges; the output head and bf16 linears get none; a range
// missing for a linear that needs one, or a scheme that cannot carry them, is refused before
// anything is written.
TEST_F(RoundTrip, StaticActivationScales) {
  auto src = make_synthetic_model(small());
  ASSERT_TRUE(src.ok());
  plan::Recipe recipe = *plan::Recipe::uniform("nvfp4");
  plan::RecipeRule down, up, head;
  down.pattern = "ffn_down";
  down.scheme = "fp8_e4m3_channel";
  up.pattern = "ffn_up";
  up.scheme = "bf16";
  head.category = TensorCategory::kOutput;
  head.scheme = "fp8_e4m3";
  recipe.rules = {down, up, head};
  auto plans = recipe.resolve(**src, OutputFormat::kSafetensors);
  ASSERT_TRUE(plans.ok()) << plans.status().to_string();
  std::map<std::string, float> amax;
  float a = 1.5f;
  for (const auto& p : *plans) amax[p.name] = (a *= 1.25f);
  QuantizeConfig cfg;
  cfg.format = OutputFormat::kSafetensors;
  cfg.activations = Activations::kStatic;
  auto missing = quantize_model(**src, (dir / "missing").string(), *plans, cfg);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("calibrated input range"), std::string::npos) << missing.status().message();
  EXPECT_FALSE(fs::exists(dir / "missing"));
  cfg.input_amax = &amax;
  auto rep = quantize_model(**src, (dir / "w4a4").string(), *plans, cfg);
  ASSERT_TRUE(rep.ok()) << rep.status().to_string();
  auto m = open_model((dir / "w4a4").string());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto& got = dynamic_cast<const FileModel&>(**m).static_inputs();
  std::map<std::string, std::string> want = {{"blk.0.attn_q.weight", "nvfp4"}, {"blk.0.attn_k.weight", "nvfp4"},
                                             {"blk.0.attn_v.weight", "nvfp4"}, {"blk.0.attn_output.weight", "nvfp4"},
                                             {"blk.0.ffn_gate.weight", "nvfp4"}, {"blk.0.ffn_down.weight", "fp8_e4m3"}};
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, scheme] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_EQ(got.at(name).scheme->name(), scheme) << name;
    EXPECT_NEAR(got.at(name).amax, amax.at(name), 1e-6 * amax.at(name)) << name;
  }
  const auto c = nlohmann::json::parse(read_text(dir / "w4a4" / "config.json"));
  int with = 0, without = 0;
  for (const auto& [k, g] : c["quantization_config"]["config_groups"].items()) {
    const bool head_group = g["targets"] == nlohmann::json({"lm_head"});
    (g["input_activations"].is_null() ? without : with) += 1;
    EXPECT_EQ(g["input_activations"].is_null(), head_group) << g.dump();
  }
  EXPECT_EQ(with, 2);     // nvfp4 W4A4 and fp8 channel W8A8
  EXPECT_EQ(without, 1);  // the output head: fp8 weights, float inputs
  cfg.activations = Activations::kDynamic;
  auto dynamic = quantize_model(**src, (dir / "dynamic").string(), *plans, cfg);
  ASSERT_FALSE(dynamic.ok());
  EXPECT_NE(dynamic.status().message().find("nvfp4"), std::string::npos) << dynamic.status().message();
}

// A single file with its own name: model.safetensors.index.json names it, so the folder opens.
TEST_F(RoundTrip, CustomNameGetsAnIndex) {
  auto src = make_synthetic_model(small());
  ASSERT_TRUE(src.ok());
  QuantizeConfig cfg;
  cfg.format = OutputFormat::kSafetensors;
  fs::create_directories(dir / "named");
  auto plans = plan::Recipe::uniform("bf16")->resolve(**src, cfg.format);
  ASSERT_TRUE(plans.ok()) << plans.status().to_string();
  auto rep = quantize_model(**src, (dir / "named" / "mine.safetensors").string(), *plans, cfg);
  ASSERT_TRUE(rep.ok()) << rep.status().to_string();
  auto index = nlohmann::json::parse(read_text(dir / "named" / kSafetensorsIndex));
  EXPECT_EQ(index["weight_map"]["model.layers.0.mlp.up_proj.weight"], "mine.safetensors");
  auto m = open_model((dir / "named").string());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_TRUE((*m)->has_tensor("blk.0.ffn_up.weight"));
  // Writing it again over itself is allowed (the index is its own, not another model's).
  rep = quantize_model(**src, (dir / "named" / "mine.safetensors").string(), *plans, cfg);
  EXPECT_TRUE(rep.ok()) << rep.status().to_string();
}

TEST_F(RoundTrip, HalfSplitSourceIsPermutedForGguf) {
  // safetensors (HF, half-split) -> GGUF must reorder q/k rows; back to safetensors restores them.
  auto src = make_synthetic_model(small());
  ASSERT_TRUE(src.ok());
  QuantizeConfig cfg;
  cfg.format = OutputFormat::kSafetensors;
  const plan::Recipe f32 = *plan::Recipe::uniform("f32");
  ASSERT_TRUE(quantize_model(**src, (dir / "hf").string(), *f32.resolve(**src, cfg.format), cfg).ok());
  auto hf = open_model((dir / "hf").string());
  ASSERT_TRUE(hf.ok());
  EXPECT_EQ((*hf)->hyperparameters().rope_style, RopeStyle::kHalfSplit);
  cfg.format = OutputFormat::kGguf;
  ASSERT_TRUE(quantize_model(**hf, (dir / "back.gguf").string(), *f32.resolve(**hf, cfg.format), cfg).ok());
  auto back = open_model((dir / "back.gguf").string());
  ASSERT_TRUE(back.ok());
  for (const char* name : {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"}) {
    auto a = (*src)->load_f32(name), b = (*back)->load_f32(name), h = (*hf)->load_f32(name);
    ASSERT_TRUE(a.ok() && b.ok() && h.ok());
    EXPECT_EQ(std::memcmp(a->data(), b->data(), a->nbytes()), 0) << name;
    if (std::string(name) != "blk.0.attn_v.weight") {
      EXPECT_NE(std::memcmp(a->data(), h->data(), a->nbytes()), 0) << name;
    }
  }
}

}  // namespace
}  // namespace bitsmith::io
