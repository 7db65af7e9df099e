// safetensors reading: every plain dtype decoded (values from the formats' definitions, at an
// unaligned data offset), sharded checkpoints via index.json, HF names mapped to canonical.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/safetensors.h"

namespace bitsmith::io {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

std::string st_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

class Safetensors : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("bitsmith_st_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
};

TEST_F(Safetensors, EveryPlainDtypeDecodes) {
  // Codes and their values from the format definitions (REFERENCE.md 1):
  // f16 0x3C00 = 1, 0xC000 = -2, 0x7BFF = 65504; bf16 0x3F80 = 1, 0xC0A0 = -5;
  // e4m3 0x38 = 1, 0x7E = 448, 0x01 = 2^-9; e5m2 0x3C = 1, 0x7B = 57344, 0x01 = 2^-16.
  std::string data;
  auto u16 = [&](uint16_t v) { data.append(reinterpret_cast<const char*>(&v), 2); };
  u16(0x3C00); u16(0xC000); u16(0x7BFF);             // F16 [3]    0..6
  u16(0x3F80); u16(0xC0A0);                          // BF16 [2]   6..10
  data += std::string("\x38\x7E\x01", 3);            // F8_E4M3 [3] 10..13
  data += std::string("\x3C\x7B\x01", 3);            // F8_E5M2 [3] 13..16
  data += std::string("\xFE\x05", 2);                // I8 [2]     16..18
  double d = -0.125;
  data.append(reinterpret_cast<const char*>(&d), 8);  // F64 [1]   18..26
  // A header of odd length puts the data at an odd offset: nothing may assume alignment.
  std::string header = R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                       R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},)"
                       R"("c":{"dtype":"F8_E4M3","shape":[3],"data_offsets":[10,13]},)"
                       R"("d":{"dtype":"F8_E5M2","shape":[3],"data_offsets":[13,16]},)"
                       R"("e":{"dtype":"I8","shape":[2],"data_offsets":[16,18]},)"
                       R"("f":{"dtype":"F64","shape":[1],"data_offsets":[18,26]}})";
  if (header.size() % 2 == 0) header += " ";
  write(dir / "x.safetensors", st_file(header, data));
  auto m = open_model((dir / "x.safetensors").string());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto get = [&](const char* n) {
    auto t = (*m)->load_f32(n);
    EXPECT_TRUE(t.ok()) << n;
    return std::vector<float>(t->as<float>().begin(), t->as<float>().end());
  };
  EXPECT_EQ(get("a"), (std::vector<float>{1, -2, 65504}));
  EXPECT_EQ(get("b"), (std::vector<float>{1, -5}));
  EXPECT_EQ(get("c"), (std::vector<float>{1, 448, std::ldexp(1.0f, -9)}));
  EXPECT_EQ(get("d"), (std::vector<float>{1, 57344, std::ldexp(1.0f, -16)}));
  EXPECT_EQ(get("e"), (std::vector<float>{-2, 5}));
  EXPECT_EQ(get("f"), (std::vector<float>{-0.125f}));
}

