// The projections serving engines fuse into one matrix: q/k/v -> qkv_proj, gate/up ->
// gate_up_proj (vLLM, llm-compressor). A tensor-level scale (nvfp4's global scale) must be one
// per fused group, so every writer and method that sets one asks here.
#pragma once

#include <string>
#include <string_view>

namespace bitsmith {

// "blk.N.qkv" for blk.N.attn_{q,k,v}.weight, "blk.N.gate_up" for blk.N.ffn_{gate,up}.weight,
// "" for any other (canonical) name.
inline std::string fused_group_of(std::string_view name) {
  if (!name.starts_with("blk.")) return "";
  const size_t dot = name.find('.', 4);
  if (dot == std::string_view::npos) return "";
  const std::string_view layer = name.substr(0, dot), rest = name.substr(dot + 1);
  if (rest == "attn_q.weight" || rest == "attn_k.weight" || rest == "attn_v.weight") return std::string(layer) + ".qkv";
  if (rest == "ffn_gate.weight" || rest == "ffn_up.weight") return std::string(layer) + ".gate_up";
  return "";
}

}  // namespace bitsmith
