// llama.cpp's mixes, rule by rule. Each branch cites the case of llama_tensor_get_type_impl it
// re-expresses (llama.cpp src/llama-quant.cpp); cases for other architectures (Falcon), MoE
// (n_expert == 8), the 70B model size, imatrix-only variants and the IQ ftypes are left out:
// bitsmith's recipes cover dense Llama-family models quantized without an importance matrix.
#include "llama_mix.h"

#include <array>

#include <fmt/format.h>

#include "bitsmith/quant/scheme.h"

namespace bitsmith::plan::detail {
namespace {

constexpr std::array<MixedFtype, 9> kMixes = {{
    {"q2_k", LlamaFtype::kQ2_K, "q2_k"},
    {"q3_k_s", LlamaFtype::kQ3_K_S, "q3_k"},
    {"q3_k_m", LlamaFtype::kQ3_K_M, "q3_k"},
    {"q3_k_l", LlamaFtype::kQ3_K_L, "q3_k"},
    {"q4_k_s", LlamaFtype::kQ4_K_S, "q4_k"},
    {"q4_k_m", LlamaFtype::kQ4_K_M, "q4_k"},
    {"q5_k_s", LlamaFtype::kQ5_K_S, "q5_k"},
    {"q5_k_m", LlamaFtype::kQ5_K_M, "q5_k"},
    {"q6_k", LlamaFtype::kQ6_K, "q6_k"},
}};

int64_t block_cols_of(const std::string& scheme) {
  auto s = quant::find_scheme(scheme);
  return s.ok() && (*s)->traits().block_cols > 0 ? (*s)->traits().block_cols : 1;
}

// attn_v: the value projection is small under GQA and sensitive, so the mixes spend bits there.
std::string attn_v_type(LlamaFtype f, const std::string& base, const MixContext& c, std::string* why) {
  switch (f) {
    case LlamaFtype::kQ2_K:
      *why = fmt::format("attn_v, n_gqa {} {} 4", c.n_gqa, c.n_gqa >= 4 ? ">=" : "<");
      return c.n_gqa >= 4 ? "q4_k" : "q3_k";
    case LlamaFtype::kQ3_K_M:
      *why = c.layer < 2 ? "attn_v, first 2 layers" : "attn_v";
      return c.layer < 2 ? "q5_k" : "q4_k";
    case LlamaFtype::kQ3_K_L: *why = "attn_v"; return "q5_k";
    case LlamaFtype::kQ4_K_M:
    case LlamaFtype::kQ5_K_M:
      if (!use_more_bits(c.layer, c.n_attn_v)) return base;
      *why = "attn_v, use_more_bits layer";
      return "q6_k";
    case LlamaFtype::kQ4_K_S:
      if (c.layer >= 4) return base;
      *why = "attn_v, first 4 layers";
      return "q5_k";
    default: return base;
  }
}

// ffn_down: llama.cpp's layer position is its running count over n_layer (the layer index).
std::string ffn_down_type(LlamaFtype f, const std::string& base, const MixContext& c, std::string* why) {
  const int64_t i = c.layer, n = c.n_layers;
  switch (f) {
    case LlamaFtype::kQ2_K: *why = "ffn_down"; return "q3_k";
    case LlamaFtype::kQ3_K_M:
      // Falcon alone keeps q3_k in the middle layers; for Llama every other layer is q4_k.
      *why = i < n / 16 ? "ffn_down, first 1/16 of layers" : "ffn_down";
      return i < n / 16 ? "q5_k" : "q4_k";
    case LlamaFtype::kQ3_K_L: *why = "ffn_down"; return "q5_k";
    case LlamaFtype::kQ4_K_M:
    case LlamaFtype::kQ5_K_M:
      if (!use_more_bits(i, n)) return base;
      *why = "ffn_down, use_more_bits layer";
      return "q6_k";
    case LlamaFtype::kQ4_K_S:
      if (i >= n / 8) return base;
      *why = "ffn_down, first 1/8 of layers";
      return "q5_k";
    default: return base;
  }
}

std::string attn_output_type(LlamaFtype f, const std::string& base, std::string* why) {
  switch (f) {
    case LlamaFtype::kQ2_K: *why = "attn_output"; return "q3_k";
    case LlamaFtype::kQ3_K_M: *why = "attn_output"; return "q4_k";
    case LlamaFtype::kQ3_K_L: *why = "attn_output"; return "q5_k";
    default: return base;
  }
}

}  // namespace

const MixedFtype* mixed_ftypes(size_t* count) {
  *count = kMixes.size();
  return kMixes.data();
}

const MixedFtype* find_mixed_ftype(std::string_view name) {
  for (const auto& m : kMixes) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

std::string llama_mix_type(LlamaFtype f, const std::string& base, const MixContext& c, std::string* why) {
  why->clear();
  // The head rule, shared by every ftype: the output projection (or the embedding when it doubles
  // as the head) in q6_k; q8_0 stays q8_0, and a row length the base's blocks do not divide
  // gives q8_0 (llama.cpp tests the default type's block size here, before its fallback).
  const bool head = c.category == TensorCategory::kOutput ||
                    (!c.has_output && c.category == TensorCategory::kEmbedding);
  if (head) {
    if (c.cols % block_cols_of(base) != 0) {
      *why = fmt::format("output head, row length {} not a multiple of {}'s blocks", c.cols, base);
      return "q8_0";
    }
    if (base == "q8_0") return base;
    *why = "output head";
    return "q6_k";
  }
  switch (c.category) {
    case TensorCategory::kAttnV: return attn_v_type(f, base, c, why);
    case TensorCategory::kFfnDown: return ffn_down_type(f, base, c, why);
    case TensorCategory::kAttnOutput: return attn_output_type(f, base, why);
    default: return base;  // attn_q/attn_k/ffn_gate/ffn_up/embedding: only IQ ftypes change them
  }
}

}  // namespace bitsmith::plan::detail
