#include "bitsmith/plan/model_shape.h"

#include <cmath>
#include <fmt/format.h>

namespace bitsmith::plan {

namespace {

struct Reference {
  const char* name;
  int64_t n_layers, hidden, ffn, n_heads, n_kv_heads, head_dim, vocab, context_length;
  bool tied;
};

// From each model's config.json (num_hidden_layers, hidden_size, intermediate_size,
// num_attention_heads, num_key_value_heads, head_dim, vocab_size, max_position_embeddings).
// Counts from the shape: 134.5M, 1.24B, 3.21B, 8.03B, 70.6B, 405.9B.
constexpr Reference kReferences[] = {
    {"SmolLM2-135M", 30, 576, 1536, 9, 3, 64, 49152, 8192, true},
    {"Llama 3.2 1B", 16, 2048, 8192, 32, 8, 64, 128256, 131072, true},
    {"Llama 3.2 3B", 28, 3072, 8192, 24, 8, 128, 128256, 131072, true},
    {"Llama 3.1 8B", 32, 4096, 14336, 32, 8, 128, 128256, 131072, false},
    {"Llama 3.1 70B", 80, 8192, 28672, 64, 8, 128, 128256, 131072, false},
    {"Llama 3.1 405B", 126, 16384, 53248, 128, 8, 128, 128256, 131072, false},
};

ModelShape from_reference(const Reference& r) {
  ModelShape s;
  s.n_layers = r.n_layers;
  s.hidden = r.hidden;
  s.ffn = r.ffn;
  s.n_heads = r.n_heads;
  s.n_kv_heads = r.n_kv_heads;
  s.head_dim = r.head_dim;
  s.vocab = r.vocab;
  s.context_length = r.context_length;
  s.tied_embeddings = r.tied;
  return s;
}

}  // namespace

double ModelShape::layer_params() const {
  const double h = static_cast<double>(hidden);
  return h * static_cast<double>(q_dim()) + 2 * h * static_cast<double>(kv_dim()) + static_cast<double>(q_dim()) * h  // q, k, v, o
         + 3 * h * static_cast<double>(ffn)                                  // gate, up, down
         + 2 * h;                                                            // two RMS norms
}

double ModelShape::embedding_params() const {
  return static_cast<double>(vocab) * static_cast<double>(hidden) * (tied_embeddings ? 1 : 2) + static_cast<double>(hidden);
}

Result<ModelShape> shape_for_params(double params) {
  if (!std::isfinite(params) || params <= 0) return invalid_argument("parameter count must be positive, got {}", params);
  const Reference* nearest = nullptr;
  double best = 0;
  for (const Reference& r : kReferences) {
    const double d = std::abs(std::log(params / from_reference(r).params_from_shape()));
    if (nearest == nullptr || d < best) nearest = &r, best = d;
  }
  ModelShape s = from_reference(*nearest);
  const double ref_params = s.params_from_shape();
  if (std::abs(params / ref_params - 1) <= 0.15) {
    s.source = fmt::format("assumed: {}'s shape ({:.3g} parameters by its shape)", nearest->name, ref_params);
  } else {
    // The nearest reference's widths; as many layers as make up the count (at least one).
    const double layers = std::round((params - s.embedding_params()) / s.layer_params());
    s.n_layers = static_cast<int64_t>(std::max(1.0, layers));
    s.source = fmt::format("assumed: {}'s widths (hidden {}, {} KV heads x {}) with {} layer{} to make up the count "
                           "(derived, not a real model)", nearest->name, s.hidden, s.n_kv_heads, s.head_dim, s.n_layers,
                           s.n_layers == 1 ? "" : "s");
    if (s.params_from_shape() > 1.5 * params) {
      s.source += fmt::format("; {:.3g} parameters are too few for these widths ({:.3g} by the shape): the KV cache "
                              "and activations are overstated", params, s.params_from_shape());
    }
  }
  s.params = params;
  return s;
}

Result<ModelShape> shape_from_hyperparameters(const LlamaHyperparameters& hp, double params, std::string source) {
  ModelShape s;
  s.n_layers = hp.n_layers;
  s.hidden = hp.dim;
  s.ffn = hp.hidden_dim;
  s.n_heads = hp.n_heads;
  s.n_kv_heads = hp.n_kv_heads > 0 ? hp.n_kv_heads : hp.n_heads;
  s.head_dim = hp.head_dim > 0 ? hp.head_dim : (hp.n_heads > 0 ? hp.dim / hp.n_heads : 0);
  s.vocab = hp.vocab_size;
  s.context_length = hp.context_length;
  s.tied_embeddings = hp.tied_embeddings;
  s.source = std::move(source);
  if (s.n_layers <= 0 || s.hidden <= 0 || s.n_heads <= 0 || s.head_dim <= 0 || s.ffn <= 0) {
    return invalid_argument("{}: the hyperparameters lack layers, widths or heads (layers {}, hidden {}, heads {}, "
                            "head dim {}, ffn {})", s.source, s.n_layers, s.hidden, s.n_heads, s.head_dim, s.ffn);
  }
  s.params = params > 0 ? params : s.params_from_shape();
  return s;
}

}  // namespace bitsmith::plan
