// Models for the infer/eval tests, independent of the io module:
//   - Llama2cTestModel: a minimal reader of llama2.c checkpoints and tokenizer.bin files
//     (REFERENCE.md section 3), written from the format description, to test the engine
//     against the stories260K golden text without io.
//   - MemoryModel: named float32 tensors held in memory, for synthetic models (shape errors,
//     rope styles, biases, GQA).
#pragma once

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bitsmith/core/model.h"

namespace bitsmith::testing {

class MemoryModel : public Model {
 public:
  MemoryModel() = default;
  const std::string& path() const override { return path_; }
  std::string_view file_format() const override { return "memory"; }
  const LlamaHyperparameters& hyperparameters() const override { return hp_; }
  const Vocabulary& vocabulary() const override { return vocab_; }
  const std::vector<ModelTensorInfo>& tensors() const override { return infos_; }
  bool has_tensor(const std::string& name) const override { return data_.count(name) != 0; }
  Result<Tensor> load_f32(const std::string& name) const override {
    auto it = data_.find(name);
    if (it == data_.end()) return not_found("{}: no tensor '{}'", path_, name);
    Tensor t(DType::kF32, it->second.first);
    std::memcpy(t.mutable_data(), it->second.second.data(), t.nbytes());
    return t;
  }
  void add(const std::string& name, Shape shape, std::vector<float> values) {
    infos_.push_back({name, shape, "F32", values.size() * 4});
    data_[name] = {shape, std::move(values)};
  }
  std::vector<float>& values(const std::string& name) { return data_.at(name).second; }

  LlamaHyperparameters hp_;
  Vocabulary vocab_;
  std::string path_ = "memory";

 private:
  std::vector<ModelTensorInfo> infos_;
  std::map<std::string, std::pair<Shape, std::vector<float>>> data_;
};

// Reads the whole checkpoint; returns false (and fills `error`) on a short or odd file.
inline bool read_llama2c(const std::string& path, const std::string& tok_path, MemoryModel* m,
                         std::string* error) {
  std::ifstream f(path, std::ios::binary);
  int32_t h[7];
  if (!f.read(reinterpret_cast<char*>(h), sizeof h)) {
    *error = path + ": short header";
    return false;
  }
  auto& hp = m->hp_;
  hp.dim = h[0];
  hp.hidden_dim = h[1];
  hp.n_layers = h[2];
  hp.n_heads = h[3];
  hp.n_kv_heads = h[4];
  hp.tied_embeddings = h[5] > 0;
  hp.vocab_size = h[5] > 0 ? h[5] : -h[5];
  hp.context_length = h[6];
  hp.head_dim = hp.dim / hp.n_heads;
  m->path_ = path;
  const int64_t d = hp.dim, kv = hp.n_kv_heads * hp.head_dim, ff = hp.hidden_dim;
  auto read = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * 4));
    return v;
  };
  m->add("token_embd.weight", {hp.vocab_size, d}, read(hp.vocab_size * d));
  auto per_layer = [&](const char* name, Shape s) {
    const int64_t n = s.numel();
    std::vector<float> all = read(n * hp.n_layers);
    for (int64_t l = 0; l < hp.n_layers; ++l) {
      m->add("blk." + std::to_string(l) + "." + name, s,
             std::vector<float>(all.begin() + l * n, all.begin() + (l + 1) * n));
    }
  };
  per_layer("attn_norm.weight", {d});
  per_layer("attn_q.weight", {d, d});
  per_layer("attn_k.weight", {kv, d});
  per_layer("attn_v.weight", {kv, d});
  per_layer("attn_output.weight", {d, d});
  per_layer("ffn_norm.weight", {d});
  per_layer("ffn_gate.weight", {ff, d});
  per_layer("ffn_down.weight", {d, ff});
  per_layer("ffn_up.weight", {ff, d});
  m->add("output_norm.weight", {d}, read(d));
  read(hp.context_length * hp.head_dim);  // the two unused RoPE tables
  if (!hp.tied_embeddings) m->add("output.weight", {hp.vocab_size, d}, read(hp.vocab_size * d));
  if (!f) {
    *error = path + ": short file";
    return false;
  }
  std::ifstream t(tok_path, std::ios::binary);
  int32_t max_len = 0;
  t.read(reinterpret_cast<char*>(&max_len), 4);
  auto& v = m->vocab_;
  v.model = "llama";
  for (int64_t i = 0; i < hp.vocab_size; ++i) {
    float score = 0;
    int32_t len = 0;
    t.read(reinterpret_cast<char*>(&score), 4);
    t.read(reinterpret_cast<char*>(&len), 4);
    std::string s(static_cast<size_t>(len), '\0');
    t.read(s.data(), len);
    v.tokens.push_back(s);
    v.scores.push_back(score);
    v.types.push_back(TokenType::kNormal);
  }
  if (!t) {
    *error = tok_path + ": short file";
    return false;
  }
  return true;
}

inline std::string shared_path(const std::string& rel) {
  return std::string(BITSMITH_SHARED_DIR) + "/" + rel;
}

}  // namespace bitsmith::testing
