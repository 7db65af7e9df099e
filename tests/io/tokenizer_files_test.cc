// Vocabulary round trips: tokenizer.json (llama style and gpt2 byte-level) and GGUF metadata.
#include <gtest/gtest.h>

#include <filesystem>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/io/synth.h"
#include "bitsmith/io/tokenizer_files.h"
#include "bitsmith/plan/recipe.h"

namespace bitsmith::io {
namespace {

namespace fs = std::filesystem;

class TokenizerFiles : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("bitsmith_tok_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
};

TEST_F(TokenizerFiles, Gpt2VocabularyThroughTokenizerJson) {
  Vocabulary v;
  v.model = "gpt2";
  v.tokens = {"a", "b", "\xC4\xA0", "ab", "\xC4\xA0" "a", "<|endoftext|>"};
  v.types = {TokenType::kNormal, TokenType::kNormal, TokenType::kNormal, TokenType::kNormal, TokenType::kNormal,
             TokenType::kControl};
  v.scores.assign(6, 0.0f);
  v.merges = {"a b", "\xC4\xA0 a"};
  v.bos_id = v.eos_id = 5;
  v.add_bos = false;
  ASSERT_TRUE(write_hf_tokenizer(v, dir.string()).ok());
  auto r = read_hf_tokenizer((dir / "tokenizer.json").string());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "gpt2");
  EXPECT_EQ(r->tokens, v.tokens);
  EXPECT_EQ(r->merges, v.merges);
  EXPECT_EQ(r->eos_id, 5);
  EXPECT_EQ(r->types[5], TokenType::kControl);
  EXPECT_FALSE(r->add_bos);
}

// The pre-tokenizer travels in tokenizer.json as Hugging Face spells it (SmolLM2: digits one by
// one then the GPT-2 regex; Llama 3 / Qwen2: their Split regex), so a SmolLM2 vocabulary (which
// has <|im_start|>) is not read back as qwen2, and HF tokenizes as bitsmith does.
TEST_F(TokenizerFiles, PreTokenizerThroughTokenizerJson) {
  for (const char* pre : {"smollm", "qwen2", "llama-bpe", "gpt2"}) {
    Vocabulary v;
    v.model = "gpt2";
    v.pre = pre;
    v.tokens = {"a", "b", "ab", "<|im_start|>"};
    v.types = {TokenType::kNormal, TokenType::kNormal, TokenType::kNormal, TokenType::kControl};
    v.scores.assign(4, 0.0f);
    v.merges = {"a b"};
    v.bos_id = v.eos_id = 3;
    v.add_bos = false;
    const fs::path d = dir / pre;
    fs::create_directories(d);
    ASSERT_TRUE(write_hf_tokenizer(v, d.string()).ok());
    auto r = read_hf_tokenizer((d / "tokenizer.json").string());
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->pre, pre);
  }
}

TEST_F(TokenizerFiles, LlamaScoresBecomeMergeRanks) {
  Vocabulary v = synthetic_vocabulary(400);
  ASSERT_TRUE(write_hf_tokenizer(v, dir.string()).ok());
  auto r = read_hf_tokenizer((dir / "tokenizer.json").string());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "llama");
  EXPECT_EQ(r->tokens, v.tokens);
  EXPECT_EQ(r->types, v.types);
  // Scores are rebuilt from merge ranks: same order among tokens made by merges.
  for (size_t i = 300; i + 1 < v.tokens.size(); ++i) {
    if (r->scores[i] != 0.0f && r->scores[i + 1] != 0.0f) {
      EXPECT_EQ(v.scores[i] > v.scores[i + 1], r->scores[i] > r->scores[i + 1]) << i;
    }
  }
  EXPECT_EQ(r->bos_id, 1);
  EXPECT_EQ(r->eos_id, 2);
}

TEST_F(TokenizerFiles, GgufCarriesTheVocabularyExactly) {
  SynthConfig c;
  c.dim = 64;
  c.hidden_dim = 128;
  c.n_layers = 1;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.vocab_size = 700;
  auto src = make_synthetic_model(c);
  ASSERT_TRUE(src.ok());
  QuantizeConfig q;
  q.format = OutputFormat::kGguf;
  auto plans = plan::Recipe::uniform("f32")->resolve(**src, q.format);
  ASSERT_TRUE(plans.ok());
  ASSERT_TRUE(quantize_model(**src, (dir / "v.gguf").string(), *plans, q).ok());
  auto m = open_model((dir / "v.gguf").string());
  ASSERT_TRUE(m.ok());
  const Vocabulary& a = (*src)->vocabulary();
  const Vocabulary& b = (*m)->vocabulary();
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.scores, b.scores);
  EXPECT_EQ(a.types, b.types);
  EXPECT_EQ(b.model, "llama");
  EXPECT_EQ((*m)->hyperparameters().vocab_size, 700);
}

}  // namespace
}  // namespace bitsmith::io
