// Canonical tensor names, parsed and formatted in one place. Every module that decides something
// from a tensor's name (which scheme, which activations feed it, whether it is the output head)
// asks this module instead of testing substrings, so "blk.12.attn_v.weight" means the same thing
// to the planner, the writers, the engine and the calibrated methods.
//
// Canonical names are GGUF's (llama.cpp's): token_embd.weight, output_norm.weight, output.weight,
// blk.N.<kind>.<suffix> with kind one of attn_norm, attn_q, attn_k, attn_v, attn_output,
// ffn_norm, ffn_gate, ffn_up, ffn_down and suffix "weight" or "bias".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bitsmith {

enum class TensorCategory : uint8_t {
  kAttnQ, kAttnK, kAttnV, kAttnOutput,
  kFfnGate, kFfnUp, kFfnDown,
  kEmbedding,  // token_embd
  kOutput,     // output (the LM head)
  kNorm,       // attn_norm, ffn_norm, output_norm (any *_norm)
  kOther,
};

// "attn_q", "ffn_down", "embedding", "output", "norm", "other".
std::string_view category_name(TensorCategory c);
std::optional<TensorCategory> parse_category(std::string_view name);
// The seven block linears (attn_q .. ffn_down).
bool is_block_linear(TensorCategory c);

struct TensorName {
  int64_t layer = -1;          // N of blk.N.*, else -1
  std::string kind;            // "attn_v", "token_embd", "output_norm", ...
  std::string suffix;          // "weight", "bias", or "" when the name has none
  TensorCategory category = TensorCategory::kOther;
  bool is_weight() const { return suffix == "weight"; }
};

// Never fails: a name outside the scheme parses as kOther with kind = the name minus its suffix.
TensorName parse_tensor_name(std::string_view name);
TensorCategory tensor_category(std::string_view name);
// The layer index of blk.N.*, else -1.
int64_t tensor_layer(std::string_view name);

// blk.N.kind.suffix ("blk.3.attn_v.weight"); kind without a layer when layer < 0.
std::string tensor_name(int64_t layer, std::string_view kind, std::string_view suffix = "weight");

// The projections serving engines fuse into one matrix: q/k/v -> qkv_proj, gate/up ->
// gate_up_proj (vLLM, llm-compressor). A tensor-level scale (nvfp4's global scale) must be one per
// fused group, so every writer and method that sets one asks here: "blk.N.qkv" for
// blk.N.attn_{q,k,v}.weight, "blk.N.gate_up" for blk.N.ffn_{gate,up}.weight, "" for any other.
std::string fused_group_of(std::string_view name);

// The names the readers and the engine look up.
inline constexpr std::string_view kTokenEmbdWeight = "token_embd.weight";
inline constexpr std::string_view kOutputWeight = "output.weight";
inline constexpr std::string_view kOutputNormWeight = "output_norm.weight";

}  // namespace bitsmith
