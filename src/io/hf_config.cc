// Hugging Face conventions: tensor names, config.json, and the rotary row permutation.
#include <charconv>
#include <cstring>

#include <nlohmann/json.hpp>

#include "bitsmith/io/safetensors.h"
#include "bitsmith/core/json_guard.h"
#include "bitsmith/core/text_file.h"

namespace bitsmith::io {
namespace {

using nlohmann::json;

struct NamePair {
  std::string_view hf;  // after "model.layers.N."
  std::string_view gguf;  // after "blk.N."
};
constexpr NamePair kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};
constexpr NamePair kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// Splits "<prefix><N>.<rest>" into N and rest.
bool split_layer(std::string_view name, std::string_view prefix, int64_t* layer, std::string_view* rest) {
  if (!name.starts_with(prefix)) return false;
  name.remove_prefix(prefix.size());
  auto dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  if (std::from_chars(name.data(), name.data() + dot, *layer).ec != std::errc()) return false;
  *rest = name.substr(dot + 1);
  return true;
}

}  // namespace

std::optional<std::string> canonical_from_hf(std::string_view hf) {
  for (const auto& p : kGlobalNames) {
    if (hf == p.hf) return std::string(p.gguf);
  }
  int64_t layer = 0;
  std::string_view rest;
  if (split_layer(hf, "model.layers.", &layer, &rest)) {
    if (rest.ends_with("rotary_emb.inv_freq")) return std::nullopt;  // recomputed, not a weight
    for (const auto& p : kLayerNames) {
      if (rest == p.hf) return fmt::format("blk.{}.{}", layer, p.gguf);
    }
  }
  return std::string(hf);
}

std::string hf_from_canonical(std::string_view canonical) {
  for (const auto& p : kGlobalNames) {
    if (canonical == p.gguf) return std::string(p.hf);
  }
  int64_t layer = 0;
  std::string_view rest;
  if (split_layer(canonical, "blk.", &layer, &rest)) {
    for (const auto& p : kLayerNames) {
      if (rest == p.gguf) return fmt::format("model.layers.{}.{}", layer, p.hf);
    }
  }
  return std::string(canonical);
}

Result<LlamaHyperparameters> parse_hf_config(std::string_view text, std::string_view name) {
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, name));
  json c = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (c.is_discarded() || !c.is_object()) return corrupt_data("{}: not a JSON object", name);
  LlamaHyperparameters hp;
  auto get_int = [&](const char* key, int64_t def, bool required) -> Result<int64_t> {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) {
      if (required) return not_found("{}: missing '{}'", name, key);
      return def;
    }
    if (!it->is_number_integer()) return corrupt_data("{}: '{}' should be an integer, got {}", name, key, it->dump());
    return it->get<int64_t>();
  };
  auto get_num = [&](const char* key, double def) -> Result<double> {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) return def;
    if (!it->is_number()) return corrupt_data("{}: '{}' should be a number, got {}", name, key, it->dump());
    return it->get<double>();
  };
  std::string model_type = "llama";
  if (auto it = c.find("model_type"); it != c.end() && it->is_string()) model_type = it->get<std::string>();
  if (model_type == kPrivateModelType) {
    // bitsmith's private layout: the real model type is kept aside (safetensors_writer.cc).
    auto it = c.find("bitsmith_model_type");
    if (it == c.end() || !it->is_string()) return corrupt_data("{}: model_type {} without 'bitsmith_model_type'", name, kPrivateModelType);
    model_type = it->get<std::string>();
  }
  // llama.cpp's architecture names: mistral checkpoints run as llama.
  hp.architecture = model_type == "mistral" ? "llama" : model_type;
  BITSMITH_ASSIGN_OR_RETURN(hp.dim, get_int("hidden_size", 0, true));
  BITSMITH_ASSIGN_OR_RETURN(hp.hidden_dim, get_int("intermediate_size", 0, true));
  BITSMITH_ASSIGN_OR_RETURN(hp.n_layers, get_int("num_hidden_layers", 0, true));
  BITSMITH_ASSIGN_OR_RETURN(hp.n_heads, get_int("num_attention_heads", 0, true));
  BITSMITH_ASSIGN_OR_RETURN(hp.n_kv_heads, get_int("num_key_value_heads", hp.n_heads, false));
  BITSMITH_ASSIGN_OR_RETURN(hp.vocab_size, get_int("vocab_size", 0, false));
  BITSMITH_ASSIGN_OR_RETURN(hp.context_length, get_int("max_position_embeddings", 0, false));
  if (hp.dim <= 0 || hp.n_heads <= 0 || hp.n_kv_heads <= 0 || hp.n_layers < 0 || hp.dim % hp.n_heads != 0 ||
      hp.n_heads % hp.n_kv_heads != 0) {
    return corrupt_data("{}: inconsistent hidden_size {}, num_attention_heads {}, num_key_value_heads {}", name,
                        hp.dim, hp.n_heads, hp.n_kv_heads);
  }
  BITSMITH_ASSIGN_OR_RETURN(hp.head_dim, get_int("head_dim", hp.dim / hp.n_heads, false));
  BITSMITH_ASSIGN_OR_RETURN(hp.rms_norm_eps, get_num("rms_norm_eps", 1e-6));
  BITSMITH_ASSIGN_OR_RETURN(hp.rope_theta, get_num("rope_theta", 10000.0));
  hp.rope_style = RopeStyle::kHalfSplit;  // every HF Llama-family model rotates half-split
  if (auto it = c.find("tie_word_embeddings"); it != c.end() && it->is_boolean()) hp.tied_embeddings = it->get<bool>();
  hp.qkv_bias = model_type == "qwen2";
  if (auto it = c.find("_name_or_path"); it != c.end() && it->is_string()) hp.name = it->get<std::string>();
  if (auto it = c.find("attention_bias"); it != c.end() && it->is_boolean()) hp.qkv_bias = it->get<bool>();
  return hp;
}

