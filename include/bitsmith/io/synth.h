// Synthetic Llama checkpoints for tests and benchmarks: a core::Model whose tensors are random
// (deterministic per seed and tensor name, whatever the thread count) and generated on demand,
// so writing a multi-GB file streams through the ordinary writers with one tensor in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/io/quantize.h"

namespace bitsmith::io {

struct SynthConfig {
  int64_t dim = 256, hidden_dim = 688, n_layers = 2, n_heads = 8, n_kv_heads = 4;
  int64_t vocab_size = 512, context_length = 512;
  bool tied_embeddings = false;
  uint64_t seed = 1;
  float weight_std = 0.02f;  // uniform with this standard deviation (norms: 1 +- this)
};

// Sets n_layers so the float32 parameter bytes come close to (not over, unless one layer is
// already more) target_bytes, keeping the other dimensions.
SynthConfig synth_config_for_bytes(SynthConfig base, uint64_t target_bytes);
Result<std::unique_ptr<Model>> make_synthetic_model(const SynthConfig& c);
// A SentencePiece-style vocabulary of n tokens: <unk> <s> </s>, 256 byte tokens, then letters
// and letter strings with and without the U+2581 prefix, scores decreasing.
Vocabulary synthetic_vocabulary(int64_t n);

// Writes the synthetic model in `format`, each tensor as `planner` decides (the caller's
// plan::Recipe, e.g. f32 or a quantization scheme: io does not choose schemes).
using Planner = std::function<Result<std::vector<TensorPlan>>(const Model&)>;
Result<QuantizeReport> write_synthetic_model(const SynthConfig& c, const std::string& out, OutputFormat format,
                                             const Planner& planner);

}  // namespace bitsmith::io
