// safetensors: u64 little-endian header length N, N bytes of JSON naming each tensor's dtype,
// shape and [begin, end) data offsets (relative to the end of the header), then the data.
// Also the Hugging Face names <-> canonical (GGUF) names map and config.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"

namespace bitsmith::io {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to data_offset
};

struct SafetensorsFile {
  uint64_t data_offset = 0;  // 8 + header length
  std::vector<SafetensorsEntry> tensors;  // in header order
  std::map<std::string, std::string> metadata;
};

// Largest header accepted (Hugging Face's own limit is 100 MB).
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

// Validates the header length, JSON, every entry (known dtype, shape, offsets inside the data,
// size = numel * dtype size, no overlaps), duplicate names and __metadata__ (strings only).
Result<SafetensorsFile> parse_safetensors(std::span<const uint8_t> bytes, std::string_view name);

// Hugging Face Llama name -> canonical GGUF name ("model.layers.3.mlp.up_proj.weight" ->
// "blk.3.ffn_up.weight"); nullopt for a name that is not part of the model (rotary inv_freq).
// Unknown names map to themselves.
std::optional<std::string> canonical_from_hf(std::string_view hf);
// Canonical -> Hugging Face Llama name (the inverse; unknown names map to themselves).
std::string hf_from_canonical(std::string_view canonical);

// config.json (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM) <-> hyperparameters.
// A folder with weights in bitsmith's private layout says model_type kPrivateModelType (so other
// loaders refuse it) and keeps the real one in "bitsmith_model_type".
inline constexpr const char* kPrivateModelType = "bitsmith_packed";
Result<LlamaHyperparameters> parse_hf_config(std::string_view json_text, std::string_view name);
// A config.json file read (bounded: kMaxConfigBytes; FIFOs and NUL bytes refused) and parsed.
inline constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;
Result<LlamaHyperparameters> load_hf_config(const std::string& path);
// The config.json text for hp (torch_dtype names the stored float type: "float32", "float16",
// "bfloat16"); `extra` is merged in at the top level (quantization_config).
std::string hf_config_json(const LlamaHyperparameters& hp, const Vocabulary& vocab, std::string_view torch_dtype,
                           const std::string& extra_json = "");

// Reorders the rows of a q or k projection [n_heads * head_dim, in] between GGUF's rotary
// convention (adjacent pairs) and Hugging Face's (half split), as llama.cpp's converter does.
// to_interleaved: HF -> GGUF; otherwise GGUF -> HF. rows must be n_heads * head_dim.
void permute_rope_rows(const float* in, float* out, int64_t n_heads, int64_t head_dim, int64_t cols,
                       bool to_interleaved);

}  // namespace bitsmith::io
