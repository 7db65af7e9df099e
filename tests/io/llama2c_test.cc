// llama2.c checkpoint + tokenizer reader on the real stories260K files.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/tokenizer_files.h"

namespace bitsmith::io {
namespace {

const std::string kDir = std::string(BITSMITH_SHARED_DIR) + "/models/stories260K";

std::vector<char> slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

TEST(Llama2c, OpensStories260KWithTokenizerBeside) {
  auto m = open_model(kDir + "/stories260K.bin");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const Model& model = **m;
  EXPECT_EQ(model.file_format(), "llama2c");
  const auto& hp = model.hyperparameters();
  EXPECT_EQ(hp.dim, 64);
  EXPECT_EQ(hp.hidden_dim, 172);
  EXPECT_EQ(hp.n_layers, 5);
  EXPECT_EQ(hp.n_heads, 8);
  EXPECT_EQ(hp.n_kv_heads, 4);
  EXPECT_EQ(hp.head_dim, 8);
  EXPECT_EQ(hp.vocab_size, 512);
  EXPECT_EQ(hp.context_length, 512);
  EXPECT_TRUE(hp.tied_embeddings);
  EXPECT_EQ(hp.rope_style, RopeStyle::kInterleaved);
  // token_embd + output_norm + 9 per layer; no output.weight (shared), no RoPE tables.
  EXPECT_EQ(model.tensors().size(), 2u + 9u * 5u);
  EXPECT_FALSE(model.has_tensor("output.weight"));
  const Vocabulary& v = model.vocabulary();
  ASSERT_EQ(v.tokens.size(), 512u);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.types[1], TokenType::kControl);
  EXPECT_EQ(v.types[3], TokenType::kByte);
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[259], "\xE2\x96\x81t");  // " t" with SentencePiece's space
  EXPECT_EQ(v.scores[260], -1.0f);
  EXPECT_EQ(v.types[260], TokenType::kNormal);
}

TEST(Llama2c, TensorsMatchTheFileBytes) {
  auto m = open_model(kDir + "/stories260K.bin", kDir + "/tok512.bin");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto raw = slurp(kDir + "/stories260K.bin");
  // Offsets from the llama2.c layout: header 28 bytes, embedding 512*64, rms_att 5*64, wq 5*64*64.
  const size_t emb = 28, wq0 = 28 + 4 * (512 * 64 + 5 * 64);
  auto e = (*m)->load_f32("token_embd.weight");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->shape(), (Shape{512, 64}));
  EXPECT_EQ(std::memcmp(e->data(), raw.data() + emb, 512 * 64 * 4), 0);
  auto q1 = (*m)->load_f32("blk.1.attn_q.weight");
  ASSERT_TRUE(q1.ok());
  EXPECT_EQ(std::memcmp(q1->data(), raw.data() + wq0 + 64 * 64 * 4, 64 * 64 * 4), 0);
  auto w2 = (*m)->load_f32("blk.4.ffn_down.weight");
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ(w2->shape(), (Shape{64, 172}));
  auto norm = (*m)->load_f32("output_norm.weight");
  ASSERT_TRUE(norm.ok());
  // output_norm is the last array before the two RoPE tables (512 x 4 floats each).
  size_t norm_off = raw.size() - 2 * 512 * 4 * 4 - 64 * 4;
  EXPECT_EQ(std::memcmp(norm->data(), raw.data() + norm_off, 64 * 4), 0);
}

TEST(Llama2c, MissingTensorAndWrongTokenizerSizeAreErrors) {
  auto m = open_model(kDir + "/stories260K.bin");
  ASSERT_TRUE(m.ok());
  auto t = (*m)->load_f32("blk.9.attn_q.weight");
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  auto v = read_llama2c_tokenizer(kDir + "/tok512.bin", 500);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("trailing bytes"), std::string::npos) << v.status().message();
}

}  // namespace
}  // namespace bitsmith::io
