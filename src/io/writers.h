// The two file writers behind quantize_model (internal). Both take the plan and a producer that
// returns each tensor's bytes in plan order, so only one tensor is in memory at a time.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bitsmith/io/quantize.h"

namespace bitsmith::io::detail {

using ProduceFn = std::function<Result<quant::QuantizedTensor>(size_t index)>;

// GGUF v3, alignment 32, general.architecture + {arch}.* keys + tokenizer.ggml.*.
Status write_gguf(const Model& model, const std::vector<TensorPlan>& plans, const std::string& out,
                  const ProduceFn& produce, uint64_t* bytes_written);

struct WriteOptions {
  // The method's zero points may be fractional (HQQ): asymmetric integer schemes then go to
  // bitsmith's layout, since compressed-tensors' pack-quantized stores integer zero points.
  bool fractional_zeros = false;
  Activations activations = Activations::kNone;
  // kStatic: the input amax of every tensor that quantizes_activations (QuantizeConfig::input_amax).
  const std::map<std::string, float>* input_amax = nullptr;
};

// safetensors (+ config.json, tokenizer files). Returns the model file's path and the others.
// Weights go in compressed-tensors' layouts where one holds the scheme (ct_layout.h), else in
// bitsmith's (st_layout.h).
Status write_safetensors(const Model& model, const std::vector<TensorPlan>& plans, const std::string& out,
                         const ProduceFn& produce, std::string* model_file, std::vector<std::string>* extra_files,
                         uint64_t* bytes_written, const WriteOptions& options = {});

}  // namespace bitsmith::io::detail
