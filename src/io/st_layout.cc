#include "st_layout.h"

#include <nlohmann/json.hpp>

#include "bitsmith/core/json_guard.h"

namespace bitsmith::io::detail::st_layout {

Status parse_metadata(const std::map<std::string, std::string>& metadata, std::string_view file,
                      std::map<std::string, Entry>* out, const char* key) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return Status::Ok();
  BITSMITH_RETURN_IF_ERROR(check_json_depth(it->second, fmt::format("{}: __metadata__ '{}'", file, kMetadataKey)));
  nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return corrupt_data("{}: __metadata__ '{}' is not a JSON object", file, key);
  for (auto e = j.begin(); e != j.end(); ++e) {
    const auto& v = *e;
    if (!v.is_object() || !v.contains("scheme") || !v["scheme"].is_string() || !v.contains("shape") ||
        !v["shape"].is_array() || v["shape"].size() != 2 || !v["shape"][0].is_number_unsigned() ||
        !v["shape"][1].is_number_unsigned()) {
      return corrupt_data("{}: {} entry '{}' needs scheme and shape [rows, cols]", file, key, e.key());
    }
    Entry x;
    x.scheme = v["scheme"].get<std::string>();
    x.rows = v["shape"][0].get<int64_t>();
    x.cols = v["shape"][1].get<int64_t>();
    if (x.rows < 0 || x.cols < 0) return corrupt_data("{}: {} entry '{}' has a negative shape", file, key, e.key());
    (*out)[e.key()] = x;
  }
  return Status::Ok();
}

std::string metadata_json(const std::map<std::string, Entry>& entries) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, e] : entries) {
    j[name] = {{"scheme", e.scheme}, {"shape", {e.rows, e.cols}}};
  }
  return j.dump();
}

}  // namespace bitsmith::io::detail::st_layout
