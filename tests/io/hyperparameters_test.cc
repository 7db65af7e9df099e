// Hyperparameters that GGUF cannot hold are refused by the writer, never written truncated.
#include <gtest/gtest.h>

#include <filesystem>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/io/synth.h"
#include "bitsmith/plan/recipe.h"

namespace bitsmith::io {
namespace {

namespace fs = std::filesystem;

// A model that forwards to another but reports different hyperparameters.
class WithHyperparameters : public Model {
 public:
  WithHyperparameters(const Model& m, LlamaHyperparameters hp) : m_(m), hp_(std::move(hp)) {}
  const std::string& path() const override { return m_.path(); }
  std::string_view file_format() const override { return m_.file_format(); }
  const LlamaHyperparameters& hyperparameters() const override { return hp_; }
  const Vocabulary& vocabulary() const override { return m_.vocabulary(); }
  const std::vector<ModelTensorInfo>& tensors() const override { return m_.tensors(); }
  bool has_tensor(const std::string& name) const override { return m_.has_tensor(name); }
  Result<Tensor> load_f32(const std::string& name) const override { return m_.load_f32(name); }

 private:
  const Model& m_;
  LlamaHyperparameters hp_;
};

TEST(GgufWriter, RefusesHyperparametersPastU32) {
  SynthConfig c;
  c.dim = 64;
  c.hidden_dim = 128;
  c.n_layers = 1;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = 300;
  auto src = make_synthetic_model(c);
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  const fs::path out = fs::temp_directory_path() / ("bitsmith_hp_" + std::to_string(::getpid()) + ".gguf");
  QuantizeConfig cfg;
  cfg.format = OutputFormat::kGguf;
  auto plans = plan::Recipe::uniform("f32")->resolve(**src, cfg.format);
  ASSERT_TRUE(plans.ok()) << plans.status().to_string();
  {
    LlamaHyperparameters hp = (*src)->hyperparameters();
    hp.context_length = (int64_t{1} << 32) + 16;  // would come back as 16 if truncated to u32
    WithHyperparameters m(**src, hp);
    auto r = quantize_model(m, out.string(), *plans, cfg);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("llama.context_length = 4294967312 does not fit GGUF's u32"), std::string::npos)
        << r.status().message();
    EXPECT_FALSE(fs::exists(out));
  }
  {
    LlamaHyperparameters hp = (*src)->hyperparameters();
    hp.context_length = UINT32_MAX;  // the largest that fits is written and read back exactly
    WithHyperparameters m(**src, hp);
    auto r = quantize_model(m, out.string(), *plans, cfg);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    auto back = open_model(out.string());
    fs::remove(out);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ((*back)->hyperparameters().context_length, int64_t{UINT32_MAX});
  }
}

}  // namespace
}  // namespace bitsmith::io
