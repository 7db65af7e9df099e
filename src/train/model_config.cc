// hyperparameters_from_json: the architecture of a model trained from scratch (weights.h).
#include <nlohmann/json.hpp>

#include <set>

#include "bitsmith/core/json_guard.h"
#include "bitsmith/train/weights.h"

namespace bitsmith::train {

namespace {

Result<LlamaHyperparameters> parse(const nlohmann::json& j, const std::string& path, int64_t tokenizer_vocab) {
  static const std::set<std::string> kKnown = {"dim", "n_layers", "n_heads", "n_kv_heads", "hidden_dim", "vocab_size",
                                               "context_length", "tied_embeddings", "rope_theta", "rms_norm_eps",
                                               "rope_style", "qkv_bias"};
  if (!j.is_object()) return invalid_argument("{}: the model config must be a JSON object", path);
  for (const auto& [k, v] : j.items()) {
    if (kKnown.count(k) == 0) {
      return invalid_argument("{}: unknown key '{}' (known: dim, n_layers, n_heads, n_kv_heads, hidden_dim, vocab_size, "
                              "context_length, tied_embeddings, rope_theta, rms_norm_eps, rope_style, qkv_bias)",
                              path, k);
    }
  }
  for (const char* k : {"dim", "n_layers", "n_heads"}) {
    if (!j.contains(k)) return invalid_argument("{}: the model config needs '{}'", path, k);
  }
  LlamaHyperparameters hp;
  hp.dim = j.at("dim").get<int64_t>();
  hp.n_layers = j.at("n_layers").get<int64_t>();
  hp.n_heads = j.at("n_heads").get<int64_t>();
  hp.n_kv_heads = j.value("n_kv_heads", hp.n_heads);
  if (hp.n_heads > 0 && hp.dim % hp.n_heads != 0) {
    return invalid_argument("{}: dim {} is not a multiple of n_heads {}", path, hp.dim, hp.n_heads);
  }
  hp.head_dim = hp.n_heads > 0 ? hp.dim / hp.n_heads : 0;
  // llama2.c's model.py: hidden = 2/3 of 4 dim, rounded up to a multiple of 32.
  const int64_t default_hidden = ((2 * 4 * hp.dim / 3) + 31) / 32 * 32;
  hp.hidden_dim = j.value("hidden_dim", default_hidden);
  hp.vocab_size = j.value("vocab_size", tokenizer_vocab);
  if (tokenizer_vocab > 0 && hp.vocab_size != tokenizer_vocab) {
    return invalid_argument("{}: vocab_size {} but the tokenizer has {} tokens", path, hp.vocab_size, tokenizer_vocab);
  }
  hp.context_length = j.value("context_length", int64_t{256});
  hp.tied_embeddings = j.value("tied_embeddings", true);
  hp.rope_theta = j.value("rope_theta", 10000.0);
  hp.rms_norm_eps = j.value("rms_norm_eps", 1e-5);
  hp.qkv_bias = j.value("qkv_bias", false);
  const std::string rope = j.value("rope_style", std::string("interleaved"));
  if (rope == "interleaved") {
    hp.rope_style = RopeStyle::kInterleaved;
  } else if (rope == "half_split") {
    hp.rope_style = RopeStyle::kHalfSplit;
  } else {
    return invalid_argument("{}: rope_style '{}' (interleaved or half_split)", path, rope);
  }
  if (hp.context_length <= 0 || !(hp.rope_theta > 0) || !(hp.rms_norm_eps > 0)) {
    return invalid_argument("{}: context_length, rope_theta and rms_norm_eps must be positive", path);
  }
  hp.name = "bitsmith-train";
  BITSMITH_RETURN_IF_ERROR(check_trainable(hp, path));
  return hp;
}

}  // namespace

Result<LlamaHyperparameters> hyperparameters_from_json(std::string_view text, const std::string& path,
                                                       int64_t tokenizer_vocab) {
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, path));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return invalid_argument("{}: not valid JSON", path);
  try {  // a value of the wrong type ("dim": "big") throws in nlohmann's accessors
    return parse(j, path, tokenizer_vocab);
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument("{}: {}", path, e.what());
  }
}

}  // namespace bitsmith::train