std::string hf_config_json(const LlamaHyperparameters& hp, const Vocabulary& vocab, std::string_view torch_dtype,
                           const std::string& extra_json) {
  const bool qwen = hp.architecture == "qwen2";
  json c = {
      {"architectures", {qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", qwen ? "qwen2" : "llama"},
      {"hidden_size", hp.dim},
      {"intermediate_size", hp.hidden_dim},
      {"num_hidden_layers", hp.n_layers},
      {"num_attention_heads", hp.n_heads},
      {"num_key_value_heads", hp.n_kv_heads},
      {"head_dim", hp.head_dim},
      {"vocab_size", hp.vocab_size},
      {"max_position_embeddings", hp.context_length},
      {"rms_norm_eps", hp.rms_norm_eps},
      {"rope_theta", hp.rope_theta},
      {"tie_word_embeddings", hp.tied_embeddings},
      {"attention_bias", hp.qkv_bias},
      {"hidden_act", "silu"},
      {"torch_dtype", torch_dtype},
  };
  if (!vocab.empty()) {
    c["bos_token_id"] = vocab.bos_id;
    c["eos_token_id"] = vocab.eos_id;
    if (vocab.pad_id >= 0) c["pad_token_id"] = vocab.pad_id;
  }
  // GGUF's general.name; Hugging Face keeps a model's name here.
  if (!hp.name.empty()) c["_name_or_path"] = hp.name;
  if (!extra_json.empty()) c.update(json::parse(extra_json));
  return c.dump(2) + "\n";
}

void permute_rope_rows(const float* in, float* out, int64_t n_heads, int64_t head_dim, int64_t cols,
                       bool to_interleaved) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        // GGUF row 2i+j of a head holds HF row j*half+i (llama.cpp convert_hf_to_gguf permute).
        const int64_t gguf_row = h * head_dim + 2 * i + j;
        const int64_t hf_row = h * head_dim + j * half + i;
        const int64_t src = to_interleaved ? hf_row : gguf_row;
        const int64_t dst = to_interleaved ? gguf_row : hf_row;
        std::memcpy(out + dst * cols, in + src * cols, static_cast<size_t>(cols) * sizeof(float));
      }
    }
  }
}

Result<LlamaHyperparameters> load_hf_config(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(std::string text,
                            read_file_bounded(path, {.max_bytes = kMaxConfigBytes, .what = "config file"}));
  return parse_hf_config(text, path);
}

}  // namespace bitsmith::io
