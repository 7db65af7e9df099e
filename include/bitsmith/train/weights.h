// The trainable tensors of a Llama decoder held in float32 (the master weights), one flat list in
// a fixed order so gradients, the optimizer's moments and the checkpoint writer walk the same
// layout: token_embd, output_norm, output (absent when tied), then per layer attn_norm, attn_q,
// attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down (+ attn_{q,k,v}.bias).
// Names and shapes are core's canonical ones, so a Weights is also a Model (WeightsModel) that
// infer's engine runs and io's writers write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"

namespace bitsmith::train {

// A layer's tensors in slot order (the biases only with LlamaHyperparameters::qkv_bias).
enum class LayerSlot : uint8_t { kAttnNorm, kQ, kK, kV, kO, kFfnNorm, kGate, kUp, kDown, kBq, kBk, kBv };
inline constexpr int kLayerSlots = 12;

struct Param {
  std::string name;  // canonical: blk.3.attn_q.weight
  Tensor value;      // float32, owned
  float* data() { return value.mutable_as<float>().data(); }
  const float* data() const { return value.as<float>().data(); }
  int64_t numel() const { return value.shape().numel(); }
};

class Weights {
 public:
  Weights() = default;
  // Zero tensors of every name and shape the hyperparameters call for (gradients, moments).
  static Result<Weights> zeros(const LlamaHyperparameters& hp);
  // Every tensor of `model` through Model::load_f32, shapes checked against its hyperparameters
  // (an error names the file and tensor).
  static Result<Weights> load(const Model& model);
  // Random initialization for training from scratch, llama2.c's model.py rule: normal(0, 0.02)
  // for matrices, 0.02 / sqrt(2 n_layers) for the projections that write the residual stream
  // (attn_output, ffn_down), ones for norms, zeros for biases. Deterministic per seed.
  static Result<Weights> random(const LlamaHyperparameters& hp, uint64_t seed);
  // Same names and shapes, zeros.
  Weights zeros_like() const;

  const LlamaHyperparameters& hparams() const { return hp_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  int64_t parameter_count() const;
  const Param* find(const std::string& name) const;

  float* embedding() { return params_[0].data(); }
  const float* embedding() const { return params_[0].data(); }
  float* output_norm() { return params_[1].data(); }
  const float* output_norm() const { return params_[1].data(); }
  // The output projection: the embedding itself when tied.
  float* output() { return params_[output_index()].data(); }
  const float* output() const { return params_[output_index()].data(); }
  bool has(int64_t layer, LayerSlot s) const { return slot_index(layer, s) >= 0; }
  float* layer(int64_t layer, LayerSlot s) { return params_[static_cast<size_t>(slot_index(layer, s))].data(); }
  const float* layer(int64_t layer, LayerSlot s) const {
    return params_[static_cast<size_t>(slot_index(layer, s))].data();
  }

 private:
  size_t output_index() const { return hp_.tied_embeddings ? 0 : 2; }
  int64_t slot_index(int64_t layer, LayerSlot s) const;
  LlamaHyperparameters hp_;
  std::vector<Param> params_;
};

// The checks a model must pass before training it (the engine's, plus what the trainer needs):
// positive sizes, heads a multiple of kv heads, even head_dim. The message names `what`.
Status check_trainable(const LlamaHyperparameters& hp, const std::string& what);

// The architecture of a model trained from scratch, from a JSON object: "dim", "n_layers",
// "n_heads" (required), "n_kv_heads" (default n_heads), "hidden_dim" (default llama2.c's:
// 2/3 of 4 dim rounded up to a multiple of 32), "vocab_size" (default: the tokenizer's; when
// both are given they must agree), "context_length" (default 256), "tied_embeddings" (default
// true), "rope_theta" (10000), "rms_norm_eps" (1e-5), "rope_style" ("interleaved" or
// "half_split"), "qkv_bias" (false). An unknown key is an error (it would do nothing). `path`
// names the file in messages; tokenizer_vocab = 0 when there is no tokenizer.
Result<LlamaHyperparameters> hyperparameters_from_json(std::string_view text, const std::string& path,
                                                       int64_t tokenizer_vocab);

// A Model over Weights held in memory (the engine runs it, io writes it): tensors come back as
// float32 copies. The weights and vocabulary must outlive it.
class WeightsModel final : public Model {
 public:
  WeightsModel(const Weights& w, const Vocabulary& vocab, std::string path);
  const std::string& path() const override { return path_; }
  std::string_view file_format() const override { return "memory"; }
  const LlamaHyperparameters& hyperparameters() const override { return w_.hparams(); }
  const Vocabulary& vocabulary() const override { return vocab_; }
  const std::vector<ModelTensorInfo>& tensors() const override { return infos_; }
  bool has_tensor(const std::string& name) const override { return w_.find(name) != nullptr; }
  Result<Tensor> load_f32(const std::string& name) const override;

 private:
  const Weights& w_;
  const Vocabulary& vocab_;
  std::string path_;
  std::vector<ModelTensorInfo> infos_;
};

}  // namespace bitsmith::train
