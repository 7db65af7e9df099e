#include "bitsmith/io/records.h"

#include "bitsmith/io/model_file.h"

namespace bitsmith::io {

nlohmann::json hyperparameters_record(const LlamaHyperparameters& hp) {
  return {{"architecture", hp.architecture}, {"dim", hp.dim}, {"hidden_dim", hp.hidden_dim},
          {"n_layers", hp.n_layers}, {"n_heads", hp.n_heads}, {"n_kv_heads", hp.n_kv_heads},
          {"head_dim", hp.head_dim}, {"vocab_size", hp.vocab_size}, {"context_length", hp.context_length},
          {"rms_norm_eps", hp.rms_norm_eps}, {"rope_theta", hp.rope_theta},
          {"rope_style", hp.rope_style == RopeStyle::kHalfSplit ? "half_split" : "interleaved"},
          {"tied_embeddings", hp.tied_embeddings}, {"qkv_bias", hp.qkv_bias}};
}

nlohmann::json tokenizer_record(const Vocabulary& v) {
  if (v.empty()) return nullptr;
  return {{"model", v.model}, {"tokens", v.tokens.size()}, {"merges", v.merges.size()},
          {"bos_id", v.bos_id}, {"eos_id", v.eos_id}, {"unk_id", v.unk_id}, {"add_bos", v.add_bos},
          {"pre", v.pre}};
}

nlohmann::json tensor_records(const Model& m) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : m.tensors()) {
    tensors.push_back({{"name", t.name}, {"shape", t.shape.dims()}, {"dtype", t.storage}, {"bytes", t.bytes}});
  }
  return tensors;
}

nlohmann::json inspect_record(const Model& m) {
  const ModelTotals totals = model_totals(m);
  return {{"file", m.path()}, {"format", m.file_format()}, {"architecture", m.hyperparameters().architecture},
          {"hyperparameters", hyperparameters_record(m.hyperparameters())},
          {"tokenizer", tokenizer_record(m.vocabulary())}, {"tensors", tensor_records(m)},
          {"parameters", totals.parameters}, {"bytes", totals.bytes}, {"bits_per_weight", totals.bits_per_weight}};
}

}  // namespace bitsmith::io
