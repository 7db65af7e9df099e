#include "bitsmith/core/tensor_names.h"

#include <array>
#include <charconv>
#include <utility>

#include <fmt/format.h>

namespace bitsmith {
namespace {

// Kind (the part between "blk.N." and the suffix, or the whole stem) -> category. Norms are
// matched by their "_norm" ending below, so a new norm kind needs no entry.
constexpr std::array<std::pair<std::string_view, TensorCategory>, 9> kKinds = {{
    {"attn_q", TensorCategory::kAttnQ},
    {"attn_k", TensorCategory::kAttnK},
    {"attn_v", TensorCategory::kAttnV},
    {"attn_output", TensorCategory::kAttnOutput},
    {"ffn_gate", TensorCategory::kFfnGate},
    {"ffn_up", TensorCategory::kFfnUp},
    {"ffn_down", TensorCategory::kFfnDown},
    {"token_embd", TensorCategory::kEmbedding},
    {"output", TensorCategory::kOutput},
}};

constexpr std::array<std::pair<TensorCategory, std::string_view>, 11> kNames = {{
    {TensorCategory::kAttnQ, "attn_q"},
    {TensorCategory::kAttnK, "attn_k"},
    {TensorCategory::kAttnV, "attn_v"},
    {TensorCategory::kAttnOutput, "attn_output"},
    {TensorCategory::kFfnGate, "ffn_gate"},
    {TensorCategory::kFfnUp, "ffn_up"},
    {TensorCategory::kFfnDown, "ffn_down"},
    {TensorCategory::kEmbedding, "embedding"},
    {TensorCategory::kOutput, "output"},
    {TensorCategory::kNorm, "norm"},
    {TensorCategory::kOther, "other"},
}};

TensorCategory category_of_kind(std::string_view kind, bool in_block) {
  if (kind.ends_with("_norm") || kind == "norm") return TensorCategory::kNorm;
  for (const auto& [k, c] : kKinds) {
    if (k != kind) continue;
    // token_embd/output exist only outside the blocks; the linears only inside them.
    const bool top_level = c == TensorCategory::kEmbedding || c == TensorCategory::kOutput;
    return top_level == in_block ? TensorCategory::kOther : c;
  }
  return TensorCategory::kOther;
}

}  // namespace

std::string_view category_name(TensorCategory c) {
  for (const auto& [cat, n] : kNames) {
    if (cat == c) return n;
  }
  return "other";
}

std::optional<TensorCategory> parse_category(std::string_view name) {
  for (const auto& [cat, n] : kNames) {
    if (n == name) return cat;
  }
  if (name == "token_embd") return TensorCategory::kEmbedding;
  return std::nullopt;
}

bool is_block_linear(TensorCategory c) {
  return c == TensorCategory::kAttnQ || c == TensorCategory::kAttnK || c == TensorCategory::kAttnV ||
         c == TensorCategory::kAttnOutput || c == TensorCategory::kFfnGate || c == TensorCategory::kFfnUp ||
         c == TensorCategory::kFfnDown;
}

TensorName parse_tensor_name(std::string_view name) {
  TensorName t;
  std::string_view rest = name;
  if (rest.starts_with("blk.")) {
    std::string_view digits = rest.substr(4);
    int64_t layer = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), layer);
    if (ec == std::errc() && end != digits.data() && end < digits.data() + digits.size() && *end == '.' &&
        layer >= 0) {
      t.layer = layer;
      rest = std::string_view(end + 1, static_cast<size_t>(digits.data() + digits.size() - (end + 1)));
    }
  }
  for (std::string_view suffix : {".weight", ".bias"}) {
    if (rest.ends_with(suffix)) {
      t.suffix = std::string(suffix.substr(1));
      rest.remove_suffix(suffix.size());
      break;
    }
  }
  t.kind = std::string(rest);
  t.category = category_of_kind(rest, t.layer >= 0);
  return t;
}

TensorCategory tensor_category(std::string_view name) { return parse_tensor_name(name).category; }

int64_t tensor_layer(std::string_view name) { return parse_tensor_name(name).layer; }

std::string tensor_name(int64_t layer, std::string_view kind, std::string_view suffix) {
  std::string s = layer >= 0 ? fmt::format("blk.{}.{}", layer, kind) : std::string(kind);
  if (!suffix.empty()) s += fmt::format(".{}", suffix);
  return s;
}

std::string fused_group_of(std::string_view name) {
  const TensorName t = parse_tensor_name(name);
  if (t.layer < 0 || !t.is_weight()) return "";
  switch (t.category) {
    case TensorCategory::kAttnQ:
    case TensorCategory::kAttnK:
    case TensorCategory::kAttnV: return tensor_name(t.layer, "qkv", "");
    case TensorCategory::kFfnGate:
    case TensorCategory::kFfnUp: return tensor_name(t.layer, "gate_up", "");
    default: return "";
  }
}

}  // namespace bitsmith
