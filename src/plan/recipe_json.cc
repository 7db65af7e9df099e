// Recipes as JSON files, so a planner (or a person) can write one and quantize/eval/compare can
// read it with --recipe FILE:
//   {"name": "my-mix", "base": "q4_k", "llama_ftype": "q4_k_m",
//    "rules": [{"category": "attn_v", "layers": [0, 3], "scheme": "q8_0"},
//              {"pattern": "ffn_down", "scheme": "q6_k", "method": "gptq"}]}
// Every key but "base" is optional; unknown keys are errors (a typo must not be ignored).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bitsmith/core/atomic_file.h"
#include "bitsmith/core/json_guard.h"
#include "bitsmith/core/text_file.h"

#include "bitsmith/plan/recipe.h"

namespace bitsmith::plan {
namespace {

using nlohmann::json;

Status check_keys(const json& j, const std::set<std::string>& allowed, std::string_view where) {
  for (const auto& [k, v] : j.items()) {
    if (!allowed.count(k)) return invalid_argument("{}: unknown key '{}'", where, k);
  }
  return Status();
}

Result<std::string> get_string(const json& j, const char* key, std::string_view where) {
  if (!j.contains(key)) return std::string();
  if (!j[key].is_string()) return invalid_argument("{}: '{}' must be a string", where, key);
  return j[key].get<std::string>();
}

Result<RecipeRule> rule_from_json(const json& j, std::string_view where) {
  if (!j.is_object()) return invalid_argument("{}: a rule must be an object", where);
  BITSMITH_RETURN_IF_ERROR(check_keys(j, {"category", "pattern", "layers", "scheme", "method"}, where));
  RecipeRule r;
  BITSMITH_ASSIGN_OR_RETURN(std::string cat, get_string(j, "category", where));
  if (!cat.empty()) {
    r.category = parse_category(cat);
    if (!r.category) {
      return invalid_argument("{}: unknown category '{}' (attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, "
                              "ffn_down, embedding, output, norm, other)", where, cat);
    }
  }
  BITSMITH_ASSIGN_OR_RETURN(r.pattern, get_string(j, "pattern", where));
  BITSMITH_ASSIGN_OR_RETURN(r.scheme, get_string(j, "scheme", where));
  BITSMITH_ASSIGN_OR_RETURN(r.method, get_string(j, "method", where));
  if (r.scheme.empty()) return invalid_argument("{}: a rule needs a 'scheme'", where);
  if (j.contains("layers")) {
    const json& l = j["layers"];
    // [min, max] inclusive; null for an open end.
    if (!l.is_array() || l.size() != 2) return invalid_argument("{}: 'layers' must be [min, max]", where);
    for (int i = 0; i < 2; ++i) {
      if (l[i].is_null()) continue;
      if (!l[i].is_number_integer() || l[i].get<int64_t>() < 0) {
        return invalid_argument("{}: 'layers' bounds must be layer indices >= 0 or null", where);
      }
      (i == 0 ? r.layer_min : r.layer_max) = l[i].get<int64_t>();
    }
    if (r.layer_min >= 0 && r.layer_max >= 0 && r.layer_min > r.layer_max) {
      return invalid_argument("{}: 'layers' [{}, {}] is empty", where, r.layer_min, r.layer_max);
    }
  }
  return r;
}

}  // namespace

Result<Recipe> Recipe::from_json(std::string_view text, std::string_view origin) {
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, origin));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return invalid_argument("{}: not valid JSON: {}", origin, e.what());
  }
  if (!j.is_object()) return invalid_argument("{}: a recipe must be a JSON object", origin);
  BITSMITH_RETURN_IF_ERROR(check_keys(j, {"name", "base", "llama_ftype", "rules"}, origin));
  Recipe r;
  BITSMITH_ASSIGN_OR_RETURN(r.name, get_string(j, "name", origin));
  BITSMITH_ASSIGN_OR_RETURN(r.base, get_string(j, "base", origin));
  BITSMITH_ASSIGN_OR_RETURN(r.llama_ftype, get_string(j, "llama_ftype", origin));
  if (r.base.empty()) return invalid_argument("{}: a recipe needs a 'base' scheme", origin);
  if (r.name.empty()) r.name = std::string(origin);
  if (j.contains("rules")) {
    if (!j["rules"].is_array()) return invalid_argument("{}: 'rules' must be an array", origin);
    for (size_t i = 0; i < j["rules"].size(); ++i) {
      BITSMITH_ASSIGN_OR_RETURN(RecipeRule rule, rule_from_json(j["rules"][i], fmt::format("{}: rule {}", origin, i)));
      r.rules.push_back(std::move(rule));
    }
  }
  BITSMITH_RETURN_IF_ERROR(r.validate().with_context(origin));
  return r;
}

Result<Recipe> Recipe::load(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(std::string text,
                            read_file_bounded(path, {.max_bytes = kMaxPlanFileBytes, .what = "recipe file"}));
  return from_json(text, path);
}

std::string Recipe::to_json() const {
  json rs = json::array();
  for (const auto& r : rules) {
    json j = json::object();
    if (r.category) j["category"] = std::string(category_name(*r.category));
    if (!r.pattern.empty()) j["pattern"] = r.pattern;
    if (r.layer_min >= 0 || r.layer_max >= 0) {
      j["layers"] = {r.layer_min >= 0 ? json(r.layer_min) : json(nullptr),
                     r.layer_max >= 0 ? json(r.layer_max) : json(nullptr)};
    }
    j["scheme"] = r.scheme;
    if (!r.method.empty()) j["method"] = r.method;
    rs.push_back(j);
  }
  json doc = {{"name", name}, {"base", base}};
  if (!llama_ftype.empty()) doc["llama_ftype"] = llama_ftype;
  doc["rules"] = rs;
  return doc.dump(2) + "\n";
}

Status Recipe::save(const std::string& path) const {
  // A reader never sees half a recipe; a failed write leaves no temporary file.
  return write_file_atomic(path, to_json());
}

}  // namespace bitsmith::plan
