#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <string>

#include "bitsmith/core/ascii.h"
#include "registry_internal.h"

namespace bitsmith::quant {

namespace {

struct Registry {
  detail::SchemeList list;
  std::map<std::string, std::unique_ptr<Scheme>> parsed;  // int<b>_g<g> made on demand
  std::mutex mu;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    detail::add_float_schemes(reg->list);
    detail::add_int_schemes(reg->list);
    detail::add_block_float_schemes(reg->list);
    detail::add_gguf_schemes(reg->list);
    return reg;
  }();
  return *r;
}

// Parses int<b>_g<g>[_sym] and int<b>_grow[_sym]; false if the name is not of that form.
bool parse_int_group_name(std::string_view name, int* bits, int64_t* group, bool* sym) {
  if (name.substr(0, 3) != "int") return false;
  name.remove_prefix(3);
  auto us = name.find("_g");
  if (us == std::string_view::npos) return false;
  auto b = name.substr(0, us);
  if (std::from_chars(b.data(), b.data() + b.size(), *bits).ec != std::errc() ||
      std::to_string(*bits) != b) {
    return false;
  }
  name.remove_prefix(us + 2);
  *sym = false;
  if (name.size() > 4 && name.substr(name.size() - 4) == "_sym") {
    *sym = true;
    name.remove_suffix(4);
  }
  if (name == "row") {
    *group = 0;
    return true;
  }
  if (std::from_chars(name.data(), name.data() + name.size(), *group).ec != std::errc() ||
      std::to_string(*group) != name) {
    return false;
  }
  return true;
}

}  // namespace

Result<const Scheme*> find_scheme(std::string_view name) {
  Registry& reg = registry();
  const std::string key = ascii_lower(name);
  for (const auto& s : reg.list.owned) {
    if (s->name() == key) return s.get();
  }
  int bits = 0;
  int64_t group = 0;
  bool sym = false;
  if (parse_int_group_name(key, &bits, &group, &sym)) {
    if (bits < 2 || bits > 8) return invalid_argument("scheme '{}': bits must be 2..8", name);
    const int64_t allowed[] = {0, 16, 32, 64, 128, 256};
    if (std::find(std::begin(allowed), std::end(allowed), group) == std::end(allowed)) {
      return invalid_argument("scheme '{}': group must be 16, 32, 64, 128, 256 or row", name);
    }
    std::lock_guard<std::mutex> lock(reg.mu);
    auto& slot = reg.parsed[key];
    if (!slot) slot = detail::make_int_group_scheme(bits, group, sym);
    return slot.get();
  }
  std::string known;
  for (const Scheme* s : reg.list.listed) {
    if (!known.empty()) known += ", ";
    known += s->name();
  }
  return invalid_argument("unknown scheme '{}' (known: {}, or int<b>_g<g>[_sym])", name, known);
}

std::vector<const Scheme*> listed_schemes() { return registry().list.listed; }

Result<const Scheme*> find_scheme_by_gguf_type(int gguf_type) {
  for (const auto& s : registry().list.owned) {
    if (s->traits().gguf_type == gguf_type) return s.get();
  }
  return unsupported("ggml type {} is not supported", gguf_type);
}

int gguf_type_of(const Scheme& s) {
  if (s.traits().gguf_type >= 0) return s.traits().gguf_type;
  // The plain element types have ggml ids too (GGML_TYPE_F32 = 0, F16 = 1, BF16 = 30).
  if (s.name() == "f32") return 0;
  if (s.name() == "fp16") return 1;
  if (s.name() == "bf16") return 30;
  return -1;
}

std::string_view granularity_name(Granularity g) {
  switch (g) {
    case Granularity::kElement: return "element";
    case Granularity::kTensor: return "tensor";
    case Granularity::kRow: return "row";
    case Granularity::kGroup: return "group";
    case Granularity::kBlock2D: return "block2d";
    case Granularity::kGguf: return "gguf";
  }
  return "element";
}

Status Scheme::fake_quantize(const float* x, int64_t rows, int64_t cols, float* out,
                             const QuantizeOptions& opt) const {
  BITSMITH_ASSIGN_OR_RETURN(QuantizedTensor q, quantize(x, rows, cols, opt));
  return dequantize(q.view(), out);
}

}  // namespace bitsmith::quant
