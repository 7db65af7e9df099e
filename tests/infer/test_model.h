// Test helpers for infer/eval: MemoryModel holds named float32 tensors in memory, for
// synthetic models (shape errors, rope styles, biases, GQA); stories260K() opens the real
// checkpoint through io.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/io/model_file.h"

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

// A small random Llama (dim 32, 4 heads / 2 KV heads of 8, vocabulary 40) for engine, eval and
// calibration tests. Tensors are drawn in a fixed order from one generator seeded by `seed`, so
// a spec always gives the same model; q/k/v biases (zeros) are added when `bias` is set.
struct RandomLlamaSpec {
  int layers = 2;
  int64_t hidden = 48;
  unsigned seed = 1;
  bool bias = false;
};

inline std::unique_ptr<MemoryModel> random_llama(const RandomLlamaSpec& spec) {
  auto m = std::make_unique<MemoryModel>();
  const int64_t d = 32, kv = 16, ff = spec.hidden, vocab = 40;
  auto& hp = m->hp_;
  hp.dim = d;
  hp.hidden_dim = ff;
  hp.n_layers = spec.layers;
  hp.n_heads = 4;
  hp.n_kv_heads = 2;
  hp.head_dim = 8;
  hp.vocab_size = vocab;
  hp.context_length = 64;
  hp.qkv_bias = spec.bias;
  std::mt19937 rng(spec.seed);
  std::normal_distribution<float> nd(0.0f, 0.3f);
  auto rnd = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = nd(rng);
    return v;
  };
  auto ones = [&](int64_t n) {  // norm weights near 1
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = 1.0f + nd(rng) * 0.1f;
    return v;
  };
  m->add("token_embd.weight", {vocab, d}, rnd(vocab * d));
  m->add("output_norm.weight", {d}, ones(d));
  m->add("output.weight", {vocab, d}, rnd(vocab * d));
  for (int l = 0; l < spec.layers; ++l) {
    auto n = [&](const char* s) { return "blk." + std::to_string(l) + "." + s; };
    m->add(n("attn_norm.weight"), {d}, ones(d));
    m->add(n("attn_q.weight"), {d, d}, rnd(d * d));
    m->add(n("attn_k.weight"), {kv, d}, rnd(kv * d));
    m->add(n("attn_v.weight"), {kv, d}, rnd(kv * d));
    m->add(n("attn_output.weight"), {d, d}, rnd(d * d));
    m->add(n("ffn_norm.weight"), {d}, ones(d));
    m->add(n("ffn_gate.weight"), {ff, d}, rnd(ff * d));
    m->add(n("ffn_up.weight"), {ff, d}, rnd(ff * d));
    m->add(n("ffn_down.weight"), {d, ff}, rnd(ff * d));
    if (spec.bias) {
      m->add(n("attn_q.bias"), {d}, std::vector<float>(d, 0.0f));
      m->add(n("attn_k.bias"), {kv}, std::vector<float>(kv, 0.0f));
      m->add(n("attn_v.bias"), {kv}, std::vector<float>(kv, 0.0f));
    }
  }
  return m;
}

inline std::string shared_path(const std::string& rel) {
  return std::string(BITSMITH_SHARED_DIR) + "/" + rel;
}

// stories260K with its tokenizer, opened once per test binary.
inline const Model& stories260k() {
  static std::unique_ptr<Model> m = [] {
    auto r = io::open_model(shared_path("models/stories260K/stories260K.bin"),
                            shared_path("models/stories260K/tok512.bin"));
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
      std::abort();
    }
    return std::move(r).value();
  }();
  return *m;
}

}  // namespace bitsmith::testing
