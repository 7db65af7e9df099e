// The architecture numbers the advisor needs (layers, widths, heads, vocabulary) as a plain
// struct: from a model file's or config.json's hyperparameters (read by io, handed over by the
// CLI: plan never depends on io), or assumed from a bare parameter count (--params 70B) by the
// Llama-family shape of that size.
#pragma once

#include <cstdint>
#include <string>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"

namespace bitsmith::plan {

struct ModelShape {
  double params = 0;           // the count weights, FLOPs and optimizer state are computed from
  int64_t n_layers = 0;
  int64_t hidden = 0;          // embedding width
  int64_t ffn = 0;             // feed-forward width (SwiGLU: gate, up, down)
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab = 0;
  int64_t context_length = 0;  // trained context; 0 = unknown
  bool tied_embeddings = false;
  std::string source;          // where the shape came from, in words

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  // Parameters of one decoder layer: q, k, v, o, gate, up, down and the two norms.
  double layer_params() const;
  // Token embedding, output head (unless tied) and the final norm.
  double embedding_params() const;
  double params_from_shape() const { return static_cast<double>(n_layers) * layer_params() + embedding_params(); }
};

// The shape of a Llama-family model of `params` parameters. Within 15% of a reference model's
// count (SmolLM2-135M, Llama 3.2 1B/3B, Llama 3.1 8B/70B/405B) its exact shape; otherwise the
// widths of the reference nearest in log-size with the layer count that makes up `params`.
// `source` says which. params itself is kept: weights are params x bits, not the shape's count.
Result<ModelShape> shape_for_params(double params);

// The shape of a model from its hyperparameters. params <= 0: counted from the shape.
Result<ModelShape> shape_from_hyperparameters(const LlamaHyperparameters& hp, double params, std::string source);

}  // namespace bitsmith::plan
