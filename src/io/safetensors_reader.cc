// safetensors header parsing and validation.
#include <algorithm>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "bitsmith/core/checked.h"
#include "bitsmith/io/safetensors.h"
#include "byte_reader.h"
#include "bitsmith/core/json_guard.h"

namespace bitsmith::io {
namespace {

using nlohmann::json;

// SAX pass that records the first repeated key of the top-level object (nothing is built).
struct TopLevelKeys : nlohmann::json_sax<json> {
  int depth = 0;
  std::unordered_set<std::string> seen;
  std::string dup;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { ++depth; return true; }
  bool end_object() override { --depth; return true; }
  bool start_array(std::size_t) override { ++depth; return true; }
  bool end_array() override { --depth; return true; }
  bool key(string_t& k) override {
    if (depth == 1 && !seen.insert(k).second && dup.empty()) dup = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

Status parse_entry(const std::string& key, const json& v, uint64_t data_size, std::string_view name,
                   SafetensorsEntry* e) {
  if (!v.is_object()) return corrupt_data("{}: entry '{}' is not a JSON object", name, key);
  auto dt = v.find("dtype");
  auto sh = v.find("shape");
  auto off = v.find("data_offsets");
  if (dt == v.end() || !dt->is_string()) return corrupt_data("{}: tensor '{}' has no string 'dtype'", name, key);
  if (sh == v.end() || !sh->is_array()) return corrupt_data("{}: tensor '{}' has no 'shape' array", name, key);
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    return corrupt_data("{}: tensor '{}' needs 'data_offsets' [begin, end] of unsigned integers", name, key);
  }
  e->name = key;
  auto dtype = dtype_from_name(dt->get<std::string>());
  if (!dtype.ok()) return unsupported("{}: tensor '{}' has unknown dtype '{}'", name, key, dt->get<std::string>());
  e->dtype = *dtype;
  if (sh->size() > static_cast<size_t>(kMaxDims)) return corrupt_data("{}: tensor '{}' has {} dims", name, key, sh->size());
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return corrupt_data("{}: tensor '{}' has a bad dimension {}", name, key, d.dump());
    }
    e->shape.push_back(d.get<int64_t>());
  }
  e->begin = (*off)[0].get<uint64_t>();
  e->end = (*off)[1].get<uint64_t>();
  if (e->begin > e->end || e->end > data_size) {
    return corrupt_data("{}: tensor '{}' data_offsets [{}, {}] are outside the data section of {} bytes", name, key,
                        e->begin, e->end, data_size);
  }
  auto n = checked_product(e->shape);
  auto bytes = n ? checked_mul(*n, dtype_size(e->dtype)) : std::nullopt;
  if (!bytes) return corrupt_data("{}: tensor '{}' shape overflows 64-bit sizes", name, key);
  if (*bytes != e->end - e->begin) {
    return corrupt_data("{}: tensor '{}' is {} {} = {} bytes but data_offsets span {}", name, key,
                        dt->get<std::string>(), json(e->shape).dump(), *bytes, e->end - e->begin);
  }
  return Status::Ok();
}

}  // namespace

Result<SafetensorsFile> parse_safetensors(std::span<const uint8_t> bytes, std::string_view name) {
  detail::ByteReader r(bytes, name);
  uint64_t n = 0;
  BITSMITH_RETURN_IF_ERROR(r.read(&n, "header length"));
  if (n > kMaxSafetensorsHeader) return corrupt_data("{}: header length {} exceeds the {} byte limit", name, n, kMaxSafetensorsHeader);
  if (n > r.remaining()) return corrupt_data("{}: header length {} is past the end of the file ({} bytes left)", name, n, r.remaining());
  std::span<const uint8_t> text;
  BITSMITH_RETURN_IF_ERROR(r.bytes(n, &text, "header"));
  SafetensorsFile f;
  f.data_offset = 8 + n;
  const uint64_t data_size = r.remaining();
  BITSMITH_RETURN_IF_ERROR(
      check_json_depth({reinterpret_cast<const char*>(text.data()), text.size()}, name, 8));
  // Duplicate keys are silently merged by JSON parsers; a first SAX pass catches them. (Not
  // nlohmann's parser callback: its DOM builder makes every callback parse quadratic, a minute
  // for 50,000 entries.) Both passes are linear.
  TopLevelKeys keys;
  if (!json::sax_parse(text.begin(), text.end(), &keys, json::input_format_t::json, /*strict=*/true)) {
    return corrupt_data("{}: header (bytes 8..{}) is not valid JSON", name, 8 + n);
  }
  if (!keys.dup.empty()) return corrupt_data("{}: duplicate tensor name '{}' in the header", name, keys.dup);
  json h = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (h.is_discarded()) return corrupt_data("{}: header (bytes 8..{}) is not valid JSON", name, 8 + n);
  if (!h.is_object()) return corrupt_data("{}: header is JSON but not an object", name);
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return corrupt_data("{}: __metadata__ is not an object", name);
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) return corrupt_data("{}: __metadata__ value '{}' is not a string", name, m.key());
        f.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    SafetensorsEntry e;
    BITSMITH_RETURN_IF_ERROR(parse_entry(it.key(), *it, data_size, name, &e));
    f.tensors.push_back(std::move(e));
  }
  // Zero-size tensors hold no bytes, so they overlap nothing wherever they sit within bounds
  // (the safetensors library writes an empty tensor at its neighbour's offset).
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : f.tensors) {
    if (e.end > e.begin) order.push_back(&e);
  }
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t k = 1; k < order.size(); ++k) {
    if (order[k - 1]->end > order[k]->begin) {
      return corrupt_data("{}: tensors '{}' and '{}' overlap at data offset {}", name, order[k - 1]->name,
                          order[k]->name, order[k]->begin);
    }
  }
  return f;
}

}  // namespace bitsmith::io
