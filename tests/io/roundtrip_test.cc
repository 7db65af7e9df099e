// Every registered scheme through both writers and back through the readers: what load_f32
// returns must be exactly the scheme's own dequantization of the source (bytes stored intact,
// layouts and tensor scales preserved), for GGUF and safetensors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
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
  cfg.scheme = "f32";
  cfg.format = fmt;
  cfg.rules = {{"ffn_up", s.name()}};
  auto rep = quantize_model(**src, out.string(), cfg);
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
    if (gguf_type_of(*s) < 0) continue;
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

TEST_F(RoundTrip, HalfSplitSourceIsPermutedForGguf) {
  // safetensors (HF, half-split) -> GGUF must reorder q/k rows; back to safetensors restores them.
  auto src = make_synthetic_model(small());
  ASSERT_TRUE(src.ok());
  QuantizeConfig cfg;
  cfg.scheme = "f32";
  cfg.format = OutputFormat::kSafetensors;
  ASSERT_TRUE(quantize_model(**src, (dir / "hf").string(), cfg).ok());
  auto hf = open_model((dir / "hf").string());
  ASSERT_TRUE(hf.ok());
  EXPECT_EQ((*hf)->hyperparameters().rope_style, RopeStyle::kHalfSplit);
  cfg.format = OutputFormat::kGguf;
  ASSERT_TRUE(quantize_model(**hf, (dir / "back.gguf").string(), cfg).ok());
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
