// A model file as the JSON document `bitsmith inspect --json` prints and Python's
// Model.inspect() / .hyperparameters / .tokenizer / .tensors return (one builder for both).
#pragma once

#include <nlohmann/json.hpp>

#include "bitsmith/core/model.h"

namespace bitsmith::io {

nlohmann::json hyperparameters_record(const LlamaHyperparameters& hp);
// null for a model without a tokenizer.
nlohmann::json tokenizer_record(const Vocabulary& vocabulary);
// name, shape, dtype (the stored type), bytes, per tensor in file order.
nlohmann::json tensor_records(const Model& model);
// file, format, architecture, hyperparameters, tokenizer, tensors, parameters, bytes,
// bits_per_weight.
nlohmann::json inspect_record(const Model& model);

}  // namespace bitsmith::io