TEST_F(Safetensors, ShardedIndexAndHfNames) {
  std::string one(16, '\0'), two(8, '\0');
  float v = 3.5f;
  std::memcpy(two.data(), &v, 4);
  write(dir / "model-00001-of-00002.safetensors",
        st_file(R"({"model.embed_tokens.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", one));
  write(dir / "model-00002-of-00002.safetensors",
        st_file(R"({"model.layers.0.mlp.down_proj.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
                R"("model.layers.0.self_attn.rotary_emb.inv_freq":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})", two));
  write(dir / "model.safetensors.index.json",
        R"({"metadata":{},"weight_map":{"model.embed_tokens.weight":"model-00001-of-00002.safetensors",)"
        R"("model.layers.0.mlp.down_proj.weight":"model-00002-of-00002.safetensors"}})");
  write(dir / "config.json", R"({"model_type":"llama","hidden_size":2,"intermediate_size":1,"num_hidden_layers":1,)"
                             R"("num_attention_heads":1,"num_key_value_heads":1,"rms_norm_eps":1e-6,"rope_theta":500000.0,)"
                             R"("tie_word_embeddings":true,"vocab_size":2})");
  const std::vector<std::string> paths = {dir.string(), (dir / "model.safetensors.index.json").string()};
  for (const auto& p : paths) {
    auto m = open_model(p);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    EXPECT_TRUE((*m)->has_tensor("token_embd.weight"));
    EXPECT_FALSE((*m)->has_tensor("blk.0.self_attn.rotary_emb.inv_freq"));
    auto t = (*m)->load_f32("blk.0.ffn_down.weight");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->as<float>()[0], 3.5f);
    const auto& hp = (*m)->hyperparameters();
    EXPECT_EQ(hp.rope_style, RopeStyle::kHalfSplit);
    EXPECT_EQ(hp.rope_theta, 500000.0);
    EXPECT_EQ(hp.rms_norm_eps, 1e-6);
    EXPECT_TRUE(hp.tied_embeddings);
    EXPECT_EQ((*m)->tensors().size(), 2u);
  }
}

// Static activation scales (compressed-tensors W8A8 input_scale = amax / 448, W4A4 nvfp4
// input_global_scale = 448 * 6 / amax) are read as the input ranges of their linears, in any
// float dtype and shape [1] or [] (llm-compressor saves them in the model's dtype); anything else
// is a one-line error naming the file and the tensor.
TEST_F(Safetensors, StaticActivationScales) {
  const std::string weight = R"("model.layers.0.mlp.down_proj.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]})";
  auto file = [&](const std::string& extra, const std::string& bytes) {
    write(dir / "s.safetensors", st_file("{" + weight + "," + extra + "}", std::string(8, '\0') + bytes));
    return open_model((dir / "s.safetensors").string());
  };
  std::string bytes;
  const uint16_t half = 0x3F00;  // bf16 0.5
  const float global = 2688.0f;
  bytes.append(reinterpret_cast<const char*>(&half), 2);
  bytes.append(reinterpret_cast<const char*>(&global), 4);
  auto m = file(R"("model.layers.0.mlp.down_proj.input_scale":{"dtype":"BF16","shape":[],"data_offsets":[8,10]},)"
                R"("model.layers.0.self_attn.q_proj.input_global_scale":{"dtype":"F32","shape":[1],"data_offsets":[10,14]})",
                bytes);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto* fm = dynamic_cast<const FileModel*>(m->get());
  ASSERT_NE(fm, nullptr);
  ASSERT_EQ(fm->static_inputs().size(), 2u);
  const auto& down = fm->static_inputs().at("blk.0.ffn_down.weight");
  EXPECT_EQ(down.scheme->name(), "fp8_e4m3");
  EXPECT_EQ(down.amax, 224.0f);  // 0.5 x 448
  const auto& q = fm->static_inputs().at("blk.0.attn_q.weight");
  EXPECT_EQ(q.scheme->name(), "nvfp4");
  EXPECT_EQ(q.amax, 1.0f);  // 2688 / 2688
  EXPECT_EQ((*m)->tensors().size(), 1u);  // scales are no tensors of the model

  const float negative = -1.0f;
  const int32_t integer = 3;
  const std::string neg(reinterpret_cast<const char*>(&negative), 4), i32(reinterpret_cast<const char*>(&integer), 4);
  for (const auto& [extra, data] : std::vector<std::pair<std::string, std::string>>{
           {R"("model.layers.0.mlp.down_proj.input_scale":{"dtype":"F32","shape":[1],"data_offsets":[8,12]})", neg},
           {R"("model.layers.0.mlp.down_proj.input_scale":{"dtype":"I32","shape":[1],"data_offsets":[8,12]})", i32},
           {R"("model.layers.0.mlp.down_proj.input_scale":{"dtype":"F32","shape":[2],"data_offsets":[8,16]})", neg + neg}}) {
    auto bad = file(extra, data);
    ASSERT_FALSE(bad.ok()) << extra;
    EXPECT_EQ(bad.status().code(), StatusCode::kCorruptData) << bad.status().to_string();
    EXPECT_NE(bad.status().message().find("down_proj.input_scale"), std::string::npos) << bad.status().message();
    EXPECT_NE(bad.status().message().find("s.safetensors"), std::string::npos) << bad.status().message();
  }
}

TEST(HfNames, MapBothWays) {
  EXPECT_EQ(*canonical_from_hf("model.layers.12.self_attn.o_proj.weight"), "blk.12.attn_output.weight");
  EXPECT_EQ(*canonical_from_hf("model.layers.3.post_attention_layernorm.weight"), "blk.3.ffn_norm.weight");
  EXPECT_EQ(*canonical_from_hf("lm_head.weight"), "output.weight");
  EXPECT_FALSE(canonical_from_hf("model.layers.0.self_attn.rotary_emb.inv_freq").has_value());
  EXPECT_EQ(*canonical_from_hf("something.else"), "something.else");
  for (const char* c : {"blk.7.ffn_gate.weight", "blk.0.attn_q.bias", "token_embd.weight", "output_norm.weight"}) {
    EXPECT_EQ(*canonical_from_hf(hf_from_canonical(c)), c);
  }
}

TEST(RopePermute, InverseOfEachOther) {
  // 2 heads of 4 rows: HF rows (0 1 | 2 3) interleave to (0 2 1 3) per head (llama.cpp permute).
  std::vector<float> hf = {0, 1, 2, 3, 4, 5, 6, 7}, gg(8), back(8);
  permute_rope_rows(hf.data(), gg.data(), 2, 4, 1, true);
  EXPECT_EQ(gg, (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  permute_rope_rows(gg.data(), back.data(), 2, 4, 1, false);
  EXPECT_EQ(back, hf);
}

}  // namespace
}  // namespace bitsmith::io
