// A Llama model with the given shape and no data, for planning tests (recipes, allocation).
#pragma once

#include <string>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/tensor_names.h"

namespace bitsmith::plan::fixtures {

// A Llama model with the given shape; only names and shapes exist.
class ShapeModel : public Model {
 public:
  ShapeModel(int64_t dim, int64_t hidden, int64_t layers, int64_t heads, int64_t kv_heads, int64_t vocab, bool tied) {
    hp_.dim = dim;
    hp_.hidden_dim = hidden;
    hp_.n_layers = layers;
    hp_.n_heads = heads;
    hp_.n_kv_heads = kv_heads;
    hp_.head_dim = dim / heads;
    hp_.vocab_size = vocab;
    hp_.tied_embeddings = tied;
    const int64_t kv = kv_heads * (dim / heads);
    add("token_embd.weight", {vocab, dim});
    for (int64_t l = 0; l < layers; ++l) {
      add(tensor_name(l, "attn_norm"), {dim});
      add(tensor_name(l, "attn_q"), {dim, dim});
      add(tensor_name(l, "attn_k"), {kv, dim});
      add(tensor_name(l, "attn_v"), {kv, dim});
      add(tensor_name(l, "attn_output"), {dim, dim});
      add(tensor_name(l, "ffn_norm"), {dim});
      add(tensor_name(l, "ffn_gate"), {hidden, dim});
      add(tensor_name(l, "ffn_up"), {hidden, dim});
      add(tensor_name(l, "ffn_down"), {dim, hidden});
    }
    add("output_norm.weight", {dim});
    if (!tied) add("output.weight", {vocab, dim});
  }
  const std::string& path() const override { return path_; }
  std::string_view file_format() const override { return "synthetic"; }
  const LlamaHyperparameters& hyperparameters() const override { return hp_; }
  const Vocabulary& vocabulary() const override { return vocab_; }
  const std::vector<ModelTensorInfo>& tensors() const override { return tensors_; }
  bool has_tensor(const std::string& name) const override {
    for (const auto& t : tensors_) if (t.name == name) return true;
    return false;
  }
  Result<Tensor> load_f32(const std::string& name) const override { return unsupported("no data for {}", name); }

 private:
  void add(const std::string& name, std::vector<int64_t> dims) {
    tensors_.push_back({name, *Shape::from(dims), "F32", 0});
  }
  std::string path_ = "shape-model";
  LlamaHyperparameters hp_;
  Vocabulary vocab_;
  std::vector<ModelTensorInfo> tensors_;
};


}  // namespace bitsmith::plan::fixtures
